"""The harness's clock: virtual time that moves by itself when every sleeping handler is waiting on it.

Nothing else moves time while a call runs, so a handler sleeping on a plain ``TestClock`` would wait forever.
Here the first sleeper becomes the *driver*: once every other task is blocked, it wakes the earliest sleeper
(setting the time to its due time), lets it run until it blocks again, and so on until its own turn comes;
then it hands the driving to the earliest sleeper left. Exactly one sleeper drives at a time, so sleepers in
concurrent calls wake in due-time order, each seeing the clock at its own due time.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

import anyio

from ..effect._internal.test_clock import TestClock, _current_task, _wait_all_tasks_blocked, _woken


@dataclass(order=True)
class _Sleeper:
    due: float
    seq: int
    signal: anyio.Event = field(default_factory=anyio.Event, compare=False)
    woken: bool = field(default=False, compare=False)
    promoted: bool = field(default=False, compare=False)
    task: object = field(default=None, compare=False)


class HarnessClock(TestClock):
    """A :class:`TestClock` on which a sleep passes in virtual time without anyone calling ``adjust``."""

    __test__ = False

    def __init__(self, start: int = 0) -> None:
        super().__init__(start)
        self._heap: list[_Sleeper] = []
        self._order = itertools.count()
        self._driving = False

    @property
    def pending_sleepers(self) -> int:
        return len(self._heap)

    def next_wake_time(self) -> float | None:
        return self._heap[0].due if self._heap else None

    async def sleep(self, millis: float) -> None:
        if millis <= 0:
            await anyio.lowlevel.checkpoint()
            return
        me = _Sleeper(self._now + millis, next(self._order), task=_current_task())
        heapq.heappush(self._heap, me)
        try:
            while not me.woken:
                if not self._driving or me.promoted:
                    me.promoted = False
                    await self._drive(me)
                else:
                    await me.signal.wait()
                    if not me.woken:
                        me.signal = anyio.Event()
        except BaseException:  # cancelled (a timeout, a race lost): leave the queue, and never strand the others
            if not me.woken:
                self._heap.remove(me)
                heapq.heapify(self._heap)
                self._hand_over()
            raise

    async def _drive(self, me: _Sleeper) -> None:
        self._driving = True
        try:
            while not me.woken:
                await _wait_all_tasks_blocked()  # everyone else has reached a sleep (or waits on something else)
                if not me.woken:  # (an advance of the harness may have woken it meanwhile)
                    self._wake(heapq.heappop(self._heap))
        finally:
            self._driving = False
            self._hand_over()

    def _hand_over(self) -> None:
        """With nobody driving while others sleep, the earliest of them drives now."""
        if not self._driving and self._heap:
            successor = self._heap[0]
            successor.promoted = True
            successor.signal.set()

    def _wake(self, sleeper: _Sleeper) -> None:
        self._now = max(self._now, sleeper.due)
        sleeper.woken = True
        sleeper.signal.set()
        _woken(sleeper.task)  # if it is driving, whoever else waits for quiet must see it run first

    async def set_time(self, millis: float) -> None:
        """Move time to ``millis``, waking due sleepers in order; time never goes backwards."""
        await _wait_all_tasks_blocked()
        while self._heap and self._heap[0].due <= millis:
            self._wake(heapq.heappop(self._heap))
            await _wait_all_tasks_blocked()
        self._now = max(self._now, millis)

    async def jump(self, millis: float) -> None:
        """``set_time`` without settling the event loop when nobody sleeps (the common case between alarms)."""
        if self._heap:
            await self.set_time(millis)
        else:
            self._now = max(self._now, millis)
