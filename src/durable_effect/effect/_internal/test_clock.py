"""A virtual clock for tests: time moves only when the test says so."""

from __future__ import annotations

import heapq
import itertools

import anyio

from .duration import DurationInput, to_millis


class TestClock:
    """A :class:`~durable_effect.Clock` whose time moves only through :meth:`adjust` and :meth:`set_time`.

    Install it with ``eff.provide_service(Clock, clock)``. Sleepers wake in due-time order, each seeing the
    clock at its own due time, and each runs until it blocks again before the next one wakes.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, start: int = 0) -> None:
        self._now: float = start
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, anyio.Event]] = []

    def current_time_millis(self) -> int:
        return int(self._now)

    async def sleep(self, millis: float) -> None:
        if millis <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        heapq.heappush(self._sleepers, (self._now + millis, next(self._seq), event))
        await event.wait()

    @property
    def pending_sleepers(self) -> int:
        return len(self._sleepers)

    def next_wake_time(self) -> float | None:
        return self._sleepers[0][0] if self._sleepers else None

    async def adjust(self, duration: DurationInput) -> None:
        """Move time forward by ``duration``, waking due sleepers in order."""
        await self.set_time(self._now + to_millis(duration))

    async def set_time(self, millis: float) -> None:
        """Move time to ``millis`` (epoch ms), waking due sleepers in order; time never goes backwards."""
        await anyio.wait_all_tasks_blocked()  # let freshly started fibers reach their sleeps first
        while self._sleepers and self._sleepers[0][0] <= millis:
            due, _, event = heapq.heappop(self._sleepers)
            self._now = max(self._now, due)
            event.set()
            await anyio.wait_all_tasks_blocked()
        self._now = max(self._now, millis)
