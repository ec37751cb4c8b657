"""Time as a service: the ``Clock`` tag, the real clock, and ``sleep`` through it."""

from __future__ import annotations

import time
from typing import Any, Never, Protocol

import anyio
from returns.result import Success

from .context import Context, Tag, lookup_service
from .core import Async, Effect, Exit, ServiceOp, YieldNow
from .duration import DurationInput, to_millis


class ClockService(Protocol):
    """What a clock offers: the current epoch time in milliseconds and a way to wait."""

    def current_time_millis(self) -> int: ...

    async def sleep(self, millis: float) -> None: ...


class RealClock:
    """Wall-clock time; sleeps with anyio."""

    def current_time_millis(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, millis: float) -> None:
        await anyio.sleep(max(0.0, millis) / 1_000)


_REAL_CLOCK = RealClock()


class Clock(Tag["Clock", ClockService]):
    """The clock every time-based operation uses (replace it with ``TestClock`` in tests)."""

    @classmethod
    def default(cls) -> ClockService:
        return _REAL_CLOCK

    @staticmethod
    def current_time_millis() -> Effect[int, Never, Never]:
        """The current epoch time in milliseconds, from the clock in use."""
        return ServiceOp(Clock).map(lambda clock: clock.current_time_millis())


_DONE: Exit = Success(None)


async def _sleep_on(clock: ClockService, millis: float) -> Exit:
    await clock.sleep(millis)
    return _DONE


def sleep(duration: DurationInput) -> Effect[None, Never, Never]:
    millis = to_millis(duration)  # decode now: a bad duration is an error at construction, naming the input
    if millis <= 0:
        return YieldNow()  # no time passes: only let other tasks run (and work under run_sync)

    def run(ctx: Context) -> Any:
        return _sleep_on(lookup_service(ctx, Clock), millis)

    return Async(run)


def now_millis(ctx: Context) -> int:
    clock: ClockService = lookup_service(ctx, Clock)
    return clock.current_time_millis()
