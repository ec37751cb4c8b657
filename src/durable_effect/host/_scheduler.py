"""The alarm scheduler: one task that sleeps until the earliest alarm in the database and runs what is due.

It keeps no per-instance state beyond the runs in flight (at most ``concurrency``): the alarms table, indexed
by due time, is the only schedule. Each turn reads the earliest alarms (an index range scan), dispatches the
due ones concurrently, and otherwise sleeps on the host's ``Clock`` until the next one — woken early when a
commit arms an earlier alarm.

An alarm row is cleared or moved only by the commit of the run it triggered (the runtime saves the alarm
outcome of every alarm run), so a run cut off by a crash leaves its row in place and runs again after a
restart. A run that fails without committing anything (storage failure, an engine defect, a record the engine
rejects) leaves the row too; the scheduler then moves it back by a growing delay (2 s doubling, at most
5 minutes) and the next run gets ``is_retry=True``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Coroutine
from contextvars import ContextVar
from typing import Any

import anyio
from anyio.abc import TaskStatus

from ..backends.sqlite import AlarmRow, Record, SqliteStore
from ..effect import ClockService, TaggedError
from ..effect._internal.clock import RealClock
from ..jobs._runtime import JobsRuntime

_log = logging.getLogger("durable_effect.host")

_ALARM_RUN: ContextVar[str | None] = ContextVar("durable_effect_alarm_run", default=None)
"""The instance whose alarm the current task is running (set by the scheduler for the runtime's load)."""


class AlarmNotDue(TaggedError):
    """Internal: by the time the run held the instance, its alarm had been moved or cancelled by a call."""

    instance_id: str

    @property
    def message(self) -> str:
        return f"the alarm of {self.instance_id!r} was changed before it ran; skipped"


class AlarmGuardedStore:
    """The store as the runtime sees it: an alarm run re-checks, under the instance's lock, that its alarm is
    still due before the engine runs (a call may have cancelled or moved it after it was dispatched)."""

    def __init__(self, store: SqliteStore, clock: ClockService) -> None:
        self._store = store
        self._clock = clock

    # Plain functions handing back the store's coroutines: one coroutine less on every call's path.
    def load(self, instance_id: str) -> Coroutine[Any, Any, Record | None]:
        if _ALARM_RUN.get() != instance_id:
            return self._store.load(instance_id)
        return self._load_if_due(instance_id)

    async def _load_if_due(self, instance_id: str) -> Record | None:
        record, due = await self._store.load_with_alarm(instance_id)
        if due is None or due > self._clock.current_time_millis():
            raise AlarmNotDue(instance_id=instance_id)
        return record

    def save(
        self, instance_id: str, record: Record | None, alarm: int | None, alarm_changed: bool
    ) -> Coroutine[Any, Any, None]:
        return self._store.save(instance_id, record, alarm, alarm_changed)


class AlarmScheduler:
    """Runs due alarms of ``store`` through ``runtime``; at most ``concurrency`` at a time."""

    def __init__(
        self,
        store: SqliteStore,
        runtime: JobsRuntime,
        clock: ClockService,
        *,
        concurrency: int = 32,
        batch: int = 256,
        retry_base_ms: int = 2_000,
        retry_max_ms: int = 300_000,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._store = store
        self._runtime = runtime
        self._clock = clock
        self._concurrency = concurrency
        self._batch = batch
        self._retry_base_ms = retry_base_ms
        self._retry_max_ms = retry_max_ms
        self._slots = anyio.Semaphore(concurrency)
        self._inflight: set[str] = set()
        self._sleep_scope: anyio.CancelScope | None = None
        self._wake_at = math.inf
        self._armed_since_read = math.inf
        self.fired = 0
        """Alarm runs completed (committed or not), for monitoring."""
        self.retried = 0
        """Alarm runs that committed nothing and were moved back."""

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def notify(self, due: int) -> None:
        """A commit armed an alarm at ``due``: wake up if it is earlier than the current sleep."""
        if due < self._armed_since_read:
            self._armed_since_read = due
        if self._sleep_scope is not None and due < self._wake_at:
            self._sleep_scope.cancel()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The scheduler loop; runs until cancelled (in-flight runs are cancelled with it)."""
        async with anyio.create_task_group() as runs:
            task_status.started()
            while True:
                wake_at = await self._turn(runs)
                if wake_at is not None:
                    await self._sleep_until(wake_at)

    async def _turn(self, runs: anyio.abc.TaskGroup) -> float | None:
        """Dispatch what is due; returns when to wake next, or None to look again at once."""
        self._armed_since_read = math.inf
        skip = set(self._inflight)  # runs in flight now: their rows may still be in what we read
        now = self._clock.current_time_millis()
        try:
            rows, next_due = await self._store.due_alarms(now, len(skip) + self._batch)
        except TaggedError as error:
            _log.error("cannot read alarms (%s); retrying in 1 s", error.message)
            await anyio.sleep(1)
            return None
        dispatched = 0
        for row in rows:
            if row.instance_id in skip or row.instance_id in self._inflight:
                continue
            await self._slots.acquire()
            self._inflight.add(row.instance_id)
            runs.start_soon(self._fire, row)
            dispatched += 1
        if dispatched:
            return None
        wake_at = math.inf if next_due is None else next_due
        if self._armed_since_read < wake_at:
            return None  # a commit armed an earlier alarm while we were reading
        return wake_at

    async def _sleep_until(self, wake_at: float) -> None:
        with anyio.CancelScope() as scope:
            self._sleep_scope = scope
            self._wake_at = wake_at
            try:
                if wake_at == math.inf:
                    await anyio.sleep_forever()
                elif isinstance(self._clock, RealClock):  # sub-millisecond precision on the real clock
                    await anyio.sleep(max(0.0, wake_at / 1_000 - time.time()))
                else:
                    await self._clock.sleep(wake_at - self._clock.current_time_millis())
            finally:
                self._sleep_scope = None
                self._wake_at = math.inf

    async def _fire(self, row: AlarmRow) -> None:
        try:
            _ALARM_RUN.set(row.instance_id)
            try:
                outcome = await self._runtime.alarm(row.instance_id, is_retry=row.attempts > 0)
            except Exception:
                _log.exception("alarm run of %s crashed", row.instance_id)
                committed = False
            else:
                if isinstance(outcome.error, AlarmNotDue):
                    return
                committed = outcome.write
            self.fired += 1
            if not committed:
                await self._retry_later(row)
        finally:
            self._inflight.discard(row.instance_id)
            self._slots.release()
            # Look again: the row may still be due (the run committed nothing and could not be moved back), or
            # a commit during the run re-armed it while the turns skipped it as in flight.
            self.notify(row.due)

    async def _retry_later(self, row: AlarmRow) -> None:
        delay = min(self._retry_max_ms, self._retry_base_ms * 2 ** min(row.attempts, 30))
        due = self._clock.current_time_millis() + delay
        try:
            moved = await self._store.move_alarm(row.instance_id, row.due, due, row.attempts + 1)
        except TaggedError as error:
            _log.error("cannot move the alarm of %s back (%s)", row.instance_id, error.message)
            await anyio.sleep(1)  # hold the slot a moment: the row is still due
            return
        if moved:
            self.retried += 1
            _log.warning(
                "alarm run of %s committed nothing (attempt %d); next attempt in %.0f s",
                row.instance_id,
                row.attempts + 1,
                delay / 1_000,
            )
