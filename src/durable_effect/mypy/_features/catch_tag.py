"""``eff.catch_tag(X, handler)`` and ``eff.catch_tag("X", handler)``: the caught error leaves ``E``.

mypy calls the signature hook once per overload of ``catch_tag`` (the class form and the string form) before it
checks the call. For the overload that fits the tag argument, the hook rewrites

    def (tag, handler: Callable[[X or E], Effect[B, E2, R2]]) -> Effect[A | B, E | E2, R | R2]

into

    def (tag, handler: Callable[[Caught], Effect[B, E2, R2]]) -> Effect[A | B, Rest | E2, R | R2]

where ``Caught`` is what the handler can receive and ``Rest`` what ``E`` keeps. ``B``, ``E2`` and ``R2`` are still
the signature's type variables, so mypy infers them from the handler as usual (a lambda's parameter gets the
narrowed type). A tag that matches nothing in ``E`` is reported, and the call keeps its plain signature.
"""

from __future__ import annotations

from mypy.errorcodes import ARG_TYPE
from mypy.nodes import Context, Expression, TypeInfo
from mypy.plugin import CheckerPluginInterface, MethodSigContext
from mypy.types import CallableType, FunctionLike, Instance, ProperType, Type, TypeType, get_proper_type

from .._consts import EFFECT
from .._typeops import (
    Lookup,
    Split,
    as_instance,
    class_of,
    describe_tags,
    describe_union,
    has_any,
    lazy_union,
    literal_str_of,
    members,
    split_by_class,
    split_by_tag,
    union,
    with_arg,
)


def signature(ctx: MethodSigContext, lookup: Lookup) -> FunctionLike:
    sig = ctx.default_signature
    receiver = as_instance(ctx.type, EFFECT)
    if receiver is None or sig.arg_names[:2] != ["tag", "handler"] or len(sig.arg_types) != 2:
        return sig
    if len(ctx.args[0]) != 1 or len(ctx.args[1]) != 1:
        return sig
    errors = members(receiver.args[1])
    if has_any(errors):
        return sig
    tag_expr = ctx.args[0][0]
    resolved = _split(sig, tag_expr, errors, lookup)
    if resolved is None:
        return sig
    split, tag = resolved
    if not split.found:
        report_unknown_tag(ctx.api, "catch_tag", tag, errors, tag_expr)
        return sig
    narrowed = _narrow(sig, split)
    return narrowed if narrowed is not None else sig


def _split(
    sig: CallableType, tag_expr: Expression, errors: list[ProperType], lookup: Lookup
) -> tuple[Split, str | TypeInfo] | None:
    """Divide ``E`` by the tag, if the tag argument fits this overload (a class, or a string literal)."""
    formal = get_proper_type(sig.arg_types[0])
    if isinstance(formal, TypeType):
        tag_class = class_of(tag_expr)
        return (split_by_class(errors, tag_class), tag_class) if tag_class is not None else None
    if isinstance(formal, Instance) and formal.type.fullname == "builtins.str":
        tag = literal_str_of(tag_expr)
        return (split_by_tag(errors, tag, lookup), tag) if tag is not None else None
    return None


def _narrow(sig: CallableType, split: Split) -> CallableType | None:
    """``sig`` with the handler taking ``split.caught`` and ``split.rest`` left in ``E``."""
    handler = get_proper_type(sig.arg_types[1])
    result = as_instance(sig.ret_type, EFFECT)
    if not isinstance(handler, CallableType) or len(handler.arg_types) != 1 or result is None:
        return None
    handled = as_instance(handler.ret_type, EFFECT)
    if handled is None:
        return None
    narrowed_handler = handler.copy_modified(arg_types=[union(split.caught)])
    remaining: list[Type] = [*split.rest, handled.args[1]]
    return sig.copy_modified(
        arg_types=[sig.arg_types[0], narrowed_handler], ret_type=with_arg(result, 1, lazy_union(remaining))
    )


def report_unknown_tag(
    api: CheckerPluginInterface, method: str, tag: str | TypeInfo, errors: list[ProperType], context: Context
) -> None:
    """Say that the tag matches no error of ``E``, naming the tag and listing ``E``."""
    failing = f"its errors are {describe_union(errors, api.options)}" if errors else "it cannot fail"
    if isinstance(tag, str):
        tags = describe_tags(errors)
        known = f" (tags {tags})" if tags else ""
        message = f'{method}: no error of this effect has the tag "{tag}"; {failing}{known}'
    else:
        message = f'{method}: "{tag.name}" is not an error of this effect; {failing}'
    api.fail(message, context, code=ARG_TYPE)
