"""A virtual clock for tests: time moves only when the test says so."""

from __future__ import annotations

import asyncio
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
        entry = (self._now + millis, next(self._seq), event)
        heapq.heappush(self._sleepers, entry)
        try:
            await event.wait()
        except BaseException:  # interrupted (a timeout, a lost race): no longer a sleeper
            if not event.is_set():
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)
            raise

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
        await _wait_all_tasks_blocked()  # let freshly started fibers reach their sleeps first
        while self._sleepers and self._sleepers[0][0] <= millis:
            due, _, event = heapq.heappop(self._sleepers)
            self._now = max(self._now, due)
            event.set()
            await _wait_all_tasks_blocked()
        self._now = max(self._now, millis)


_QUIET_TURNS = 3
"""Loop turns in a row with every other task blocked before asyncio counts as settled."""


async def _wait_all_tasks_blocked() -> None:
    """Return once every other task is blocked.

    On trio this is exact. On asyncio, anyio's check misses wake-ups still queued as loop callbacks (a task
    that just finished wakes the task awaiting it through ``call_soon``), so a fiber could see time moved past
    its own wake-up; it also sleeps 0.1 s of real time while any task is busy. Instead, yield to the loop until
    it has stayed quiet for a few turns in a row: any queued wake-up chain shows up as a runnable task.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        await anyio.wait_all_tasks_blocked()
        return
    this_task = asyncio.current_task()
    _settling.add(this_task)
    try:
        quiet = 0
        while quiet < _QUIET_TURNS:
            await asyncio.sleep(0)
            blocked = True
            for task in asyncio.all_tasks():
                if task in _settling:  # waiting here too (an advance while a sleeper drives): not busy
                    continue
                waiter = getattr(task, "_fut_waiter", None)
                if waiter is None or waiter.done():
                    blocked = False
                    break
            quiet = quiet + 1 if blocked else 0
    finally:
        _settling.discard(this_task)


_settling: set[asyncio.Task[object] | None] = set()
"""Tasks inside :func:`_wait_all_tasks_blocked` on asyncio. Two of them would otherwise each see the other
running and wait forever; whichever returns first wakes a sleeper, which the other then sees as runnable."""


def _current_task() -> object:
    """The running asyncio task (``None`` on trio, where settling needs no bookkeeping)."""
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def _woken(task: object) -> None:
    """``task``, settling in :func:`_wait_all_tasks_blocked`, was just woken: it has work to do now."""
    _settling.discard(task)
