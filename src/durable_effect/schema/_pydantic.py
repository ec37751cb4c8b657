"""The pydantic adapter, imported only when a pydantic model or type is used as a schema."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

from . import JSON, SchemaIssues

T = TypeVar("T")


class PydanticSchema(Generic[T]):
    """Validates with ``pydantic.TypeAdapter(type_)`` and encodes in JSON mode."""

    def __init__(self, type_: Any) -> None:
        try:
            from pydantic import TypeAdapter
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise TypeError(
                f"{type_!r} is not a durable_effect.schema.Schema and pydantic is not installed to adapt it: "
                f"install durable-effect[pydantic] or pass a Schema"
            ) from exc
        try:
            self._adapter: Any = TypeAdapter(type_)
        except Exception as exc:
            raise TypeError(f"{type_!r} cannot be used as a schema: {exc}") from exc
        self._name = getattr(type_, "__name__", None) or repr(type_)

    @property
    def name(self) -> str:
        return self._name

    def decode(self, data: object) -> T:
        from pydantic import ValidationError

        try:
            return cast(T, self._adapter.validate_python(data))
        except ValidationError as exc:
            issues = [
                f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}" for error in exc.errors()
            ]
            raise SchemaIssues(issues) from exc

    def encode(self, value: T) -> JSON:
        from pydantic import ValidationError

        try:
            return cast(JSON, self._adapter.dump_python(value, mode="json", warnings="error"))
        except (ValidationError, ValueError, TypeError, Warning) as exc:
            raise SchemaIssues([f"cannot encode {value!r}: {exc}"]) from exc
