"""Schedules: pure recurrence policies that ``retry``/``repeat`` (and the jobs engine) step through.

A schedule is a state machine: ``step(now_ms, input, state, random)`` returns the next state, an output and
the delay in milliseconds before the next recurrence, or ``None`` when the schedule is done. It never sleeps
itself; ``retry``/``repeat`` sleep through the ``Clock`` service, so a ``TestClock`` drives them.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from returns.result import Success

from .clock import Clock
from .core import Effect, Failure, GenOp, ServiceOp
from .duration import Duration, DurationInput, to_millis
from .random import Random, RandomService

Out = TypeVar("Out", covariant=True)
In = TypeVar("In", contravariant=True)
O2 = TypeVar("O2")
I2 = TypeVar("I2")
B = TypeVar("B")
E2 = TypeVar("E2")
R2 = TypeVar("R2")

Step = tuple[Any, Any, float | None]
"""``(next_state, output, delay_ms or None when done)``."""


class Schedule(Generic[Out, In]):
    """A recurrence policy consuming ``In`` (errors for ``retry``, values for ``repeat``) and producing ``Out``."""

    __slots__ = ("_initial", "_step")

    forever: ClassVar[Schedule[int, object]]
    """Recur forever without delay; outputs the recurrence count."""

    def __init__(
        self, initial: Callable[[], Any], step: Callable[[float, Any, Any, RandomService], Step]
    ) -> None:
        self._initial = initial
        self._step = step

    def initial(self) -> Any:
        return self._initial()

    def step(self, now_ms: float, input: Any, state: Any, random: RandomService) -> Step:
        return self._step(now_ms, input, state, random)

    # ---------------------------------------------------------------- constructors

    @staticmethod
    def recurs(times: int) -> Schedule[int, object]:
        """Recur ``times`` times without delay. Like every counting schedule, outputs how many recurrences came
        before this one (0, 1, 2...), so ``repeat(recurs(2))`` returns 2, as in Effect-TS."""
        if times < 0:
            raise ValueError(f"Schedule.recurs needs a non-negative count, got {times}")
        return Schedule(lambda: 0, lambda _now, _in, n, _r: (n + 1, n, 0.0 if n < times else None))

    @staticmethod
    def spaced(duration: DurationInput) -> Schedule[int, object]:
        """Recur forever, waiting ``duration`` between runs."""
        ms = to_millis(duration)
        return Schedule(lambda: 0, lambda _now, _in, n, _r: (n + 1, n, ms))

    @staticmethod
    def fixed(interval: DurationInput) -> Schedule[int, object]:
        """Recur on a fixed grid of ``interval`` from the first step.

        A run that overran its slot by more than a whole interval is followed by the next run at once; missed
        runs do not pile up (as in Effect-TS).
        """
        ms = to_millis(interval)
        if ms <= 0:
            raise ValueError("Schedule.fixed needs a positive interval")

        def step(now: float, _in: object, state: tuple[float | None, float, int], _r: RandomService) -> Step:
            start, last_run, n = state
            if start is None:
                return (now, now + ms, n + 1), n, ms
            if now > last_run + ms:  # running behind: go again now
                return (start, now, n + 1), n, 0.0
            delay = ms - math.fmod(now - start, ms)
            return (start, now + delay, n + 1), n, delay

        return Schedule(lambda: (None, 0.0, 0), step)

    @staticmethod
    def exponential(base: DurationInput, factor: float = 2.0) -> Schedule[Duration, object]:
        """Wait ``base``, ``base*factor``, ``base*factor**2``, ... forever; outputs the delay."""
        ms = to_millis(base)

        def step(_now: float, _in: object, n: int, _r: RandomService) -> Step:
            delay = ms * factor**n
            return n + 1, Duration(delay), delay

        return Schedule(lambda: 0, step)

    @staticmethod
    def fibonacci(base: DurationInput) -> Schedule[Duration, object]:
        """Wait ``base``, ``base``, ``2*base``, ``3*base``, ``5*base``, ... forever; outputs the delay."""
        ms = to_millis(base)

        def step(_now: float, _in: object, state: tuple[float, float], _r: RandomService) -> Step:
            a, b = state
            return (b, a + b), Duration(a), a

        return Schedule(lambda: (ms, ms), step)

    @staticmethod
    def cron(expression: str, tz: str | None = None) -> Schedule[int, object]:
        """Recur at the times matching a 5- or 6-field cron expression (6th field: seconds first) in ``tz``.

        DST-correct through the IANA zone database. Outputs the epoch ms of the next run. An invalid
        expression or zone is a ``ValueError`` here, not later.
        """
        next_after = cron_next(expression, tz)

        def step(now: float, _in: object, n: int, _r: RandomService) -> Step:
            at = next_after(now)
            return n + 1, at, at - now

        return Schedule(lambda: 0, step)

    # ---------------------------------------------------------------- combinators

    def jittered(self, min: float = 0.8, max: float = 1.2) -> Schedule[Out, In]:
        """Multiply each delay by a random factor in ``[min, max)`` from the ``Random`` service."""

        def step(now: float, input: Any, state: Any, rnd: RandomService) -> Step:
            next_state, out, delay = self._step(now, input, state, rnd)
            return next_state, out, None if delay is None else delay * rnd.next_between(min, max)

        return Schedule(self._initial, step)

    def intersect(self, other: Schedule[O2, I2]) -> Schedule[tuple[Out, O2], Any]:
        """Recur while both recur, waiting the longer of the two delays."""

        def step(now: float, input: Any, state: tuple[Any, Any], rnd: RandomService) -> Step:
            s1, o1, d1 = self._step(now, input, state[0], rnd)
            s2, o2, d2 = other._step(now, input, state[1], rnd)
            delay = None if d1 is None or d2 is None else max(d1, d2)
            return (s1, s2), (o1, o2), delay

        return Schedule(lambda: (self._initial(), other._initial()), step)

    __and__ = intersect

    def union(self, other: Schedule[O2, I2]) -> Schedule[tuple[Out, O2], Any]:
        """Recur while either recurs, waiting the shorter of the delays."""

        def step(now: float, input: Any, state: tuple[Any, Any], rnd: RandomService) -> Step:
            s1, o1, d1 = self._step(now, input, state[0], rnd)
            s2, o2, d2 = other._step(now, input, state[1], rnd)
            delays = [d for d in (d1, d2) if d is not None]
            return (s1, s2), (o1, o2), min(delays) if delays else None

        return Schedule(lambda: (self._initial(), other._initial()), step)

    __or__ = union

    def up_to(self, duration: DurationInput) -> Schedule[Out, In]:
        """Stop recurring once ``duration`` has elapsed since the first step."""
        limit = to_millis(duration)

        def step(now: float, input: Any, state: tuple[float | None, Any], rnd: RandomService) -> Step:
            start, inner = state
            start = now if start is None else start
            next_inner, out, delay = self._step(now, input, inner, rnd)
            if delay is None or now - start + delay > limit:
                return (start, next_inner), out, None
            return (start, next_inner), out, delay

        return Schedule(lambda: (None, self._initial()), step)

    def while_input(self, predicate: Callable[[In], bool]) -> Schedule[Out, In]:
        """Stop recurring as soon as an input fails ``predicate``."""

        def step(now: float, input: Any, state: Any, rnd: RandomService) -> Step:
            next_state, out, delay = self._step(now, input, state, rnd)
            return next_state, out, delay if predicate(input) else None

        return Schedule(self._initial, step)

    def compose(self, other: Schedule[O2, Out]) -> Schedule[O2, In]:
        """Feed this schedule's output into ``other``; recur while both do, waiting the longer delay."""

        def step(now: float, input: Any, state: tuple[Any, Any], rnd: RandomService) -> Step:
            s1, o1, d1 = self._step(now, input, state[0], rnd)
            s2, o2, d2 = other._step(now, o1, state[1], rnd)
            return (s1, s2), o2, None if d1 is None or d2 is None else max(d1, d2)

        return Schedule(lambda: (self._initial(), other._initial()), step)

    def map(self, f: Callable[[Out], O2]) -> Schedule[O2, In]:
        """Transform the outputs."""

        def step(now: float, input: Any, state: Any, rnd: RandomService) -> Step:
            next_state, out, delay = self._step(now, input, state, rnd)
            return next_state, f(out), delay

        return Schedule(self._initial, step)


Schedule.forever = Schedule(lambda: 0, lambda _now, _in, n, _r: (n + 1, n, 0.0))


@functools.lru_cache(maxsize=256)  # validating an expression costs more than a next-time lookup; jobs repeat them
def cron_next(expression: str, tz: str | None) -> Callable[[float], float]:
    """Validate a cron expression and zone now; return ``next_after(epoch_ms) -> epoch_ms``."""
    from croniter import croniter

    try:
        zone: _dt.tzinfo = ZoneInfo(tz) if tz is not None else _dt.UTC
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"invalid time zone {tz!r} for cron {expression!r}: not an IANA zone name") from exc
    fields = expression.split()
    if len(fields) not in (5, 6) or not croniter.is_valid(expression, second_at_beginning=len(fields) == 6):
        raise ValueError(
            f"invalid cron expression {expression!r}: expected 5 fields (minute hour day month weekday) "
            f"or 6 with seconds first"
        )
    seconds_first = len(fields) == 6
    # When clocks fall back, wall times in the repeated hour happen twice. As in cron, an expression that names
    # fixed times (no '*' in its second, minute or hour field) runs once, at the first of the two; one with a
    # wildcard there ("every 15 minutes", "every hour") runs on the real elapsed time, so in both.
    time_fields = fields[:3] if seconds_first else fields[:2]
    once_per_wall_time = not any("*" in field for field in time_fields)

    def next_after(now_ms: float) -> float:
        start = _dt.datetime.fromtimestamp(now_ms / 1_000, tz=zone)
        it = croniter(expression, start, second_at_beginning=seconds_first)
        while True:
            nxt: _dt.datetime = it.get_next(_dt.datetime)
            at = nxt.timestamp() * 1_000
            if not once_per_wall_time or not _second_of_repeated_wall_time(at, zone):
                return at

    return next_after


def _second_of_repeated_wall_time(epoch_ms: float, zone: _dt.tzinfo) -> bool:
    """True when the wall time at ``epoch_ms`` already happened earlier the same night (clocks fell back)."""
    local = _dt.datetime.fromtimestamp(epoch_ms / 1_000, tz=zone)
    if local.fold == 0:
        return False
    return local.replace(fold=0).timestamp() != local.timestamp()


def retry(effect: Effect[B, E2, R2], schedule: Schedule[Any, Any] | None, times: int | None) -> Effect[B, E2, R2]:
    if schedule is None and times is None:
        raise ValueError("retry needs a schedule and/or times=n")
    policy: Schedule[Any, Any]
    if schedule is None:
        policy = Schedule.recurs(times or 0)
    elif times is not None:
        policy = schedule.intersect(Schedule.recurs(times))
    else:
        policy = schedule
    return GenOp(_retry_loop, (effect, policy), None)


def _retry_loop(effect: Effect[Any, Any, Any], schedule: Schedule[Any, Any]) -> Any:
    state = schedule.initial()
    while True:
        exit_ = yield effect.exit()
        if isinstance(exit_, Success):
            return exit_.unwrap()
        cause = exit_.failure()
        failures = cause.failures()
        if not failures or cause.defects() or cause.is_interrupted():
            return (yield Failure(cause))  # defects are not retried
        clock = yield ServiceOp(Clock)
        rnd = yield ServiceOp(Random)
        state, _out, delay = schedule.step(clock.current_time_millis(), failures[0], state, rnd)
        if delay is None:
            return (yield Failure(cause))
        yield Effect.sleep(delay)


def repeat(effect: Effect[B, E2, R2], schedule: Schedule[O2, B]) -> Effect[O2, E2, R2]:
    return GenOp(_repeat_loop, (effect, schedule), None)


def _repeat_loop(effect: Effect[Any, Any, Any], schedule: Schedule[Any, Any]) -> Any:
    state = schedule.initial()
    while True:
        value = yield effect
        clock = yield ServiceOp(Clock)
        rnd = yield ServiceOp(Random)
        state, out, delay = schedule.step(clock.current_time_millis(), value, state, rnd)
        if delay is None:
            return out
        yield Effect.sleep(delay)
