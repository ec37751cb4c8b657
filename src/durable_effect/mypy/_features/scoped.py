"""``Effect.scoped(eff)`` and ``Layer.scoped(T, eff)`` give ``eff`` its :class:`Scope`: ``Scope`` leaves ``R``.

``acquire_release`` adds ``Scope`` to ``R``; ``Effect.scoped`` opens a scope around the effect and
``Layer.scoped`` runs the effect in the layer's own scope, so neither result needs one from outside.

The signature hooks free the requirement argument of the declared result (see
:func:`~durable_effect.mypy._typeops.decouple_result`); the return hooks compute it from the effect argument.
"""

from __future__ import annotations

from mypy.plugin import MethodContext, MethodSigContext
from mypy.types import AnyType, FunctionLike, Instance, Type, TypeOfAny

from .._consts import EFFECT, LAYER, SCOPE
from .._typeops import as_instance, decouple_result, type_args, union, with_arg


def effect_scoped_signature(ctx: MethodSigContext) -> FunctionLike:
    if ctx.default_signature.arg_names != ["effect"]:
        return ctx.default_signature
    return decouple_result(ctx.default_signature, EFFECT, 2)


def effect_scoped(ctx: MethodContext) -> Type:
    return _without_scope(ctx, as_instance(ctx.default_return_type, EFFECT), ctx.callee_arg_names.index("effect"))


def layer_scoped_signature(ctx: MethodSigContext) -> FunctionLike:
    if ctx.default_signature.arg_names != ["tag", "effect"]:
        return ctx.default_signature
    return decouple_result(ctx.default_signature, LAYER, 2)


def layer_scoped(ctx: MethodContext) -> Type:
    return _without_scope(ctx, as_instance(ctx.default_return_type, LAYER), ctx.callee_arg_names.index("effect"))


def _without_scope(ctx: MethodContext, result: Instance | None, effect_index: int) -> Type:
    if result is None:
        return ctx.default_return_type
    actual = ctx.arg_types[effect_index]
    # (Without exactly one effect argument mypy reports the call; the requirements are then unknown: Any.)
    required = type_args(actual[0] if len(actual) == 1 else AnyType(TypeOfAny.from_error), EFFECT, 2)
    remaining = [need for need in required if not (isinstance(need, Instance) and need.type.fullname == SCOPE)]
    return with_arg(result, 2, union(remaining))
