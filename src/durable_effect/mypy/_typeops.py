"""Operations on mypy types shared by the features: unions, the effect's type arguments, error tags.

Everything here answers ``None`` (or an empty result) for a type it does not understand, so a feature can fall
back to mypy's own signature instead of guessing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mypy.maptype import map_instance_to_supertype
from mypy.messages import format_type
from mypy.nodes import Expression, RefExpr, StrExpr, SymbolTableNode, TypeAlias, TypeInfo, Var
from mypy.options import Options
from mypy.subtypes import is_same_type
from mypy.typeops import make_simplified_union
from mypy.types import (
    AnyType,
    CallableType,
    Instance,
    LiteralType,
    NoneType,
    Overloaded,
    ProperType,
    TupleType,
    Type,
    TypedDictType,
    TypeOfAny,
    TypeType,
    TypeVarId,
    TypeVarType,
    UninhabitedType,
    UnionType,
    flatten_nested_unions,
    get_proper_type,
)
from mypy.typevars import fill_typevars_with_any

from ._consts import METADATA_KEY, TAG, TAGGED_ERROR

Lookup = Callable[[str], SymbolTableNode | None]
"""Finds a definition by full name (the plugin's ``lookup_fully_qualified``)."""

# Members of these kinds are plain values: they have no ``_tag`` and are never instances of an error class.
_PLAIN_KINDS = (NoneType, LiteralType, TupleType, TypedDictType, CallableType, Overloaded, TypeType)


# ---------------------------------------------------------------- unions


def members(typ: Type) -> list[ProperType]:
    """The members of a union, nested unions and aliases flattened; ``Never`` has none, any other type is one."""
    result: list[ProperType] = []
    for item in flatten_nested_unions([typ]):
        proper = get_proper_type(item)
        if not isinstance(proper, UninhabitedType):
            result.append(proper)
    return result


def has_any(items: Sequence[ProperType]) -> bool:
    return any(isinstance(item, AnyType) for item in items)


def union(items: Sequence[Type]) -> ProperType:
    """The simplified union of ``items`` (``Never`` when empty)."""
    return make_simplified_union(items)


def lazy_union(items: Sequence[Type]) -> Type:
    """The union of ``items`` without simplification, for types that still hold unsolved type variables."""
    return UnionType.make_union(list(items))


def provides(provided: ProperType, required: ProperType) -> bool:
    """Whether providing ``provided`` meets the requirement ``required``: the same tag class, or the same type."""
    if isinstance(provided, Instance) and isinstance(required, Instance):
        return provided.type.fullname == required.type.fullname
    return is_same_type(provided, required)


# ---------------------------------------------------------------- effects, layers, tags


def as_instance(typ: Type, fullname: str) -> Instance | None:
    """``typ`` seen as an instance of the generic class ``fullname`` (mapping a subclass onto it), if it is one.

    A type variable is seen as its upper bound: what holds for the bound holds for every value of the variable.
    """
    proper = get_proper_type(typ)
    if isinstance(proper, TypeVarType):
        proper = get_proper_type(proper.upper_bound)
    if not isinstance(proper, Instance):
        return None
    for base in proper.type.mro:
        if base.fullname == fullname:
            instance = map_instance_to_supertype(proper, base)
            return instance if len(instance.args) == len(base.type_vars) else None
    return None


def with_arg(instance: Instance, index: int, arg: Type) -> Instance:
    """``instance`` with its type argument ``index`` replaced."""
    args = list(instance.args)
    args[index] = arg
    return instance.copy_modified(args=args)


def class_of(expr: Expression) -> TypeInfo | None:
    """The class an expression names directly (``NotFound``, ``errors.NotFound`` or an alias of it).

    A variable holding a class is not enough: at run time it may hold a subclass, and catching or providing a
    subclass handles less than its declared type says.
    """
    if not isinstance(expr, RefExpr):
        return None
    node = expr.node
    if isinstance(node, TypeInfo):
        return node
    if isinstance(node, TypeAlias):
        target = get_proper_type(node.target)
        if isinstance(target, Instance) and (node.no_args or not target.args):
            return target.type
    return None


def literal_str_of(expr: Expression) -> str | None:
    """The value of a string literal, or of a name bound to a ``Final`` string constant."""
    if isinstance(expr, StrExpr):
        return expr.value
    if isinstance(expr, RefExpr) and isinstance(expr.node, Var) and expr.node.is_final:
        value = expr.node.final_value
        if isinstance(value, str):
            return value
    return None


def service_identity(tag: TypeInfo) -> ProperType | None:
    """What a service tag class adds to ``R``: the first type argument of its ``Tag[Id, S]`` base."""
    instance = as_instance(fill_typevars_with_any(tag), TAG)
    return get_proper_type(instance.args[0]) if instance is not None else None


def type_args(typ: Type, fullname: str, index: int) -> list[ProperType]:
    """The members of type argument ``index`` of ``typ`` seen as ``fullname``, over every member of a union.

    A member that is not such an instance (``Any``, or a type mypy already reports as wrong) contributes ``Any``.
    """
    result: list[ProperType] = []
    for member in members(typ):
        instance = as_instance(member, fullname)
        if instance is None:
            result.append(AnyType(TypeOfAny.special_form))
        else:
            result.extend(members(instance.args[index]))
    return result


def fresh_type_var(template: TypeVarType, name: str, raw_id: int) -> TypeVarType:
    """A new type variable like ``template`` (bounds, default), distinct from every variable of the signature."""
    return TypeVarType(
        name=name,
        fullname=f"{template.fullname}{raw_id}",
        id=TypeVarId(raw_id, namespace=template.id.namespace),
        values=list(template.values),
        upper_bound=template.upper_bound,
        default=template.default,
        variance=template.variance,
    )


def decouple_result(sig: CallableType, fullname: str, index: int) -> CallableType:
    """``sig`` whose result's type argument ``index`` is a fresh type variable, tied to no parameter.

    mypy infers a call's type variables also from the context the call appears in, through the declared result.
    When a return hook computes a smaller argument (``Effect.scoped`` drops ``Scope`` from ``R``), a declared
    ``Effect[B, E2, R2]`` would let the context (``run_sync`` wants ``R = Never``) decide ``R2``, and then the
    argument (which still needs ``Scope``) would be rejected. The return hook replaces the fresh variable.
    """
    result = as_instance(sig.ret_type, fullname)
    template = next((var for var in sig.variables if isinstance(var, TypeVarType)), None)
    if result is None or template is None:
        return sig
    computed = fresh_type_var(template, "Computed", _DECOUPLED_ID)
    return sig.copy_modified(ret_type=with_arg(result, index, computed), variables=[*sig.variables, computed])


# Far from the ids mypy gives a signature's own type variables (-1, -2, ...).
_DECOUPLED_ID = -2000


# ---------------------------------------------------------------- error tags


class NoTag(enum.Enum):
    """Why a member of ``E`` has no ``_tag`` string the plugin can compare."""

    ABSENT = "absent"
    """It has no ``_tag`` at all, so no string matches it."""
    UNKNOWN = "unknown"
    """Its ``_tag`` is not a literal the plugin can read, so any string may match it."""


def tag_of(info: TypeInfo) -> str | NoTag:
    """The ``_tag`` of instances of ``info``: recorded when the class was analyzed, else derived from its body."""
    if info.fullname == TAGGED_ERROR:
        return "TaggedError"
    recorded = info.metadata.get(METADATA_KEY)
    if recorded is not None and "tag" in recorded:
        tag = recorded["tag"]
        return tag if isinstance(tag, str) else NoTag.UNKNOWN
    if info.get("_tag") is None:
        return NoTag.ABSENT
    own = info.names.get("_tag")
    if own is None:
        # TaggedError.__init_subclass__ gives a class without its own _tag its name.
        return info.name if info.has_base(TAGGED_ERROR) else NoTag.UNKNOWN
    return _declared_value(own)


def mro_tags(info: TypeInfo) -> list[str | NoTag]:
    """The ``_tag`` set by each class of ``info``'s MRO in its own namespace: a string matches those errors.

    ``NoTag.UNKNOWN`` stands for a class whose ``_tag`` cannot be read; an empty list means no ``_tag`` at all.
    """
    inherited: dict[str, object] = {}
    for base in info.mro:
        recorded = base.metadata.get(METADATA_KEY)
        found = recorded.get("inherited") if recorded is not None else None
        if isinstance(found, dict):
            for name, tag in found.items():
                if isinstance(tag, str) or name not in inherited:
                    inherited[name] = tag
    result: list[str | NoTag] = []
    for base in info.mro:
        if base.fullname == TAGGED_ERROR or base.has_base(TAGGED_ERROR):
            result.append(tag_of(base))
            continue
        own = base.names.get("_tag")
        if own is None:
            continue
        if base.fullname in inherited:
            tag = inherited[base.fullname]
            result.append(tag if isinstance(tag, str) else NoTag.UNKNOWN)
        elif not isinstance(own.node, Var) or own.node.has_explicit_value or own.node.is_final:
            result.append(_declared_value(own))
        # else ``_tag: ClassVar[str]`` alone: the class sets nothing
    return [tag for tag in result if tag is not NoTag.ABSENT]


def _declared_value(own: SymbolTableNode) -> str | NoTag:
    """The string a class body binds to ``_tag``, if mypy's types say it (a ``Final`` or ``Literal`` string)."""
    if isinstance(own.node, Var):
        if isinstance(own.node.final_value, str):
            return own.node.final_value
        declared = get_proper_type(own.node.type)
        if isinstance(declared, LiteralType) and isinstance(declared.value, str):
            return declared.value
    return NoTag.UNKNOWN


def descendant_tags(info: TypeInfo) -> dict[str, str | None]:
    """Subclasses of ``info`` defined in its module, by full name, with their tags (``None``: unknown)."""
    recorded = info.metadata.get(METADATA_KEY)
    descendants = recorded.get("descendants") if recorded is not None else None
    if not isinstance(descendants, dict):
        return {}
    return {name: tag if isinstance(tag, str) else None for name, tag in descendants.items()}


def is_plain_value(member: ProperType) -> bool:
    """A member that can be neither an error class instance nor carry a ``_tag`` (``None``, tuples, callables)."""
    return isinstance(member, _PLAIN_KINDS)


@dataclass
class Split:
    """``E`` divided by a ``catch_tag``: what the handler may receive and what can still fail."""

    caught: list[Type] = field(default_factory=list)
    rest: list[ProperType] = field(default_factory=list)
    found: bool = False
    """Whether the tag can match an error of ``E`` at all (if not, the catch is a mistake)."""


def split_by_class(errors: Sequence[ProperType], tag: TypeInfo) -> Split:
    """Catching by class matches instances of ``tag`` and its subclasses: those members leave ``E``.

    A member that is a superclass of ``tag`` (``TaggedError``) or not a class (a type variable) stays, since
    only some of its values are caught.
    """
    split = Split()
    removed: list[Type] = []
    partly = False
    for member in errors:
        if isinstance(member, Instance):
            if member.type.has_base(tag.fullname):
                removed.append(member)
                continue
            if tag.has_base(member.type.fullname):
                partly = True
        elif not is_plain_value(member):
            partly = True
        split.rest.append(member)
    split.found = bool(removed) or partly
    # The handler gets the class itself; for a generic class, the members it catches (``Wrapped[int]``
    # rather than ``Wrapped[Any]``) unless other members may hold instances of it too.
    generic = bool(tag.type_vars) and bool(removed) and not partly
    split.caught = removed if generic else [fill_typevars_with_any(tag)]
    return split


def split_by_tag(errors: Sequence[ProperType], tag: str, lookup: Lookup) -> Split:
    """Catching by string matches errors whose class or a base of it declares that ``_tag``.

    A member whose class or a base of it has that tag leaves ``E`` (its subclasses are caught too, as with the
    class form). A member with a tag the plugin cannot read may match: the handler may receive it, and it stays
    in ``E``. So does ``TaggedError`` itself, whose values may be of any subclass. A subclass (defined in the
    member's module) that has the tag makes the string valid and is handed to the handler, though its base
    stays in ``E``.
    """
    split = Split()
    for member in errors:
        if not isinstance(member, Instance):
            if not is_plain_value(member):
                split.caught.append(member)
                split.found = True
            split.rest.append(member)
            continue
        tags = mro_tags(member.type)
        if tag in tags:
            split.found = True
            split.caught.append(member)
            continue
        split.rest.append(member)
        if NoTag.UNKNOWN in tags or member.type.fullname == TAGGED_ERROR:
            split.caught.append(member)
            split.found = True
            continue
        if not tags:
            continue
        for fullname, other in descendant_tags(member.type).items():
            if other is None:
                split.caught.append(member)
                split.found = True
            elif other == tag:
                symbol = lookup(fullname)
                if symbol is not None and isinstance(symbol.node, TypeInfo):
                    split.caught.append(fill_typevars_with_any(symbol.node))
                    split.found = True
    return split


# ---------------------------------------------------------------- messages


def describe_union(types: Sequence[Type], options: Options) -> str:
    """``"A | B"`` for a union of several types."""
    return format_type(union(types), options)


def describe_each(types: Sequence[Type], options: Options) -> str:
    """``"A"``, ``"A" and "B"``, ``"A", "B" and "C"``."""
    names = [format_type(typ, options) for typ in types]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def describe_tags(errors: Sequence[ProperType]) -> str:
    """The ``_tag`` strings of the members of ``E`` that have one, quoted, for an error message."""
    tags: list[str] = []
    for member in errors:
        if isinstance(member, Instance):
            tag = tag_of(member.type)
            if isinstance(tag, str) and f'"{tag}"' not in tags:
                tags.append(f'"{tag}"')
    return ", ".join(tags)
