"""The plugin class: routes mypy's hooks to the features by the full name of the called method."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mypy.nodes import TypeInfo
from mypy.options import Options
from mypy.plugin import ClassDefContext, MethodContext, MethodSigContext, Plugin, ReportConfigContext
from mypy.types import FunctionLike, Type

from ._consts import (
    CATCH_TAG,
    CATCH_TAGS,
    EFFECT_SCOPED,
    LAYER_PROVIDE,
    LAYER_SCOPED,
    PROVIDE,
    PROVIDE_SERVICE,
    RUNNERS,
    TAGGED_ERROR,
)
from ._features import catch_tag, catch_tags, provide, run, scoped, tagged_error

DEBUG_ENV = "DURABLE_EFFECT_MYPY_DEBUG"
"""Set to ``1`` to let an exception inside a hook propagate (mypy then reports an internal error)."""

Ctx = TypeVar("Ctx")
Out = TypeVar("Out")


def _guarded(hook: Callable[[Ctx], Out], fallback: Callable[[Ctx], Out]) -> Callable[[Ctx], Out]:
    """Run ``hook``; if it fails on a construct it does not expect, answer what mypy would without the plugin."""

    def run_hook(ctx: Ctx) -> Out:
        try:
            return hook(ctx)
        except Exception:
            if os.environ.get(DEBUG_ENV):
                raise
            return fallback(ctx)

    return run_hook


def _default_signature(ctx: MethodSigContext) -> FunctionLike:
    return ctx.default_signature


def _default_return_type(ctx: MethodContext) -> Type:
    return ctx.default_return_type


def _no_change(ctx: ClassDefContext) -> None:
    return None


@functools.cache
def _fingerprint() -> str:
    """A digest of the plugin's own source: when the plugin changes, mypy's cached results are stale."""
    digest = hashlib.sha256()
    try:
        for path in sorted(Path(__file__).parent.rglob("*.py")):
            digest.update(path.read_bytes())
    except OSError:  # not installed as files: the package version has to do
        from durable_effect import __version__

        return __version__
    return digest.hexdigest()[:16]


class EffectPlugin(Plugin):
    """Makes ``catch_tag``/``catch_tags``/``provide*``/``scoped`` remove what they handle from the effect's type."""

    def __init__(self, options: Options) -> None:
        super().__init__(options)
        lookup = self.lookup_fully_qualified
        signature_hooks: dict[str, Callable[[MethodSigContext], FunctionLike]] = {
            CATCH_TAG: functools.partial(catch_tag.signature, lookup=lookup),
            CATCH_TAGS: functools.partial(catch_tags.signature, lookup=lookup),
            PROVIDE_SERVICE: provide.provide_service_signature,
            PROVIDE: provide.provide_signature,
            LAYER_PROVIDE: provide.layer_provide_signature,
            EFFECT_SCOPED: scoped.effect_scoped_signature,
            LAYER_SCOPED: scoped.layer_scoped_signature,
            **{runner: run.signature for runner in RUNNERS},
        }
        method_hooks: dict[str, Callable[[MethodContext], Type]] = {
            PROVIDE_SERVICE: provide.provide_service,
            PROVIDE: provide.provide,
            LAYER_PROVIDE: provide.layer_provide,
            EFFECT_SCOPED: scoped.effect_scoped,
            LAYER_SCOPED: scoped.layer_scoped,
            **{
                runner: functools.partial(run.check_requirements, runner=runner.rsplit(".", 1)[-1])
                for runner in RUNNERS
            },
        }
        self._signature_hooks = {
            name: _guarded(hook, _default_signature) for name, hook in signature_hooks.items()
        }
        self._method_hooks = {name: _guarded(hook, _default_return_type) for name, hook in method_hooks.items()}
        self._record_tag = _guarded(tagged_error.record_tag, _no_change)
        self._method_names = {name.rpartition(".")[2] for name in [*signature_hooks, *method_hooks]}

    def report_config_data(self, ctx: ReportConfigContext) -> str:
        return _fingerprint()

    def get_method_signature_hook(self, fullname: str) -> Callable[[MethodSigContext], FunctionLike] | None:
        return self._signature_hooks.get(self._defining_name(fullname))

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        return self._method_hooks.get(self._defining_name(fullname))

    def _defining_name(self, fullname: str) -> str:
        """The full name of the method where it is defined (mypy names it after the receiver's class)."""
        if fullname in self._signature_hooks or fullname in self._method_hooks:
            return fullname
        owner, _, method = fullname.rpartition(".")
        if method not in self._method_names:
            return fullname
        try:
            symbol = self.lookup_fully_qualified(owner)
            if symbol is not None and isinstance(symbol.node, TypeInfo):
                for base in symbol.node.mro:
                    if method in base.names:
                        return f"{base.fullname}.{method}"
        except Exception:
            if os.environ.get(DEBUG_ENV):
                raise
        return fullname

    def get_base_class_hook(self, fullname: str) -> Callable[[ClassDefContext], None] | None:
        # Called with the full name of each base class of every class mypy analyzes: answer only for
        # TaggedError and its subclasses, so that other plugins' base class hooks still run.
        try:
            symbol = self.lookup_fully_qualified(fullname)
            if symbol is not None and isinstance(symbol.node, TypeInfo) and symbol.node.has_base(TAGGED_ERROR):
                return self._record_tag
        except Exception:
            if os.environ.get(DEBUG_ENV):
                raise
        return None
