"""A schema for dataclasses of JSON values, with no dependency (usable where pydantic is not)."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import math
import types
import typing
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar, Union

from . import JSON, SchemaIssues, _json_value

T = TypeVar("T")

# A compiled check of one type, each way: ``decode(data, path, issues)`` returns the value ``data`` stands for and
# ``encode(value, path, issues)`` the JSON data of ``value``; both append what is wrong to ``issues`` instead.
# Each type hint is turned into one once, when the schema is made, so neither walks type hints.
_Check = Callable[[Any, str, list[str]], Any]


class _Codec(NamedTuple):
    decode: _Check
    encode: _Check


class DataclassSchema(Generic[T]):
    """Decode a JSON object into the dataclass ``cls`` (checking field types) and encode it back (checking them
    too, so a value that would not decode is never written).

    Supported field types: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any`` (any JSON value),
    ``list[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[K, X]`` (``K``: ``str``, a ``NewType`` of it or a
    ``Literal`` of strings), unions/optionals of those, ``Literal`` of strings, integers, booleans, ``None`` and
    enum members with such values, ``NewType``s of these, and nested dataclasses. Any other field type is refused
    when the schema is made (``TypeError`` naming the field).
    """

    def __init__(self, cls: type[T]) -> None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"DataclassSchema needs a dataclass, got {cls!r}")
        self._cls = cls
        self._codec = _schema_codec(cls)

    @property
    def name(self) -> str:
        return self._cls.__name__

    def decode(self, data: object) -> T:
        if isinstance(data, self._cls):
            data = self.encode(data)
        issues: list[str] = []
        value = self._codec.decode(data, "", issues)
        if issues:
            raise SchemaIssues(issues)
        return typing.cast(T, value)

    def encode(self, value: T) -> JSON:
        if not isinstance(value, self._cls):
            raise SchemaIssues([f"expected a {self.name}, got {type(value).__name__}"])
        issues: list[str] = []
        data = self._codec.encode(value, "", issues)
        if issues:
            raise SchemaIssues(issues)
        return typing.cast(JSON, data)


def _at(path: str) -> str:
    return path or "(root)"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ---------------------------------------------------------------- dataclasses

_CODECS: dict[type[Any], _Codec] = {}
"""The codec of each dataclass, once all of it compiled."""


def _schema_codec(cls: type[Any]) -> _Codec:
    """The codec of ``cls``, compiling it (and the dataclasses it refers to) if needed: a field type that is not
    supported raises ``TypeError`` here, and then nothing of this compilation is kept."""
    codec = _CODECS.get(cls)
    if codec is None:
        building: dict[type[Any], _Codec] = {}
        codec = _dataclass_codec(cls, building)
        _CODECS.update(building)
    return codec


def _dataclass_codec(cls: type[Any], building: dict[type[Any], _Codec]) -> _Codec:
    """The codec of the dataclass ``cls``; ``building`` holds those being compiled (a field may refer to its own
    class)."""
    codec = _CODECS.get(cls) or building.get(cls)
    if codec is not None:
        return codec
    plan: list[tuple[str, _Codec, bool]] = []
    known: set[str] = set()
    name = cls.__name__

    def decode(data: Any, path: str, issues: list[str]) -> Any:
        if not isinstance(data, dict):
            issues.append(f"{_at(path)}: expected an object for {name}, got {type(data).__name__}")
            return None
        values: dict[str, Any] = {}
        for field, field_codec, required in plan:
            if field not in data:
                if required:
                    issues.append(f"{_join(path, field)}: field required")
                continue
            values[field] = field_codec.decode(data[field], _join(path, field), issues)
        if not known.issuperset(data):
            for extra in sorted((key for key in data if key not in known), key=str):
                issues.append(f"{_join(path, str(extra))}: unknown field")
        if issues:
            return None
        try:
            return cls(**values)
        except (TypeError, ValueError, KeyError) as exc:  # ``__post_init__`` refused the values
            issues.append(f"{_at(path)}: {name}: {type(exc).__name__}: {exc}")
            return None

    def encode(value: Any, path: str, issues: list[str]) -> Any:
        if not isinstance(value, cls):
            issues.append(f"{_at(path)}: expected a {name}, got {type(value).__name__}")
            return None
        data = {}
        for field, field_codec, _ in plan:  # the fields of ``cls`` only: a subclass's own fields are not written
            try:
                item = getattr(value, field)
            except AttributeError:
                issues.append(f"{_join(path, field)}: missing")
                continue
            data[field] = field_codec.encode(item, _join(path, field), issues)
        return data

    codec = building[cls] = _Codec(decode, encode)  # before the fields: a recursive field finds it
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if not field.init:  # set by the class itself (``__post_init__`` or its default): neither written nor read
            continue
        required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        plan.append((field.name, _codec(hints[field.name], building, f"{name}.{field.name}"), required))
        known.add(field.name)
    _check_constructor(cls, known)
    return codec


def _check_constructor(cls: type[Any], known: set[str]) -> None:
    """Refuse a dataclass whose ``__init__`` needs an argument that is not a field (an ``InitVar`` without a
    default, say): no data could ever decode into it."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - no signature to check
        return
    for parameter in parameters:
        needed = parameter.default is inspect.Parameter.empty and parameter.kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        )
        if needed and parameter.name not in known:
            raise TypeError(
                f"{cls.__name__}.{parameter.name}: __init__ needs it but it is not a field the schema can fill"
            )


# ---------------------------------------------------------------- field types


def _codec(hint: Any, building: dict[type[Any], _Codec], where: str) -> _Codec:
    """The codec of a field type (``where`` names the field); ``TypeError`` if the type is not supported."""
    while isinstance(hint, typing.NewType):
        hint = hint.__supertype__
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return _ANY
    if hint is None or hint is type(None):
        return _NONE
    if origin in (Union, types.UnionType):
        return _union_codec(hint, [_codec(option, building, where) for option in args])
    if origin is typing.Literal:
        return _literal_codec(args, where)
    if hint is list or origin is list:
        return _sequence_codec(_codec(args[0] if args else Any, building, where), list)
    if hint is tuple or origin is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return _sequence_codec(_codec(args[0] if args else Any, building, where), tuple)
        if args == ((),):  # ``tuple[()]`` before Python 3.11
            args = ()
        return _fixed_tuple_codec([_codec(item, building, where) for item in args])
    if hint is dict or origin is dict:
        key, value = args or (str, Any)
        while isinstance(key, typing.NewType):
            key = key.__supertype__
        keys = typing.get_args(key) if typing.get_origin(key) is typing.Literal else None
        if key is not str and not (keys and all(type(name) is str for name in keys)):
            raise TypeError(
                f"{where}: dict keys must be str or a Literal of strings (JSON object keys are), got {key!r}"
            )
        return _dict_codec(_codec(value, building, where), frozenset(keys) if keys else None)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_codec(hint, building)
    if hint is float:
        return _FLOAT
    if hint is str:
        return _STR
    if hint is int:
        return _INT
    if hint is bool:
        return _BOOL
    raise TypeError(f"{where}: unsupported field type {hint!r} (see DataclassSchema for the supported ones)")


def _json_check(data: Any, path: str, issues: list[str]) -> Any:
    try:
        return _json_value(data)
    except SchemaIssues as exc:
        issues.extend(f"{_at(path)}: {issue}" for issue in exc.issues)
        return None


_ANY = _Codec(_json_check, _json_check)


def _check_none(data: Any, path: str, issues: list[str]) -> Any:
    if data is not None:
        issues.append(f"{_at(path)}: expected null, got {type(data).__name__}")
    return None


_NONE = _Codec(_check_none, _check_none)


def _union_codec(hint: Any, options: list[_Codec]) -> _Codec:
    def first_fit(data: Any, path: str, issues: list[str], way: int) -> Any:
        for option in options:
            attempt: list[str] = []
            value = option[way](data, path, attempt)
            if not attempt:
                return value
        issues.append(f"{_at(path)}: {data!r} matches none of {hint}")
        return None

    return _both_ways(first_fit)


def _both_ways(check: Callable[[Any, str, list[str], int], Any]) -> _Codec:
    """A codec from one check that takes the direction (0: decode, 1: encode) as its last argument."""

    def decode(data: Any, path: str, issues: list[str]) -> Any:
        return check(data, path, issues, 0)

    def encode(value: Any, path: str, issues: list[str]) -> Any:
        return check(value, path, issues, 1)

    return _Codec(decode, encode)


_LITERAL_TYPES = (str, int, bool, type(None))


def _literal_codec(allowed: tuple[Any, ...], where: str) -> _Codec:
    """Each option is held as JSON by its value (an enum member by its ``value``); type and value must both
    match, so ``1`` is not ``True`` nor ``1.0``."""
    options: dict[tuple[type[Any], Any], Any] = {}  # (type, JSON value) -> the option
    for option in allowed:
        held = option.value if isinstance(option, enum.Enum) else option
        if type(held) not in _LITERAL_TYPES:
            raise TypeError(f"{where}: a Literal of {option!r} cannot be held in JSON (str, int, bool or None)")
        options[(type(held), held)] = option

    def decode(data: Any, path: str, issues: list[str]) -> Any:
        if isinstance(data, list | dict) or (type(data), data) not in options:
            issues.append(f"{_at(path)}: expected one of {list(allowed)}, got {data!r}")
            return data
        return options[(type(data), data)]

    def encode(value: Any, path: str, issues: list[str]) -> Any:
        if not any(type(value) is type(option) and value == option for option in allowed):
            issues.append(f"{_at(path)}: expected one of {list(allowed)}, got {value!r}")
            return value
        return value.value if isinstance(value, enum.Enum) else value

    return _Codec(decode, encode)


def _sequence_codec(item: _Codec, kind: type[list[Any]] | type[tuple[Any, ...]]) -> _Codec:
    """``list[X]`` or ``tuple[X, ...]``: a JSON list, decoded to ``kind`` (a tuple also from a list)."""
    readable = list if kind is list else (list, tuple)

    def decode(data: Any, path: str, issues: list[str]) -> Any:
        if not isinstance(data, readable):
            issues.append(f"{_at(path)}: expected a list, got {type(data).__name__}")
            return None
        return kind(item.decode(element, f"{path}[{i}]", issues) for i, element in enumerate(data))

    def encode(value: Any, path: str, issues: list[str]) -> Any:
        if not isinstance(value, kind):
            issues.append(f"{_at(path)}: expected a {kind.__name__}, got {type(value).__name__}")
            return None
        return [item.encode(element, f"{path}[{i}]", issues) for i, element in enumerate(value)]

    return _Codec(decode, encode)


def _fixed_tuple_codec(items: list[_Codec]) -> _Codec:
    """``tuple[X, Y]``: a JSON list of exactly that many items, decoded to a tuple."""
    size = len(items)

    def decode(data: Any, path: str, issues: list[str]) -> Any:
        if not isinstance(data, list | tuple) or len(data) != size:
            issues.append(f"{_at(path)}: expected a list of {size} items, got {_describe(data)}")
            return None
        return tuple(
            item.decode(element, f"{path}[{i}]", issues)
            for i, (item, element) in enumerate(zip(items, data, strict=True))
        )

    def encode(value: Any, path: str, issues: list[str]) -> Any:
        if not isinstance(value, tuple) or len(value) != size:
            issues.append(f"{_at(path)}: expected a tuple of {size} items, got {_describe(value)}")
            return None
        return [
            item.encode(element, f"{path}[{i}]", issues)
            for i, (item, element) in enumerate(zip(items, value, strict=True))
        ]

    return _Codec(decode, encode)


def _describe(data: Any) -> str:
    return f"{len(data)} items" if isinstance(data, list | tuple) else type(data).__name__


def _dict_codec(item: _Codec, keys: frozenset[str] | None = None) -> _Codec:
    def check(data: Any, path: str, issues: list[str], way: int) -> Any:
        if not isinstance(data, dict):
            issues.append(f"{_at(path)}: expected an object, got {type(data).__name__}")
            return None
        out = {}
        for key, element in data.items():
            if not isinstance(key, str):
                issues.append(f"{_at(path)}: keys must be strings, got {key!r}")
                continue
            if keys is not None and key not in keys:
                issues.append(f"{_at(path)}: key {key!r} is not one of {sorted(keys)}")
                continue
            out[str.__str__(key)] = item[way](element, _join(path, key), issues)
        return out

    return _both_ways(check)


def _decode_float(data: Any, path: str, issues: list[str]) -> Any:
    if isinstance(data, int | float) and not isinstance(data, bool):
        try:
            number = float(data)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
        issues.append(f"{_at(path)}: {data!r} is NaN or infinite (JSON has neither)")
        return None
    issues.append(f"{_at(path)}: expected a number, got {type(data).__name__}")
    return None


_FLOAT = _Codec(_decode_float, _decode_float)


def _scalar_codec(hint: type[Any], exact: Callable[[Any], Any]) -> _Codec:
    """``str``/``int``/``bool``: decoded as is; encoded as the exact JSON type (an ``IntEnum`` as its int)."""
    reject_bool = hint is int

    def decode(data: Any, path: str, issues: list[str]) -> Any:
        if isinstance(data, hint) and not (reject_bool and isinstance(data, bool)):
            return data
        issues.append(f"{_at(path)}: expected {hint.__name__}, got {type(data).__name__}")
        return None

    def encode(value: Any, path: str, issues: list[str]) -> Any:
        if value.__class__ is hint:
            return value
        if isinstance(value, hint) and not (reject_bool and isinstance(value, bool)):
            return exact(value)
        issues.append(f"{_at(path)}: expected {hint.__name__}, got {type(value).__name__}")
        return None

    return _Codec(decode, encode)


_STR = _scalar_codec(str, str.__str__)
_INT = _scalar_codec(int, int.__index__)
_BOOL = _scalar_codec(bool, bool)
