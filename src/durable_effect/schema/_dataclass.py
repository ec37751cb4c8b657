"""A schema for dataclasses of JSON values, with no dependency (usable where pydantic is not)."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar, Union

from . import JSON, SchemaIssues

T = TypeVar("T")

# A compiled check of one type: ``decode(data, path, issues)`` returns the decoded value, or appends what is
# wrong to ``issues``. Each type hint is turned into one once, so a decode walks no type hints.
_Decode = Callable[[object, str, list[str]], Any]


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
        self._decode: _Decode = _dataclass_decoder(cls)

    @property
    def name(self) -> str:
        return self._cls.__name__

    def decode(self, data: object) -> T:
        if isinstance(data, self._cls):
            data = self.encode(data)
        issues: list[str] = []
        value = self._decode(data, "", issues)
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


# ---------------------------------------------------------------- decoding

_DATACLASS_DECODERS: dict[type[Any], _Decode] = {}


def _dataclass_decoder(cls: type[Any]) -> _Decode:
    """The decoder of the dataclass ``cls``, built on first use (a field may refer to ``cls`` itself)."""
    decoder = _DATACLASS_DECODERS.get(cls)
    if decoder is not None:
        return decoder
    plan: list[tuple[str, _Decode, bool]] = []
    names: dict[str, tuple[Any, bool]] = {}

    def decode(data: object, path: str, issues: list[str]) -> Any:
        if not isinstance(data, dict):
            issues.append(f"{path or '(root)'}: expected an object for {cls.__name__}, got {type(data).__name__}")
            return None
        values: dict[str, Any] = {}
        for name, decode_field, required in plan:
            if name not in data:
                if required:
                    issues.append(f"{path}.{name}: field required" if path else f"{name}: field required")
                continue
            values[name] = decode_field(data[name], f"{path}.{name}" if path else name, issues)
        if not names.keys() >= data.keys():
            for extra in sorted(set(data) - names.keys()):
                issues.append(f"{path + '.' if path else ''}{extra}: unknown field")
        return None if issues else cls(**values)

    _DATACLASS_DECODERS[cls] = decode  # before the fields: a recursive field finds it
    try:
        names.update(_fields_of(cls))
        plan.extend((name, _decoder(hint), required) for name, (hint, required) in names.items())
    except BaseException:
        del _DATACLASS_DECODERS[cls]
        raise
    return decode


def _decoder(hint: Any) -> _Decode:
    """The decoder of a field type; the checks are those of the supported types, in this order."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return _decode_any
    if hint is type(None) or hint is None:
        return _decode_none
    if origin in (Union, types.UnionType):
        return _union_decoder(hint, [_decoder(option) for option in typing.get_args(hint)])
    if origin is typing.Literal:
        return _literal_decoder(typing.get_args(hint))
    if origin is list:
        args = typing.get_args(hint) or (Any,)
        return _list_decoder(_decoder(args[0])) if len(args) == 1 else _malformed(list, args)
    if origin is dict:
        args = typing.get_args(hint) or (str, Any)
        return _dict_decoder(_decoder(args[1])) if len(args) == 2 else _malformed(dict, args)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _nested_decoder(hint)
    if hint is float:
        return _decode_float
    if hint in (str, int, bool):
        return _scalar_decoder(hint)
    return _unsupported_decoder(hint)


def _decode_any(data: object, path: str, issues: list[str]) -> Any:
    return data


def _decode_none(data: object, path: str, issues: list[str]) -> Any:
    if data is not None:
        issues.append(f"{path}: expected null")
    return None


def _union_decoder(hint: Any, options: list[_Decode]) -> _Decode:
    def decode(data: object, path: str, issues: list[str]) -> Any:
        for option in options:
            attempt: list[str] = []
            value = option(data, path, attempt)
            if not attempt:
                return value
        issues.append(f"{path}: {data!r} matches none of {hint}")
        return None

    return decode


def _literal_decoder(allowed: tuple[Any, ...]) -> _Decode:
    def decode(data: object, path: str, issues: list[str]) -> Any:
        if data not in allowed:
            issues.append(f"{path}: expected one of {list(allowed)}, got {data!r}")
        return data

    return decode


def _list_decoder(item: _Decode) -> _Decode:
    def decode(data: object, path: str, issues: list[str]) -> Any:
        if not isinstance(data, list):
            issues.append(f"{path}: expected a list, got {type(data).__name__}")
            return None
        return [item(element, f"{path}[{i}]", issues) for i, element in enumerate(data)]

    return decode


def _dict_decoder(item: _Decode) -> _Decode:
    def decode(data: object, path: str, issues: list[str]) -> Any:
        if not isinstance(data, dict):
            issues.append(f"{path}: expected an object, got {type(data).__name__}")
            return None
        return {str(key): item(element, f"{path}.{key}", issues) for key, element in data.items()}

    return decode


def _malformed(container: type[Any], args: tuple[Any, ...]) -> _Decode:
    """A ``list``/``dict`` hint with the wrong number of arguments: unpacking them fails when a value of that
    type is decoded (not when the schema is made)."""

    def decode(data: object, path: str, issues: list[str]) -> Any:
        if container is list:
            if not isinstance(data, list):
                issues.append(f"{path}: expected a list, got {type(data).__name__}")
                return None
            (_item,) = args
        else:
            if not isinstance(data, dict):
                issues.append(f"{path}: expected an object, got {type(data).__name__}")
                return None
            _key, _value = args
        raise AssertionError("unreachable")  # pragma: no cover

    return decode


def _nested_decoder(cls: type[Any]) -> _Decode:
    found: list[_Decode] = []

    def decode(data: object, path: str, issues: list[str]) -> Any:
        if not found:  # looked up on first use: ``cls`` may still be compiling (a recursive type)
            found.append(_dataclass_decoder(cls))
        return found[0](data, path, issues)

    return decode


def _decode_float(data: object, path: str, issues: list[str]) -> Any:
    if isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    issues.append(f"{path}: expected a number, got {type(data).__name__}")
    return None


def _scalar_decoder(hint: type[Any]) -> _Decode:
    reject_bool = hint is int

    def decode(data: object, path: str, issues: list[str]) -> Any:
        if isinstance(data, hint) and not (reject_bool and isinstance(data, bool)):
            return data
        issues.append(f"{path}: expected {hint.__name__}, got {type(data).__name__}")
        return None

    return decode


def _unsupported_decoder(hint: Any) -> _Decode:
    def decode(data: object, path: str, issues: list[str]) -> Any:
        issues.append(f"{path}: unsupported field type {hint!r}")
        return None

    return decode


# ---------------------------------------------------------------- encoding

_SCALARS = frozenset({str, int, float, bool, type(None)})
_FIELD_NAMES: dict[type[Any], tuple[str, ...] | None] = {}
"""Per class: the field names of a dataclass, ``None`` for any other class."""


def _field_names(cls: type[Any]) -> tuple[str, ...] | None:
    try:
        return _FIELD_NAMES[cls]
    except KeyError:
        pass
    names = tuple(field.name for field in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None
    _FIELD_NAMES[cls] = names
    return names


def _encode(value: Any) -> Any:
    cls = value.__class__
    if cls in _SCALARS:
        return value
    names = _field_names(cls)
    if names is not None:
        return {name: _encode(getattr(value, name)) for name in names}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _encode(item) for key, item in value.items()}
    return value
