"""Durations: exact millisecond amounts of time, decoded from numbers, timedeltas and readable strings."""

from __future__ import annotations

import datetime as _dt
import math
import re
from functools import total_ordering
from typing import TypeAlias

_UNIT_MILLIS: dict[str, float] = {
    "nano": 1e-6,
    "nanos": 1e-6,
    "micro": 1e-3,
    "micros": 1e-3,
    "milli": 1,
    "millis": 1,
    "millisecond": 1,
    "milliseconds": 1,
    "second": 1_000,
    "seconds": 1_000,
    "minute": 60_000,
    "minutes": 60_000,
    "hour": 3_600_000,
    "hours": 3_600_000,
    "day": 86_400_000,
    "days": 86_400_000,
    "week": 604_800_000,
    "weeks": 604_800_000,
}
_PATTERN = re.compile(r"^(-?\d+(?:\.\d+)?) ([a-z]+)$")


@total_ordering
class Duration:
    """A non-negative span of time in milliseconds (fractions allowed; ``Duration.infinity`` is unbounded)."""

    __slots__ = ("_ms",)

    def __init__(self, ms: float) -> None:
        if math.isnan(ms) or ms < 0:
            raise ValueError(f"a duration must be a non-negative number of milliseconds, got {ms!r}")
        self._ms = float(ms)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other._ms == self._ms

    def __hash__(self) -> int:
        return hash(self._ms)

    # -- constructors --
    @staticmethod
    def millis(n: float) -> Duration:
        return Duration(n)

    @staticmethod
    def seconds(n: float) -> Duration:
        return Duration(n * 1_000)

    @staticmethod
    def minutes(n: float) -> Duration:
        return Duration(n * 60_000)

    @staticmethod
    def hours(n: float) -> Duration:
        return Duration(n * 3_600_000)

    @staticmethod
    def days(n: float) -> Duration:
        return Duration(n * 86_400_000)

    @staticmethod
    def weeks(n: float) -> Duration:
        return Duration(n * 604_800_000)

    @staticmethod
    def decode(value: DurationInput) -> Duration:
        """Accept a ``Duration``, a ``timedelta``, a number of milliseconds or a string like ``"30 minutes"``.

        Raises ``ValueError`` naming the input when it cannot be read.
        """
        if isinstance(value, Duration):
            return value
        if isinstance(value, _dt.timedelta):
            return Duration(value / _dt.timedelta(milliseconds=1))
        if isinstance(value, bool):
            raise ValueError(f"invalid duration {value!r}: expected milliseconds, a timedelta or e.g. '5 seconds'")
        if isinstance(value, int | float):
            if math.isnan(value) or value < 0:
                raise ValueError(f"invalid duration {value!r}: milliseconds must be a non-negative number")
            return Duration(float(value))
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("infinity", "forever"):
                return Duration.infinity
            match = _PATTERN.match(text)
            if match is None or match.group(2) not in _UNIT_MILLIS:
                raise ValueError(
                    f"invalid duration {value!r}: expected '<number> <unit>' with a unit among "
                    f"millis, seconds, minutes, hours, days, weeks (singular or plural), e.g. '30 minutes'"
                )
            amount = float(match.group(1))
            if amount < 0:
                raise ValueError(f"invalid duration {value!r}: must not be negative")
            return Duration(amount * _UNIT_MILLIS[match.group(2)])
        raise ValueError(f"invalid duration {value!r} of type {type(value).__name__}")

    # -- conversions --
    def to_millis(self) -> float:
        return self._ms

    def to_seconds(self) -> float:
        return self._ms / 1_000

    def to_timedelta(self) -> _dt.timedelta:
        return _dt.timedelta(milliseconds=self._ms)

    def is_infinite(self) -> bool:
        return math.isinf(self._ms)

    # -- arithmetic and order (with any DurationInput: a Duration, timedelta, milliseconds or "5 seconds") --
    def __add__(self, other: DurationInput) -> Duration:
        ms = _millis_of(other)
        return NotImplemented if ms is None else Duration(self._ms + ms)

    __radd__ = __add__

    def __sub__(self, other: DurationInput) -> Duration:
        ms = _millis_of(other)
        return NotImplemented if ms is None else Duration(max(0.0, self._ms - ms))

    def __mul__(self, factor: float) -> Duration:
        return Duration(self._ms * factor)

    __rmul__ = __mul__

    def __truediv__(self, divisor: float) -> Duration:
        return Duration(self._ms / divisor)

    def __lt__(self, other: DurationInput) -> bool:
        ms = _millis_of(other)
        return NotImplemented if ms is None else self._ms < ms

    def __le__(self, other: DurationInput) -> bool:
        ms = _millis_of(other)
        return NotImplemented if ms is None else self._ms <= ms

    def __gt__(self, other: DurationInput) -> bool:
        ms = _millis_of(other)
        return NotImplemented if ms is None else self._ms > ms

    def __ge__(self, other: DurationInput) -> bool:
        ms = _millis_of(other)
        return NotImplemented if ms is None else self._ms >= ms

    def __repr__(self) -> str:
        return f"Duration({self._ms:g} ms)"

    def __str__(self) -> str:
        return format_millis(self._ms)

    zero: _ClassDuration
    infinity: _ClassDuration


def _millis_of(value: object) -> float | None:
    """``value``'s milliseconds if it is a duration input (a bad one raises ``ValueError``), else ``None``."""
    if isinstance(value, Duration):
        return value._ms
    if isinstance(value, _dt.timedelta | int | float | str) and not isinstance(value, bool):
        return Duration.decode(value)._ms
    return None


_ClassDuration: TypeAlias = "Duration"
Duration.zero = Duration(0)
Duration.infinity = Duration(math.inf)

DurationInput: TypeAlias = "Duration | _dt.timedelta | int | float | str"
"""Everything :meth:`Duration.decode` accepts."""


def to_millis(value: DurationInput) -> float:
    return Duration.decode(value)._ms


def format_millis(ms: float) -> str:
    """``90000`` → ``"1 minute 30 seconds"`` (for logs and docs)."""
    if math.isinf(ms):
        return "infinity"
    parts: list[str] = []
    remaining = ms
    for unit, size in (("week", 604_800_000), ("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000),
                       ("second", 1_000)):
        count = int(remaining // size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
            remaining -= count * size
    if remaining or not parts:
        parts.append(f"{remaining:g} millis")
    return " ".join(parts)
