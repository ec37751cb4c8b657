"""``AcceleratedClock``: real time, sped up — for demos and tests where hours must pass in seconds."""

from __future__ import annotations

import time

import anyio


class AcceleratedClock:
    """A :class:`~durable_effect.ClockService` on which time runs ``factor`` times faster than real time.

    It starts at ``start`` (epoch ms; default: now) and then advances continuously: with ``factor=600`` a
    30-minute schedule comes round every 3 real seconds. Give it to a host
    (``Host(jobs, path, clock=AcceleratedClock(600))``) and everything on that host sees it: the alarm
    scheduler, job handlers (``Clock.current_time_millis()``, ``Effect.sleep``), retries, recorded times and
    telemetry timestamps. Times it reports are stored in the database like any other, so a file written
    under an accelerated clock holds times in that clock's future; use a separate file for demos.
    """

    def __init__(self, factor: float, start: int | None = None) -> None:
        if not factor > 0:
            raise ValueError(f"AcceleratedClock factor must be positive, got {factor!r}")
        self.factor = float(factor)
        self.start = time.time_ns() // 1_000_000 if start is None else int(start)
        self._origin = time.monotonic_ns()

    def current_time_millis(self) -> int:
        elapsed_ms = (time.monotonic_ns() - self._origin) / 1_000_000
        return self.start + int(elapsed_ms * self.factor)

    async def sleep(self, millis: float) -> None:
        await anyio.sleep(max(0.0, millis) / self.factor / 1_000)

    def real_seconds(self, millis: float) -> float:
        """How long ``millis`` of this clock's time takes in real seconds."""
        return millis / self.factor / 1_000

    def __repr__(self) -> str:
        return f"AcceleratedClock(factor={self.factor:g}, start={self.start})"
