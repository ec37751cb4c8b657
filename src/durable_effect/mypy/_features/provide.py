"""Providing services removes them from ``R``.

- ``eff.provide_service(T, impl)``: ``R`` loses ``T``. The signature hook also types ``impl`` as ``T``'s service
  type, so a wrong implementation is reported as such (the plain signature says only that it cannot infer
  the service type).
- ``eff.provide(layer)`` with ``layer: Layer[ROut, E2, RIn]``: ``R`` loses every member of ``ROut`` and gains
  ``RIn``, the layer's own requirements (``E`` gains ``E2``, as in the plain signature).
- ``eff.provide(context)`` with ``context: Context[ROut]``: ``R`` loses every member of ``ROut``.
- ``layer.provide(other)``: ``layer``'s requirements lose what ``other`` builds and gain what ``other`` needs.

Only the bound form is computed. Called through the class (``Effect.provide(eff, layer)``), the receiver is the
first argument rather than ``ctx.type``; such a call keeps the plain signature and result (``R | R2``), which
removes nothing but never claims a service is provided when it is not.

For ``provide`` the signature hook frees the requirement argument of the declared result (see
:func:`~durable_effect.mypy._typeops.decouple_result`) and the return hook computes it.
"""

from __future__ import annotations

from mypy.nodes import NameExpr
from mypy.plugin import MethodContext, MethodSigContext
from mypy.types import AnyType, CallableType, FunctionLike, Instance, ProperType, Type, TypeOfAny

from .._consts import CONTEXT, EFFECT, LAYER, TAG
from .._typeops import (
    as_instance,
    class_of,
    decouple_result,
    has_any,
    members,
    provides,
    service_identity,
    type_args,
    union,
    with_arg,
)


def provide_service_signature(ctx: MethodSigContext) -> FunctionLike:
    sig = ctx.default_signature
    if sig.arg_names != ["tag", "service"] or len(ctx.args[0]) != 1:
        return sig
    tag = class_of(ctx.args[0][0])
    if tag is None or tag.type_vars:
        return sig
    base = as_instance(Instance(tag, []), TAG)
    if base is None:
        return sig
    return sig.copy_modified(arg_types=[sig.arg_types[0], base.args[1]])


def provide_service(ctx: MethodContext) -> Type:
    result = as_instance(ctx.default_return_type, EFFECT)
    if result is None or len(ctx.args) < 1 or len(ctx.args[0]) != 1:
        return ctx.default_return_type
    tag = class_of(ctx.args[0][0])
    provided = service_identity(tag) if tag is not None else None
    if provided is None:
        return ctx.default_return_type
    return with_arg(result, 2, union(_remove(members(result.args[2]), [provided])))


def provide_signature(ctx: MethodSigContext) -> FunctionLike:
    if not _bound_signature(ctx.default_signature):
        return ctx.default_signature
    return decouple_result(ctx.default_signature, EFFECT, 2)


def provide(ctx: MethodContext) -> Type:
    result = as_instance(ctx.default_return_type, EFFECT)
    if result is None or not _bound_call(ctx):
        return ctx.default_return_type
    required = type_args(ctx.type, EFFECT, 2)
    context = _argument(ctx, CONTEXT)
    if context is not None:
        return with_arg(result, 2, union(_remove(required, members(context.args[0]))))
    return with_arg(result, 2, _requirements_after(required, _argument(ctx, LAYER)))


def layer_provide_signature(ctx: MethodSigContext) -> FunctionLike:
    if not _bound_signature(ctx.default_signature):
        return ctx.default_signature
    return decouple_result(ctx.default_signature, LAYER, 2)


def layer_provide(ctx: MethodContext) -> Type:
    result = as_instance(ctx.default_return_type, LAYER)
    if result is None or not _bound_call(ctx):
        return ctx.default_return_type
    return with_arg(result, 2, _requirements_after(type_args(ctx.type, LAYER, 2), _argument(ctx, LAYER)))


def _bound_signature(sig: CallableType) -> bool:
    """Whether ``sig`` is the bound method (one parameter), not the class's function that also takes ``self``."""
    return len(sig.arg_types) == 1


def _bound_call(ctx: MethodContext) -> bool:
    """Whether the call is ``receiver.provide(x)``, so that ``ctx.type`` is the receiver and the argument ``x``."""
    return len(ctx.arg_types) == 1


def _requirements_after(required: list[ProperType], layer: Instance | None) -> ProperType:
    """What is still required once ``layer`` is provided: ``required`` minus what it builds, plus what it needs."""
    if layer is None:
        return union([*required, AnyType(TypeOfAny.special_form)])
    return union([*_remove(required, members(layer.args[0])), layer.args[2]])


def _argument(ctx: MethodContext, fullname: str) -> Instance | None:
    """The single argument as a ``Layer`` or ``Context`` (``fullname``), or ``None`` if it is not one."""
    if len(ctx.arg_types) < 1 or len(ctx.arg_types[0]) != 1:
        return None
    argument = as_instance(ctx.arg_types[0][0], fullname)
    if argument is None or not has_any(members(argument.args[0])) or isinstance(ctx.args[0][0], NameExpr):
        return argument
    # ``provide`` takes ``Layer[Any, E2, R2]`` or ``Context[Any]``; with that as context mypy infers an inline
    # ``Layer.succeed(T, impl)`` as ``Layer[Any, ...]``. Its own type, without the context, says what it builds.
    with ctx.api.msg.filter_errors():
        own = as_instance(ctx.api.get_expression_type(ctx.args[0][0]), fullname)
    return own if own is not None else argument


def _remove(required: list[ProperType], provided: list[ProperType]) -> list[ProperType]:
    """``required`` without the services in ``provided`` (nothing is removed when ``provided`` is ``Any``)."""
    if has_any(provided):
        return required
    return [need for need in required if not any(provides(have, need) for have in provided)]
