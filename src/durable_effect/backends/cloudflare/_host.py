"""What one ``Jobs`` Durable Object runs: the jobs runtime over the object's storage.

Kept apart from the Durable Object class so that it can run (and be tested) without the Workers runtime:
the storage, the background-work hook and the telemetry transport are passed in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ...effect import ClockService, RandomService
from ...effect._internal.clock import RealClock
from ...jobs._errors import ValidationError
from ...jobs._protocol import Request, err
from ...jobs._runtime import JobsRuntime
from ...jobs._telemetry import Event, HttpBatchTracker, NoopTracker, SendBatch, Tracker, TrackerConfig
from ._store import DurableObjectStore

if TYPE_CHECKING:
    from workers import DurableObjectStorage

    from ...jobs._registry import DurableJobs

_log = logging.getLogger("durable_effect.cloudflare")

Defer = Callable[[Callable[[], Awaitable[None]]], None]
"""Run background work after the response (``ctx.waitUntil`` on Workers)."""


class AlarmFailed(Exception):
    """Raised from ``alarm()`` when nothing of the run was committed, so that the platform retries it."""


def workers_tracker(config: TrackerConfig | None, send: SendBatch | None) -> Tracker:
    """The tracker of ``config``, delivering through ``send`` (``fetch``) unless the config brings its own."""
    if config is None:
        return NoopTracker()
    if config.send is None and send is not None:
        config = dataclasses.replace(config, send=send)
    return HttpBatchTracker(config)


class JobsHost:
    """Serves RPC calls and alarms of the one job instance a Durable Object holds.

    Calls are serialized by the runtime's per-instance lock, also while a handler awaits I/O (requests to
    one object interleave at every ``await``). Telemetry is recorded during the call and sent afterwards
    through ``defer``, off the call's path.
    """

    def __init__(
        self,
        jobs: DurableJobs,
        storage: DurableObjectStorage,
        *,
        defer: Defer | None = None,
        send: SendBatch | None = None,
        clock: ClockService | None = None,
        random: RandomService | None = None,
    ) -> None:
        self.store = DurableObjectStore(storage)
        self.tracker = workers_tracker(jobs.tracker, send)
        self.runtime = JobsRuntime(
            jobs.engine,
            self.store,
            clock=clock or RealClock(),
            random=random or RandomService(),
            tracker=self.tracker,
            on_events=self._on_events,
            deliver_inline=False,
        )
        self._defer = defer or self._in_background
        self._background: set[asyncio.Task[None]] = set()
        self._events_waiting = False
        self.calls = 0
        self.alarms = 0
        self.events = 0

    async def call(self, request_json: str) -> str:
        """Serve one client request (``Request.to_wire`` as JSON text); the wire response as JSON text."""
        self.calls += 1
        try:
            request = Request.from_wire(json.loads(request_json))
        except (TypeError, ValueError) as exc:
            response = err(ValidationError(schema="jobs request", issues=[str(exc)]))
        else:
            response = await self.runtime.call(request)
        self._deliver_events()
        return json.dumps(response, separators=(",", ":"))

    async def alarm(self, *, is_retry: bool = False) -> None:
        """Run the instance's due alarm. Raises :class:`AlarmFailed` when nothing of it was committed."""
        self.alarms += 1
        name = await self.store.instance_name()
        if name is None:
            return  # the object holds no instance (its alarm outlived it): nothing to run
        outcome = await self.runtime.alarm(name, is_retry=is_retry)
        self._deliver_events()
        if not outcome.write:
            # Nothing committed (storage failed, or the engine could not run): let the platform retry the alarm.
            reason = outcome.error.message if outcome.error is not None else "nothing committed"
            raise AlarmFailed(f"alarm of {name}: {reason}")

    def storage_ops(self) -> dict[str, int]:
        """Storage operations and requests served since this object was loaded."""
        ops = self.store.ops
        return {
            "reads": ops["reads"],
            "writes": ops["writes"],
            "alarm_writes": ops["alarm_writes"],
            "calls": self.calls,
            "alarms": self.alarms,
            "events": self.events,
        }

    def _on_events(self, events: list[Event]) -> None:
        self.events += len(events)
        self._events_waiting = True

    def _deliver_events(self) -> None:
        if not self._events_waiting or isinstance(self.tracker, NoopTracker):
            return
        self._events_waiting = False
        self._defer(self.tracker.flush)

    def _in_background(self, work: Callable[[], Awaitable[None]]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
