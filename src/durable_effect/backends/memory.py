"""The in-memory backend: records held as JSON text (so values are copied and must be JSON), alarms in a
heap ordered by due time. Counts storage operations per instance and can inject storage faults, for tests."""

from __future__ import annotations

import heapq
import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from ..effect import RandomService
from ..effect._internal.clock import RealClock
from ..jobs._errors import SchedulerError, StorageError
from ..jobs._protocol import Request
from ..jobs._runtime import JobsRuntime
from ..jobs._telemetry import make_tracker

if TYPE_CHECKING:
    from ..effect import ClockService
    from ..jobs._registry import DurableJobs

OPERATIONS = ("get", "put", "delete", "set_alarm", "delete_alarm")
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps with options would build one per call


@dataclass
class _Fault:
    operation: str
    remaining: int


class MemoryStore:
    """An :class:`~durable_effect.jobs.InstanceStore` in a dict; ``save`` is atomic by construction."""

    def __init__(self) -> None:
        self._records: dict[str, str] = {}
        self._alarms: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []
        self._ops: dict[str, Counter[str]] = {}
        self._faults: list[_Fault] = []

    # ---------------------------------------------------------------- InstanceStore

    async def load(self, instance_id: str) -> dict[str, Any] | None:
        if self._faults:
            self._check_fault(["get"])
        self._count(instance_id, "reads")
        text = self._records.get(instance_id)
        return None if text is None else json.loads(text)

    async def save(
        self, instance_id: str, record: dict[str, Any] | None, alarm: int | None, alarm_changed: bool
    ) -> None:
        if self._faults:
            operations = ["delete" if record is None else "put"]
            if alarm_changed:
                operations.append("delete_alarm" if alarm is None else "set_alarm")
            self._check_fault(operations)  # before any change: a fault leaves nothing behind
        text = None if record is None else _ENCODER.encode(record)
        if text is None:
            self._records.pop(instance_id, None)
        else:
            self._records[instance_id] = text
        self._count(instance_id, "writes")
        if alarm_changed:
            self._count(instance_id, "alarm_writes")
            if alarm is None:
                self._alarms.pop(instance_id, None)
            else:
                self._alarms[instance_id] = alarm
                heapq.heappush(self._heap, (alarm, instance_id))

    # ---------------------------------------------------------------- alarms

    def next_alarm(self) -> tuple[int, str] | None:
        """The earliest armed alarm ``(due_ms, instance_id)``, skipping superseded heap entries."""
        while self._heap:
            due, instance_id = self._heap[0]
            if self._alarms.get(instance_id) == due:
                return due, instance_id
            heapq.heappop(self._heap)
        return None

    def alarm_of(self, instance_id: str) -> int | None:
        return self._alarms.get(instance_id)

    def instance_ids(self) -> list[str]:
        return sorted(self._records)

    # ---------------------------------------------------------------- test support

    def storage_ops(self, instance_id: str) -> dict[str, int]:
        counts = self._ops.get(instance_id, Counter())
        return {"reads": counts["reads"], "writes": counts["writes"], "alarm_writes": counts["alarm_writes"]}

    def reset_storage_ops(self) -> None:
        self._ops.clear()

    def fail_storage(self, operation: str, times: int = 1) -> None:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown storage operation {operation!r}: expected one of {', '.join(OPERATIONS)}")
        self._faults.append(_Fault(operation, times))

    def _check_fault(self, operations: list[str]) -> None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.operation in operations:
                fault.remaining -= 1
                cause = f"injected {fault.operation} fault"
                if fault.operation in ("set_alarm", "delete_alarm"):
                    raise SchedulerError(operation=fault.operation, cause=cause)
                raise StorageError(operation=fault.operation, cause=cause)

    def _count(self, instance_id: str, kind: str) -> None:
        counts = self._ops.get(instance_id)
        if counts is None:
            counts = self._ops[instance_id] = Counter()
        counts[kind] += 1


class MemoryBackend:
    """Instances in memory on a given clock; due alarms run before each call (no background task needed)."""

    def __init__(
        self, jobs: DurableJobs, clock: ClockService | None = None, random: RandomService | None = None
    ) -> None:
        self.store = MemoryStore()
        self.clock: ClockService = clock or RealClock()
        self._alarm_lock = anyio.Lock()
        self.runtime = JobsRuntime(
            jobs.engine,
            self.store,
            clock=self.clock,
            random=random or RandomService(),
            tracker=make_tracker(jobs.tracker),
        )

    async def run_due_alarms(self) -> int:
        """Run every alarm due by now, in due-time order; returns how many ran.

        Concurrent callers wait for the one already running them instead of running the same alarms again.
        """
        async with self._alarm_lock:
            ran = 0
            while (due := self.store.next_alarm()) is not None and due[0] <= self.clock.current_time_millis():
                await self.runtime.alarm(due[1])
                ran += 1
            return ran

    def transport(self) -> _MemoryTransport:
        return _MemoryTransport(self)


class _MemoryTransport:
    def __init__(self, backend: MemoryBackend) -> None:
        self._backend = backend

    async def call(self, request: Request) -> dict[str, Any]:
        await self._backend.run_due_alarms()
        return await self._backend.runtime.call(request)
