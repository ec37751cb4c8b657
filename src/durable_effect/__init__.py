"""durable-effect: durable background jobs as typed effects.

The effect system is re-exported here; jobs live in :mod:`durable_effect.jobs`, test helpers in
:mod:`durable_effect.testing`.
"""

from .effect import *  # noqa: F403
from .effect import __all__ as _effect_all

__all__ = list(_effect_all)
__version__ = "0.1.0"
