"""Record the ``_tag`` of every ``TaggedError`` subclass while mypy analyzes it.

``catch_tag("NotFound", ...)`` matches errors by ``_tag`` strings: an error matches when its class or a class in
its MRO has that ``_tag`` in its own namespace. ``TaggedError.__init_subclass__`` gives every subclass its own
``_tag``: the class name, unless the class body sets it (``_tag: ClassVar[str] = "not-found"``). mypy keeps no
value for such a class variable, and a class loaded from mypy's cache has no body to read, so the tag is read
here, from the class definition, and stored in the class's ``metadata`` (which mypy serializes with the class).

The tag is recorded as unknown (``None``) when the body sets ``_tag`` in a form not read here (inside an ``if``,
by tuple assignment, from an expression) or when an ancestor other than ``TaggedError`` defines
``__init_subclass__`` (which may set ``_tag`` itself). An unknown tag may match any string.

A class that is not a ``TaggedError`` but sets ``_tag`` (a mixin) puts that tag in the MRO of the errors that
inherit from it. For such ancestors defined in the same module, whose bodies are always at hand, the tag read
from the body is recorded under ``inherited``.

Each class is also listed, with its tag, on its ancestors defined in the same module. A string catches only the
errors that have the tag, so ``catch_tag("NotFound")`` cannot remove ``NotFound`` from ``E`` when a
``SpecialNotFound`` subclass (with its own tag) exists; the list lets the plugin see that. Subclasses in other
modules are not recorded: a module's analysis never writes to classes that belong to another module.
"""

from __future__ import annotations

import re

from mypy.nodes import (
    AssignmentStmt,
    ClassDef,
    Decorator,
    FuncDef,
    NameExpr,
    Node,
    OverloadedFuncDef,
    TempNode,
    TypeInfo,
)
from mypy.plugin import ClassDefContext

from .._consts import METADATA_KEY, TAGGED_ERROR
from .._typeops import literal_str_of

_TAG = "_tag"


def record_tag(ctx: ClassDefContext) -> None:
    info = ctx.cls.info
    if not info.has_base(TAGGED_ERROR):
        return
    overridden, tag = declared_tag(ctx.cls)
    if not overridden:
        tag = info.name
    if any(_may_set_tags(ancestor) for ancestor in info.mro[1:]):
        tag = None
    recorded = info.metadata.setdefault(METADATA_KEY, {})
    recorded["tag"] = tag
    inherited = {
        ancestor.fullname: declared_tag(ancestor.defn)[1]
        for ancestor in info.mro[1:]
        if ancestor.module_name == info.module_name
        and not ancestor.has_base(TAGGED_ERROR)
        and _TAG in ancestor.names
        and declared_tag(ancestor.defn)[0]
    }
    if inherited:
        recorded["inherited"] = inherited
    for ancestor in info.mro[1:]:
        if ancestor.module_name == info.module_name and ancestor.has_base(TAGGED_ERROR):
            recorded = ancestor.metadata.setdefault(METADATA_KEY, {})
            recorded.setdefault("descendants", {})[info.fullname] = tag


def _may_set_tags(ancestor: TypeInfo) -> bool:
    """Whether ``ancestor`` has an ``__init_subclass__`` of its own, other than ``TaggedError``'s and builtins'."""
    return (
        "__init_subclass__" in ancestor.names
        and ancestor.fullname != TAGGED_ERROR
        and ancestor.module_name != "builtins"
    )


def declared_tag(cls: ClassDef) -> tuple[bool, str | None]:
    """Whether the class body sets ``_tag``, and the string it sets (``None`` if it cannot be read).

    Read are plain assignments at the top of the body (``_tag = "x"``, ``_tag: ClassVar[str] = "x"``) of a string
    literal or a ``Final`` string; the last one wins, as at run time. Any other statement of the body that
    mentions ``_tag`` (an ``if`` or ``for`` that may bind it, a tuple target, an import, a method named
    ``_tag``...) makes the tag unknown.
    """
    overridden = False
    tag: str | None = None
    unknown = False
    for stmt in cls.defs.body:
        if isinstance(stmt, AssignmentStmt) and any(_mentions_tag(lvalue) for lvalue in stmt.lvalues):
            if not all(isinstance(lvalue, NameExpr) for lvalue in stmt.lvalues):
                unknown = True  # ``_tag, other = ...``
            elif not (isinstance(stmt.rvalue, TempNode) and stmt.rvalue.no_rhs):
                # (``_tag: ClassVar[str]`` alone assigns nothing: the class name still applies)
                overridden, tag = True, literal_str_of(stmt.rvalue)
        elif isinstance(stmt, (FuncDef, OverloadedFuncDef, ClassDef)):
            unknown = unknown or stmt.name == _TAG
        elif isinstance(stmt, Decorator):
            unknown = unknown or stmt.func.name == _TAG
        elif _mentions_tag(stmt):
            unknown = True
    if unknown:
        return True, None
    return overridden, tag


def _mentions_tag(node: Node) -> bool:
    """Whether the name ``_tag`` occurs in ``node`` (mypy's dump of a node lists every name in it)."""
    return _NAME.search(str(node)) is not None


_NAME = re.compile(r"(?<![\w.])_tag(?!\w)")
