"""``JobsHarness``: the jobs on the in-memory backend with virtual time, recorded events and storage counters."""

from __future__ import annotations

from typing import Any

from ..backends.memory import MemoryStore
from ..effect import DurationInput, RandomService
from ..effect._internal.duration import to_millis
from ..jobs._client import JobsClient
from ..jobs._protocol import Request
from ..jobs._registry import DurableJobs
from ..jobs._runtime import JobsRuntime
from ..jobs._telemetry import Event, InMemoryTracker
from ._harness_clock import HarnessClock

_MAX_ALARM_RETRIES = 100


class JobsHarness:
    """Run ``jobs`` in memory on a :class:`TestClock` starting at ``start_time`` (epoch ms).

    ``advance(d)`` fires due alarms one at a time in due-time order, with ``now()`` equal to each alarm's
    time (including alarms armed by runs inside the same advance), then sets the clock to the end. A handler
    run takes no virtual time unless it sleeps on the clock; then the clock moves by the sleep.
    """

    __test__ = False

    def __init__(self, jobs: DurableJobs, start_time: int = 0, *, seed: int = 0) -> None:
        self.jobs = jobs
        self.clock = HarnessClock(start_time)
        self.store = MemoryStore()
        self.tracker = InMemoryTracker()
        self.runtime = JobsRuntime(
            jobs.engine, self.store, clock=self.clock, random=RandomService(seed), tracker=self.tracker
        )
        self.client: JobsClient = jobs.JobsClient(_HarnessTransport(self.runtime))

    @property
    def events(self) -> list[Event]:
        """Every telemetry event so far, in wire form (whether or not a tracker is configured)."""
        return self.tracker.events

    def events_of(self, kind: str) -> list[Event]:
        return [event for event in self.tracker.events if event["type"] == kind]

    def now(self) -> int:
        """The current virtual epoch time in milliseconds."""
        return self.clock.current_time_millis()

    async def advance(self, duration: DurationInput) -> None:
        """Move virtual time forward, firing due alarms in order."""
        target = self.now() + to_millis(duration)
        failures = 0
        while (due := self.store.next_alarm()) is not None and due[0] <= target:
            await self.clock.jump(due[0])
            outcome = await self.runtime.alarm(due[1])
            # A failed alarm stays armed and fires again at once (a crashed run runs again); one that fails
            # every time would keep the test busy forever instead of failing it.
            failures = failures + 1 if outcome.error is not None and self.store.next_alarm() == due else 0
            if failures >= _MAX_ALARM_RETRIES:
                raise RuntimeError(f"the alarm of {due[1]} failed {failures} times in a row: {outcome.error}")
        await self.clock.jump(target)

    def alarm_of(self, instance_id: str) -> int | None:
        """When the instance's alarm is due (epoch ms), if armed."""
        return self.store.alarm_of(instance_id)

    def storage_ops(self, instance_id: str) -> dict[str, int]:
        """``{"reads", "writes", "alarm_writes"}`` of the instance since the last reset (deletes are writes)."""
        return self.store.storage_ops(instance_id)

    def reset_storage_ops(self) -> None:
        self.store.reset_storage_ops()

    def fail_storage(self, operation: str = "put", times: int = 1) -> None:
        """Make the next ``times`` storage operations of this kind fail (``get``, ``put``, ``delete``,
        ``set_alarm``, ``delete_alarm``); the failing call fails with ``StorageError``/``SchedulerError``
        and commits nothing."""
        self.store.fail_storage(operation, times)


class _HarnessTransport:
    def __init__(self, runtime: JobsRuntime) -> None:
        self._runtime = runtime

    async def call(self, request: Request) -> dict[str, Any]:
        return await self._runtime.call(request)
