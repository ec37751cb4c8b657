"""The actor runtime: routes calls and alarms to instances, one at a time per instance.

For every call: wait for the instance's turn (calls on one instance run one at a time, in arrival order), read
its record (one read), run the engine, commit the outcome's record and alarm (one atomic write), then hand the
call's events to the tracker. A call on an instance with nothing in flight starts at once, without a trip
through the event loop. The runtime keeps something for an instance only while it has calls in flight, so
memory does not grow with the number of idle instances.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import anyio
from returns.result import Success

from ..effect import Clock, ClockService, Random, RandomService, TaggedError
from ..effect._internal.context import Context
from ..effect._internal.runtime import run_loop
from ._call import Outcome, Record, describe_cause
from ._engine import Engine
from ._errors import ExecutionError, SchedulerError, StorageError
from ._protocol import Request, err, ok
from ._telemetry import Event, Tracker

_log = logging.getLogger("durable_effect.jobs")


class InstanceStore(Protocol):
    """Where instance records and their alarms live: memory, a SQLite file, a Durable Object's storage.

    ``save`` must commit the record (``None`` deletes it) and, when ``alarm_changed``, the alarm (``None``
    cancels it) atomically. Failures raise :class:`StorageError` or :class:`SchedulerError` (anything else
    is reported as a ``StorageError``).
    """

    async def load(self, instance_id: str) -> Record | None: ...

    async def save(self, instance_id: str, record: Record | None, alarm: int | None, alarm_changed: bool) -> None: ...


class _Turns:
    """The calls of one instance that are in flight: one runs, the others wait here in arrival order."""

    __slots__ = ("waiting",)

    def __init__(self) -> None:
        self.waiting: deque[anyio.Event] | None = None


def parse_instance_name(instance_id: str) -> tuple[str, str, str]:
    job_type, job_name, id = instance_id.split(":", 2)
    return job_type, job_name, id


class JobsRuntime:
    """Serves calls and alarms for every instance of one registry over one :class:`InstanceStore`."""

    def __init__(
        self,
        engine: Engine,
        store: InstanceStore,
        *,
        clock: ClockService,
        random: RandomService,
        tracker: Tracker,
        on_events: Callable[[list[Event]], None] | None = None,
        deliver_inline: bool = True,
    ) -> None:
        self.engine = engine
        self.store = store
        self.clock = clock
        self.random = random
        self.tracker = tracker
        self._on_events = on_events
        self._deliver_inline = deliver_inline
        self._turns: dict[str, _Turns] = {}
        self._context: Context = {Clock: clock, Random: random}  # what the engine runs with (never mutated)

    async def call(self, request: Request) -> dict[str, Any]:
        """Serve a client request; returns the wire response (errors as data)."""
        outcome = await self._serialized(request)
        return err(outcome.error) if outcome.error is not None else ok(outcome.value)

    async def alarm(self, instance_id: str, *, is_retry: bool = False) -> Outcome:
        """Run the due alarm of ``instance_id``."""
        job_type, job_name, id = parse_instance_name(instance_id)
        request = Request(op="alarm", job_type=job_type, job_name=job_name, id=id, is_retry=is_retry)
        outcome = await self._serialized(request)
        if outcome.error is not None:
            _log.warning("alarm of %s: %s", instance_id, outcome.error.message)
        return outcome

    @property
    def active_instances(self) -> int:
        """Instances with calls in flight (the runtime keeps nothing for idle ones)."""
        return len(self._turns)

    async def _serialized(self, request: Request) -> Outcome:
        key = request.instance_id
        turns = self._turns.get(key)
        if turns is None:
            # No call in flight on this instance: this one runs at once. (No cancellation check first: it cost
            # a tenth of a call, and a caller cancelled now sees it at the commit's wait, once committed.)
            turns = self._turns[key] = _Turns()
        else:
            await self._wait_turn(key, turns)
        try:
            outcome = await self._run(request, key)
        finally:
            self._pass_turn(key, turns)
        if outcome.events:
            if self._on_events is not None:
                self._on_events(outcome.events)
            self.tracker.record(outcome.events)
        if self._deliver_inline:
            await self.tracker.flush()  # also retries what earlier calls could not deliver
        return outcome

    async def _wait_turn(self, key: str, turns: _Turns) -> None:
        """Wait until the calls that arrived earlier on this instance are done."""
        turn = anyio.Event()
        waiting = turns.waiting
        if waiting is None:
            waiting = turns.waiting = deque()
        waiting.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():  # the turn came just as this caller was cancelled: hand it on
                self._pass_turn(key, turns)
            else:
                waiting.remove(turn)
            raise

    def _pass_turn(self, key: str, turns: _Turns) -> None:
        """The running call is done: wake the next waiting call, or forget the instance when none waits."""
        if turns.waiting:
            turns.waiting.popleft().set()
        else:
            del self._turns[key]

    async def _run(self, request: Request, key: str) -> Outcome:
        try:
            record = await self.store.load(key)
        except TaggedError as error:
            return Outcome(error=error)
        except Exception as exc:
            return Outcome(error=StorageError(operation="get", cause=f"{type(exc).__name__}: {exc}"))
        exit_ = await run_loop(self.engine.handle(request, record), self._context, False)
        if not isinstance(exit_, Success):
            cause = exit_.failure()
            _log.error("engine defect on %s:\n%s", key, cause.pretty())
            # The details stay in the server's log; the caller learns only that the engine failed.
            kind, message = describe_cause(cause)
            return Outcome(error=ExecutionError(instance_id=key, cause=f"internal error ({kind}: {message})"))
        outcome: Outcome = exit_.unwrap()
        if outcome.write:
            old_alarm = None if record is None else record.get("alarm")
            changed = request.op == "alarm" or outcome.alarm != old_alarm
            try:
                await self.store.save(key, outcome.record, outcome.alarm, changed)
            except (StorageError, SchedulerError) as failure:
                return Outcome(error=failure, events=outcome.events)
            except Exception as exc:
                fault = StorageError(operation="put", cause=f"{type(exc).__name__}: {exc}")
                return Outcome(error=fault, events=outcome.events)
        return outcome
