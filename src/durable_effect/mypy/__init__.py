"""The mypy plugin of durable-effect: handled errors and provided services leave the effect's type.

Enable it in the mypy configuration::

    [mypy]
    plugins = durable_effect.mypy

Then ``eff.catch_tag(NotFound, h)`` removes ``NotFound`` from ``E``, ``eff.catch_tags(NotFound=h1, Timeout=h2)``
removes both, ``eff.provide_service(T, impl)`` and ``eff.provide(layer_or_context)`` remove what they provide
from ``R``, ``Effect.scoped(eff)`` removes ``Scope``, and ``Effect.run_*`` name the services still missing.
Without the plugin the same code type-checks with nothing removed. See ``docs/typing.md``.

Supported mypy versions: ``>=1.19,<2.5`` (see :data:`SUPPORTED_MYPY`).
"""

from __future__ import annotations

from mypy.plugin import Plugin

from ._plugin import EffectPlugin

SUPPORTED_MYPY = ">=1.19,<2.5"
"""The mypy versions the plugin is tested with (the ``mypy`` pin of the ``dev`` extra)."""

__all__ = ["SUPPORTED_MYPY", "EffectPlugin", "plugin"]


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point: the plugin class (the same for every supported ``version``)."""
    return EffectPlugin
