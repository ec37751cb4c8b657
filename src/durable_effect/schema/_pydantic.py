"""The pydantic adapter, imported only when a pydantic model or type is used as a schema."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Generic, TypeVar, cast

from . import JSON, SchemaIssues

T = TypeVar("T")


@functools.cache
def _options() -> tuple[dict[str, Any], dict[str, Any]]:
    """How to dump and validate so that what is dumped validates back to an equal value, whatever aliases a
    model declares (``alias``, ``serialization_alias``, ``validation_alias``, ``populate_by_name``).

    Data is dumped by field name and validated accepting the field name as well as the alias, so a stored value
    reads back, and a client may still send the alias. Pydantic before 2.11 cannot validate by name on demand:
    there the data is dumped by alias, which fits the common ``alias=`` case. Computed fields are left out
    (where pydantic can) since a model that forbids extra fields would refuse them back.
    """
    from pydantic import TypeAdapter

    by_name = "by_name" in inspect.signature(TypeAdapter.validate_python).parameters
    validate: dict[str, Any] = {"by_alias": True, "by_name": True} if by_name else {}
    dump: dict[str, Any] = {"mode": "json", "warnings": "error", "round_trip": True, "by_alias": not by_name}
    if "exclude_computed_fields" in inspect.signature(TypeAdapter.dump_python).parameters:
        dump["exclude_computed_fields"] = True
    return dump, validate


def _dumps_by_alias(type_: Any) -> bool:
    """Whether ``type_``, a pydantic model, must be stored by alias: its config says so
    (``serialize_by_alias``), or one of its aliases is the name of another of its fields."""
    fields = getattr(type_, "model_fields", None)
    if not isinstance(fields, dict):
        return False
    config = getattr(type_, "model_config", {})
    if config.get("serialize_by_alias"):
        return True
    for name, info in fields.items():
        aliases = {info.alias, info.serialization_alias}
        choices = getattr(info.validation_alias, "choices", None)
        aliases.update(choices if choices is not None else [info.validation_alias])
        if any(isinstance(alias, str) and alias != name and alias in fields for alias in aliases):
            return True
    return False


class PydanticSchema(Generic[T]):
    """Validates with ``pydantic.TypeAdapter(type_)`` and encodes in JSON mode, so that ``decode(encode(value))``
    equals ``value`` whatever aliases the type's fields have."""

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
        self._dump_options, self._validate_options = _options()
        if _dumps_by_alias(type_):
            # By alias, as the model asks or because an alias names another field (read by name and alias, the
            # data of one field would fill the other): validated by alias alone.
            self._dump_options = {**self._dump_options, "by_alias": True}
            self._validate_options = {}

    @property
    def name(self) -> str:
        return self._name

    def decode(self, data: object) -> T:
        from pydantic import ValidationError

        try:
            return cast(T, self._adapter.validate_python(data, **self._validate_options))
        except ValidationError as exc:
            issues = [
                f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}" for error in exc.errors()
            ]
            raise SchemaIssues(issues) from exc

    def encode(self, value: T) -> JSON:
        from pydantic import ValidationError

        try:
            return cast(JSON, self._adapter.dump_python(value, **self._dump_options))
        except (ValidationError, ValueError, TypeError, Warning) as exc:
            raise SchemaIssues([f"cannot encode {value!r}: {exc}"]) from exc
