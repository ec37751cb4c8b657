"""Schemas: how job inputs, events and states are validated, decoded and encoded to JSON.

A schema is anything with ``name``, ``decode(data) -> T`` (raising :class:`SchemaIssues` when ``data`` does not
fit) and ``encode(value) -> JSON``. Pydantic models and anything ``pydantic.TypeAdapter`` accepts are adapted
automatically; pydantic is imported only then, so the library runs without it.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeAlias, TypeVar, runtime_checkable

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

JSON: TypeAlias = "bool | int | float | str | list[JSON] | dict[str, JSON] | None"


class SchemaIssues(ValueError):
    """``decode`` or ``encode`` found data that does not fit; ``issues`` lists what is wrong, one per line."""

    def __init__(self, issues: list[str]) -> None:
        super().__init__("; ".join(issues))
        self.issues = issues


@runtime_checkable
class Schema(Protocol[T]):
    """Validates unknown data into ``T`` and encodes ``T`` back into JSON-able data."""

    @property
    def name(self) -> str: ...

    def decode(self, data: object) -> T: ...

    def encode(self, value: T) -> JSON: ...


class FunctionSchema(Generic[T]):
    """A schema from two plain functions; ``decode`` raises ``SchemaIssues`` (or ``ValueError``/``TypeError``)."""

    def __init__(self, name: str, decode: Callable[[object], T], encode: Callable[[T], JSON]) -> None:
        self._name = name
        self._decode = decode
        self._encode = encode

    @property
    def name(self) -> str:
        return self._name

    def decode(self, data: object) -> T:
        try:
            return self._decode(data)
        except SchemaIssues:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise SchemaIssues([f"{type(exc).__name__}: {exc}"]) from exc

    def encode(self, value: T) -> JSON:
        try:
            return self._encode(value)
        except SchemaIssues:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SchemaIssues([f"cannot encode {value!r}: {type(exc).__name__}: {exc}"]) from exc


class _NotPlain(Exception):
    pass


_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})  # floats are checked apart: NaN and infinities are not JSON


def _plain_json(data: Any) -> Any:
    """The common case of :func:`_json_value`: only exact JSON types (no subclasses) and finite floats, copied
    as that does; anything else raises :class:`_NotPlain`, and the value is then checked the thorough way."""
    cls = type(data)
    if cls in _PLAIN_SCALARS:
        return data
    if cls is float:
        if data - data == 0.0:  # NaN and infinities give NaN
            return data
        raise _NotPlain
    if cls is dict:
        out = {}
        for key, value in data.items():
            if type(key) is not str:
                raise _NotPlain
            out[key] = value if type(value) in _PLAIN_SCALARS else _plain_json(value)
        return out
    if cls is list or cls is tuple:
        return [item if type(item) in _PLAIN_SCALARS else _plain_json(item) for item in data]
    raise _NotPlain


def _json_value(data: object) -> JSON:
    try:
        return typing.cast(JSON, _plain_json(data))
    except _NotPlain:
        return _checked_json(data)


def _checked_json(data: object) -> JSON:
    if isinstance(data, float) and data - data != 0.0:
        raise SchemaIssues(["a number is NaN or infinite (JSON has neither)"])
    if data is None or isinstance(data, bool | int | float | str):
        return data
    if isinstance(data, list | tuple):
        return [_checked_json(item) for item in data]
    if isinstance(data, dict) and all(isinstance(key, str) for key in data):
        return {key: _checked_json(value) for key, value in data.items()}
    raise SchemaIssues([f"not JSON data: {data!r} ({type(data).__name__})"])


class _JsonSchema:
    """Any JSON value, copied; NaN and infinities are refused (JSON cannot hold them)."""

    name = "JSON"
    decode = encode = staticmethod(_json_value)


JSON_SCHEMA: Schema[JSON] = _JsonSchema()
"""Accepts any JSON value as is (no further validation); NaN and infinities are refused."""

SchemaLike: TypeAlias = "Schema[T] | type[T]"
"""What a definition accepts as a schema: a :class:`Schema` or a type pydantic can validate."""


def to_schema(value: Schema[T] | type[T] | Any) -> Schema[T]:
    """Adapt ``value`` to a :class:`Schema`: schemas pass through, plain dataclasses get a
    :class:`DataclassSchema` (no dependency), anything else goes to pydantic."""
    if isinstance(value, Schema):
        return value
    if isinstance(value, type) and dataclasses.is_dataclass(value) and not _is_pydantic_dataclass(value):
        return DataclassSchema(typing.cast("type[T]", value))
    from ._pydantic import PydanticSchema

    return PydanticSchema(value)


def _is_pydantic_dataclass(cls: type[Any]) -> bool:
    return hasattr(cls, "__pydantic_validator__")


from ._dataclass import DataclassSchema  # noqa: E402 - needs the names above

__all__ = [
    "JSON",
    "JSON_SCHEMA",
    "DataclassSchema",
    "FunctionSchema",
    "Schema",
    "SchemaIssues",
    "SchemaLike",
    "to_schema",
]
