"""One module per typing feature of the plugin; :mod:`durable_effect.mypy._plugin` wires them to mypy's hooks."""
