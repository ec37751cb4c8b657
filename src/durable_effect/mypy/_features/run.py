"""``Effect.run_sync`` / ``run_sync_exit`` / ``run_promise`` / ``run_promise_exit`` need ``R = Never``.

The plain signatures take ``Effect[B, E2, Never]``, so mypy already rejects an effect with requirements, with a
message about incompatible ``Effect[...]`` types. The signature hook relaxes the parameter to any ``R`` (a fresh type
variable) and the return hook reports what is still required instead, naming the missing services.
"""

from __future__ import annotations

from mypy.errorcodes import ARG_TYPE
from mypy.plugin import MethodContext, MethodSigContext
from mypy.types import AnyType, FunctionLike, Instance, ProperType, Type, TypeVarType

from .._consts import EFFECT, SCOPE
from .._typeops import as_instance, describe_each, fresh_type_var, members, union, with_arg

# Far from the ids mypy gives a signature's own type variables (-1, -2, ...).
_REQUIREMENTS_ID = -1000


def signature(ctx: MethodSigContext) -> FunctionLike:
    sig = ctx.default_signature
    if sig.arg_names != ["effect"] or not sig.variables or not isinstance(sig.variables[0], TypeVarType):
        return sig
    formal = as_instance(sig.arg_types[0], EFFECT)
    if formal is None:
        return sig
    # A type variable rather than ``object``: the parameter is also the context in which mypy infers the
    # argument, and ``object`` there would make ``Effect.run_sync(Effect.succeed(1))`` require ``object``.
    requirements = fresh_type_var(sig.variables[0], "R", _REQUIREMENTS_ID)
    return sig.copy_modified(
        arg_types=[with_arg(formal, 2, requirements)], variables=[*sig.variables, requirements]
    )


def check_requirements(ctx: MethodContext, runner: str) -> Type:
    if len(ctx.arg_types) != 1 or len(ctx.arg_types[0]) != 1:
        return ctx.default_return_type
    required: list[ProperType] = []
    for candidate in members(ctx.arg_types[0][0]):
        effect = as_instance(candidate, EFFECT)
        if effect is not None:
            required.extend(need for need in members(effect.args[2]) if not isinstance(need, AnyType))
    if required:
        missing = members(union(required))
        services = [need for need in missing if not (isinstance(need, Instance) and need.type.fullname == SCOPE)]
        hints = []
        if services:
            pronoun = "it" if len(services) == 1 else "them"
            hints.append(f"provide {pronoun} with .provide_service(tag, service) or .provide(layer)")
        if len(services) < len(missing):
            hints.append("open a Scope with Effect.scoped(effect)")
        ctx.api.fail(
            f"{runner}: the effect still requires {describe_each(missing, ctx.api.options)}; "
            f"{' and '.join(hints)} before running it",
            ctx.context,
            code=ARG_TYPE,
        )
    return ctx.default_return_type
