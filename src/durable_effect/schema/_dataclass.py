"""A schema for dataclasses of JSON values, with no dependency (usable where pydantic is not)."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Generic, TypeVar, Union

from . import JSON, SchemaIssues

T = TypeVar("T")


class DataclassSchema(Generic[T]):
    """Decode a JSON object into the dataclass ``cls`` (checking field types) and encode it back.

    Supported field types: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``, ``list[X]``,
    ``dict[str, X]``, unions/optionals of those, ``Literal`` and nested dataclasses.
    """

    def __init__(self, cls: type[T]) -> None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"DataclassSchema needs a dataclass, got {cls!r}")
        self._cls = cls
        _fields_of(cls)  # resolve the annotations now: a bad one fails at definition time

    @property
    def name(self) -> str:
        return self._cls.__name__

    def decode(self, data: object) -> T:
        if isinstance(data, self._cls):
            data = self.encode(data)
        issues: list[str] = []
        value = _decode_dataclass(self._cls, data, "", issues)
        if issues:
            raise SchemaIssues(issues)
        return typing.cast(T, value)

    def encode(self, value: T) -> JSON:
        if not isinstance(value, self._cls):
            raise SchemaIssues([f"expected a {self.name}, got {type(value).__name__}"])
        return typing.cast(JSON, _encode(value))


_FIELDS: dict[type[Any], dict[str, tuple[Any, bool]]] = {}


def _fields_of(cls: type[Any]) -> dict[str, tuple[Any, bool]]:
    """``{field name: (resolved type, required)}`` of a dataclass, resolved once per class."""
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = _resolve_fields(cls)
    return fields


def _resolve_fields(cls: type[Any]) -> dict[str, tuple[Any, bool]]:
    hints = typing.get_type_hints(cls)
    return {
        field.name: (
            hints[field.name],
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING,
        )
        for field in dataclasses.fields(cls)
    }


def _decode_dataclass(cls: type[Any], data: object, path: str, issues: list[str]) -> Any:
    if not isinstance(data, dict):
        issues.append(f"{path or '(root)'}: expected an object for {cls.__name__}, got {type(data).__name__}")
        return None
    fields = _fields_of(cls)
    values: dict[str, Any] = {}
    for name, (hint, required) in fields.items():
        where = f"{path}.{name}" if path else name
        if name not in data:
            if required:
                issues.append(f"{where}: field required")
            continue
        values[name] = _decode_value(hint, data[name], where, issues)
    for extra in sorted(set(data) - fields.keys()):
        issues.append(f"{path + '.' if path else ''}{extra}: unknown field")
    return None if issues else cls(**values)


def _decode_value(hint: Any, data: object, path: str, issues: list[str]) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return data
    if hint is type(None) or hint is None:
        if data is not None:
            issues.append(f"{path}: expected null")
        return None
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            attempt: list[str] = []
            value = _decode_value(option, data, path, attempt)
            if not attempt:
                return value
        issues.append(f"{path}: {data!r} matches none of {hint}")
        return None
    if origin is typing.Literal:
        if data not in typing.get_args(hint):
            issues.append(f"{path}: expected one of {list(typing.get_args(hint))}, got {data!r}")
        return data
    if origin is list:
        if not isinstance(data, list):
            issues.append(f"{path}: expected a list, got {type(data).__name__}")
            return None
        (item,) = typing.get_args(hint) or (Any,)
        return [_decode_value(item, element, f"{path}[{i}]", issues) for i, element in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            issues.append(f"{path}: expected an object, got {type(data).__name__}")
            return None
        _, item = typing.get_args(hint) or (str, Any)
        return {str(key): _decode_value(item, element, f"{path}.{key}", issues) for key, element in data.items()}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, data, path, issues)
    if hint is float:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
        issues.append(f"{path}: expected a number, got {type(data).__name__}")
        return None
    if hint in (str, int, bool):
        if isinstance(data, hint) and not (hint is int and isinstance(data, bool)):
            return data
        issues.append(f"{path}: expected {hint.__name__}, got {type(data).__name__}")
        return None
    issues.append(f"{path}: unsupported field type {hint!r}")
    return None


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _encode(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _encode(item) for key, item in value.items()}
    return value
