"""Record the ``_tag`` of every ``TaggedError`` subclass while mypy analyzes it.

``catch_tag("NotFound", ...)`` matches errors by their ``_tag`` string: the class name, unless the class body
overrides it (``_tag: ClassVar[str] = "not-found"``). mypy keeps no value for such a class variable, and a class
loaded from mypy's cache has no body to read, so the tag is read here, from the class definition, and stored in
the class's ``metadata`` (which mypy serializes with the class).

Each class is also listed, with its tag, on its ancestors defined in the same module. A string catches only the
exact tag, so ``catch_tag("NotFound")`` cannot remove ``NotFound`` from ``E`` when a ``SpecialNotFound`` subclass
(with its own tag) exists; the list lets the plugin see that. Subclasses in other modules are not recorded: a
module's analysis never writes to classes that belong to another module.
"""

from __future__ import annotations

from mypy.nodes import AssignmentStmt, ClassDef, NameExpr, StrExpr, TempNode
from mypy.plugin import ClassDefContext

from .._consts import METADATA_KEY, TAGGED_ERROR


def record_tag(ctx: ClassDefContext) -> None:
    info = ctx.cls.info
    if not info.has_base(TAGGED_ERROR):
        return
    overridden, tag = _declared_tag(ctx.cls)
    if not overridden:
        tag = info.name
    info.metadata.setdefault(METADATA_KEY, {})["tag"] = tag
    for ancestor in info.mro[1:]:
        if ancestor.module_name == info.module_name and ancestor.has_base(TAGGED_ERROR):
            recorded = ancestor.metadata.setdefault(METADATA_KEY, {})
            recorded.setdefault("descendants", {})[info.fullname] = tag


def _declared_tag(cls: ClassDef) -> tuple[bool, str | None]:
    """Whether the class body assigns ``_tag``, and the string it assigns (``None`` if not a literal)."""
    for stmt in cls.defs.body:
        if not isinstance(stmt, AssignmentStmt):
            continue
        if not any(isinstance(lvalue, NameExpr) and lvalue.name == "_tag" for lvalue in stmt.lvalues):
            continue
        if isinstance(stmt.rvalue, TempNode) and stmt.rvalue.no_rhs:
            continue  # ``_tag: ClassVar[str]`` alone assigns nothing: the class name still applies
        return True, stmt.rvalue.value if isinstance(stmt.rvalue, StrExpr) else None
    return False, None
