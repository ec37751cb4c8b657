"""Full names of the definitions the plugin knows about, and the key of its per-class metadata."""

from typing import Final

EFFECT: Final = "durable_effect.effect._internal.core.Effect"
LAYER: Final = "durable_effect.effect._internal.layer.Layer"
CONTEXT: Final = "durable_effect.effect._internal.layer.Context"
TAG: Final = "durable_effect.effect._internal.context.Tag"
SCOPE: Final = "durable_effect.effect._internal.scope.Scope"
TAGGED_ERROR: Final = "durable_effect.effect._internal.errors.TaggedError"

CATCH_TAG: Final = f"{EFFECT}.catch_tag"
CATCH_TAGS: Final = f"{EFFECT}.catch_tags"
PROVIDE_SERVICE: Final = f"{EFFECT}.provide_service"
PROVIDE: Final = f"{EFFECT}.provide"
EFFECT_SCOPED: Final = f"{EFFECT}.scoped"
LAYER_PROVIDE: Final = f"{LAYER}.provide"
LAYER_SCOPED: Final = f"{LAYER}.scoped"
RUNNERS: Final = frozenset(
    f"{EFFECT}.{name}" for name in ("run_sync", "run_sync_exit", "run_promise", "run_promise_exit")
)

METADATA_KEY: Final = "durable_effect"
"""``TypeInfo.metadata`` key under which a tagged error class records its ``_tag`` (serialized in mypy's cache)."""
