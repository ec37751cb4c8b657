"""``eff.catch_tags(NotFound=h1, Timeout=h2)``: every named tag leaves ``E``.

The plain signature takes ``**handlers: Callable[[E], Effect[B, E2, R2]]``: every handler receives the whole
``E``, and mypy joins the handlers' results (``int`` and ``str`` become ``object``). The signature hook replaces
it, for this call, with one keyword parameter per handler, each with its own type variables::

    def (*, NotFound: Callable[[NotFound], Effect[B_1, E2_1, R2_1]],
            Timeout: Callable[[Timeout], Effect[B_2, E2_2, R2_2]])
        -> Effect[A | B_1 | B_2, Rest | E2_1 | E2_2, R | R2_1 | R2_2]

so each handler's parameter is its narrowed error and the result is the union of what the handlers produce.
"""

from __future__ import annotations

from mypy.nodes import ARG_NAMED, ARG_STAR2, CallExpr
from mypy.plugin import MethodSigContext
from mypy.types import CallableType, FunctionLike, ProperType, Type, TypeVarType, get_proper_type

from .._consts import EFFECT
from .._typeops import (
    Lookup,
    as_instance,
    fresh_type_var,
    has_any,
    lazy_union,
    members,
    split_by_tag,
    union,
)
from .catch_tag import report_unknown_tag

# Fresh type variables get ids far from the ones mypy gives a signature's own variables (-1, -2, ...).
_FIRST_FRESH_ID = -1000


def signature(ctx: MethodSigContext, lookup: Lookup) -> FunctionLike:
    sig = ctx.default_signature
    receiver = as_instance(ctx.type, EFFECT)
    call = ctx.context
    if receiver is None or not isinstance(call, CallExpr) or sig.arg_kinds != [ARG_STAR2]:
        return sig
    names = [
        name for name, kind in zip(call.arg_names, call.arg_kinds, strict=True) if kind == ARG_NAMED and name
    ]
    if not names or len(names) != len(call.args):
        return sig  # positional arguments or ``**mapping``: mypy reports or accepts them as usual
    handler = get_proper_type(sig.arg_types[0])
    result = as_instance(sig.ret_type, EFFECT)
    if not isinstance(handler, CallableType) or result is None:
        return sig
    handled = as_instance(handler.ret_type, EFFECT)
    if handled is None:
        return sig
    templates = [get_proper_type(arg) for arg in handled.args]
    if not all(isinstance(template, TypeVarType) for template in templates):
        return sig
    errors = members(receiver.args[1])
    if has_any(errors):
        return sig

    rest: list[ProperType] = list(errors)
    handlers: list[Type] = []
    variables: list[TypeVarType] = []
    successes: list[Type] = [receiver.args[0]]
    failures: list[Type] = []
    requirements: list[Type] = [receiver.args[2]]
    for index, (name, expr) in enumerate(zip(names, call.args, strict=True)):
        split = split_by_tag(errors, name, lookup)
        if split.found:
            parameter: Type = union(split.caught)
            rest = [member for member in rest if any(member is kept for kept in split.rest)]
        else:
            report_unknown_tag(ctx.api, "catch_tags", name, errors, expr)
            parameter = receiver.args[1]
        fresh = [
            fresh_type_var(template, f"{template.name}_{name}", _FIRST_FRESH_ID - 3 * index - position)
            for position, template in enumerate(templates)
            if isinstance(template, TypeVarType)
        ]
        variables.extend(fresh)
        handlers.append(handler.copy_modified(arg_types=[parameter], ret_type=handled.copy_modified(args=fresh)))
        successes.append(fresh[0])
        failures.append(fresh[1])
        requirements.append(fresh[2])

    ret_type = result.copy_modified(
        args=[lazy_union(successes), lazy_union([*rest, *failures]), lazy_union(requirements)]
    )
    return sig.copy_modified(
        arg_types=handlers,
        arg_kinds=[ARG_NAMED] * len(names),
        arg_names=list(names),
        ret_type=ret_type,
        variables=[*[v for v in sig.variables if v not in templates], *variables],
    )
