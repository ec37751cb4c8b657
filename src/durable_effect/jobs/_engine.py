"""The jobs engine: pure logic from (request, stored record) to (response, new record, alarm, events).

It never touches a backend. The runtime reads the instance record once, runs :meth:`Engine.handle` as an
effect (time from ``Clock``, randomness from ``Random``), and commits the outcome's record and alarm in one
atomic write. A handler failure discards the run's draft, so nothing of a failed run is committed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Never

from returns.result import Success

from ..effect import (
    Cause,
    Clock,
    ClockService,
    Effect,
    Fail,
    LogLevel,
    Random,
    RandomService,
    ScopeService,
    TaggedError,
)
from ..effect._internal.core import GenOp, Provide, Suspend
from ..effect._internal.logger import annotate_at_level
from ..schema import SchemaIssues
from ._contexts import (
    ContinuousContext,
    DebounceEventContext,
    DebounceExecuteContext,
    Draft,
    TaskErrorContext,
    TaskEventContext,
    TaskExecuteContext,
    TaskIdleContext,
)
from ._definitions import ContinuousDefinition, DebounceDefinition, JobDefinition, TaskDefinition
from ._errors import (
    DuplicateEventError,
    ExecutionError,
    InstanceNotFoundError,
    InvalidStateError,
    JobNotFoundError,
    ValidationError,
)
from ._protocol import Request
from ._telemetry import Event, EventFactory

RECORD_VERSION = 1
EVENT_ID_RETENTION_MS = 24 * 3_600_000
EVENT_ID_LIMIT = 1_000

Record = dict[str, Any]
Body = Generator[Any, Any, Any]


@dataclass(slots=True)
class Outcome:
    """What a call produced: a response value or an error, and what to commit."""

    value: Any = None
    error: TaggedError | None = None
    write: bool = False
    record: Record | None = None
    alarm: int | None = None
    events: list[Event] = field(default_factory=list)


class _Failed(Exception):
    """Internal: a user handler failed; carries its cause up to the request's handler."""

    def __init__(self, cause: Cause[Any]) -> None:
        super().__init__()
        self.cause = cause


class _InvalidOutput(_Failed):
    """Internal: a handler succeeded but left a state its schema rejects; the run counts as failed."""

    def __init__(self, error: ValidationError) -> None:
        super().__init__(Fail(error))
        self.error = error


def describe_cause(cause: Cause[Any]) -> tuple[str, str]:
    """``(kind, message)`` of a handler failure, for errors and telemetry."""
    failures = cause.failures()
    if failures:
        error = failures[0]
        if isinstance(error, TaggedError):
            return error._tag, error.message
        return type(error).__name__, str(error)
    defects = cause.defects()
    if defects:
        return "defect", f"{type(defects[0]).__name__}: {defects[0]}"
    return "interrupted", "interrupted"


class Engine:
    """Runs requests against job definitions; one engine serves every instance of a registry."""

    def __init__(self, definitions: Mapping[str, JobDefinition], events: EventFactory) -> None:
        self._definitions = dict(definitions)
        self._events = events

    def definition(self, job_type: str, name: str) -> JobDefinition | None:
        definition = self._definitions.get(name)
        return definition if definition is not None and definition.job_type == job_type else None

    def handle(self, request: Request, record: Record | None) -> Effect[Outcome, Never, Never]:
        """The effect computing ``request``'s outcome given the instance's stored ``record``."""
        return GenOp(self._handle, (request, record), None)

    def _handle(self, request: Request, record: Record | None) -> Body:
        clock = yield Effect.service(Clock)
        rnd = yield Effect.service(Random)
        call = _Call(self, request, record, clock, rnd)
        definition = self.definition(request.job_type, request.job_name)
        if definition is None:
            call.outcome.error = JobNotFoundError(job_type=request.job_type, name=request.job_name)
            if request.op == "alarm":
                # A removed job's alarm: consume it, keep the record (disarmed) in case the job comes back.
                call.outcome.write = True
                call.outcome.record = None if record is None else {**record, "alarm": None}
            return call.outcome
        try:
            if record is not None:
                call.check_record(record)
            handler = _HANDLERS[(definition.job_type, request.op)]
        except TaggedError as error:
            call.fail(error)
        except KeyError:
            call.fail(
                InvalidStateError(
                    instance_id=request.instance_id, expected=f"a {definition.job_type} operation", actual=request.op
                )
            )
        else:
            if request.op == "alarm" and record is not None and not _is_due(record, call.now):
                # A call that ran while this alarm waited moved or cancelled it: run nothing, re-arm the record's.
                call.commit(record)
                return call.outcome
            try:
                yield from handler(call, definition)
            except TaggedError as error:
                call.fail(error)
            yield call.release()
        if request.op == "alarm" and call.outcome.error is not None and not call.outcome.write:
            # An alarm that cannot run (a record of another version, a stored state its schema rejects) is
            # consumed, not fired again forever; the record is kept for inspection.
            call.outcome.write = True
            call.outcome.record = None if record is None else {**record, "alarm": None}
            call.outcome.alarm = None
        return call.outcome


def _is_due(record: Record, now: int) -> bool:
    due = record.get("alarm")
    return due is not None and due <= now


def _finite(data: Any) -> bool:
    """Whether encoded data holds no NaN or infinity (Python's json would write them; JSON cannot hold them)."""
    if isinstance(data, float):
        return data - data == 0.0  # NaN and infinities give NaN
    if isinstance(data, dict):
        data = data.values()
    elif not isinstance(data, list | tuple):
        return True
    return all(map(_finite, data))


class _Call:
    """The working state of one request."""

    def __init__(
        self, engine: Engine, request: Request, record: Record | None, clock: ClockService, rnd: RandomService
    ) -> None:
        self.engine = engine
        self.request = request
        self.record = record
        self.clock = clock  # the engine's Clock service (user handlers may be given another)
        self.now = clock.current_time_millis()
        self.rnd = rnd
        self.instance_id = request.instance_id
        self.outcome = Outcome()
        self.duration_ms = 0
        self._services: dict[object, Any] | None = None
        self._scope: ScopeService | None = None

    # ---------------------------------------------------------------- results

    def respond(self, value: Any) -> None:
        self.outcome.value = value

    def commit(self, record: Record | None) -> None:
        self.outcome.write = True
        self.outcome.record = record
        self.outcome.alarm = None if record is None else record.get("alarm")

    def fail(self, error: TaggedError) -> None:
        """Fail the call: nothing is written (events already emitted are still delivered)."""
        self.outcome.error = error
        self.outcome.write = False
        self.outcome.record = None

    def emit(self, kind: str, **fields: Any) -> None:
        r = self.request
        self.outcome.events.append(
            self.engine._events.make(
                kind,
                now_ms=self.now,
                random=self.rnd,
                instance_id=self.instance_id,
                id=r.id,
                job_type=r.job_type,
                job_name=r.job_name,
                **fields,
            )
        )

    def emit_failed(self, cause: Cause[Any], *, run_count: int, attempt: int, will_retry: bool, **extra: Any) -> None:
        """``job.failed`` for a handler failure described by ``cause``."""
        kind, message = describe_cause(cause)
        self.emit(
            "job.failed",
            error={"message": message, "kind": kind},
            run_count=run_count,
            attempt=attempt,
            will_retry=will_retry,
            **extra,
        )

    def state_fields(self, state: Any) -> dict[str, Any]:
        """``pre_execution_state`` for execution events when the tracker asks for it (``include_state``)."""
        return {"pre_execution_state": state} if self.engine._events.include_state else {}

    # ---------------------------------------------------------------- records

    def check_record(self, record: Record) -> None:
        r = self.request
        if record.get("v") != RECORD_VERSION:
            raise InvalidStateError(
                instance_id=r.instance_id,
                expected=f"record version {RECORD_VERSION}",
                actual=f"version {record.get('v')}",
            )
        if record.get("job_type") != r.job_type or record.get("job_name") != r.job_name:
            raise InvalidStateError(
                instance_id=r.instance_id,
                expected=f"a {r.job_type} record of {r.job_name!r}",
                actual=f"a {record.get('job_type')} record of {record.get('job_name')!r}",
            )

    def new_record(self, **fields: Any) -> Record:
        r = self.request
        return {
            "v": RECORD_VERSION,
            "job_type": r.job_type,
            "job_name": r.job_name,
            "id": r.id,
            "created_at": self.now,
            "event_ids": {},
            "alarm": None,
            **fields,
        }

    def check_duplicate(self, record: Record | None) -> None:
        event_id = self.request.event_id
        if event_id is not None and record is not None and event_id in record.get("event_ids", {}):
            seen_at = record["event_ids"][event_id]
            if self.now - seen_at < EVENT_ID_RETENTION_MS:
                raise DuplicateEventError(instance_id=self.instance_id, event_id=event_id)

    def remember_event(self, record: Record) -> None:
        """Keep this call's ``event_id`` (bounded by age and count) in the record."""
        stored: dict[str, int] = record.get("event_ids") or {}
        # Ids are kept in the order they were seen, so the expired ones are a prefix: skip just those.
        cutoff = self.now - EVENT_ID_RETENTION_MS
        expired = 0
        for at in stored.values():
            if at > cutoff:
                break
            expired += 1
        ids = dict(itertools.islice(stored.items(), expired, None)) if expired else dict(stored)
        if self.request.event_id is not None:
            ids.pop(self.request.event_id, None)
            ids[self.request.event_id] = self.now
        if len(ids) > EVENT_ID_LIMIT:
            ids = dict(itertools.islice(ids.items(), len(ids) - EVENT_ID_LIMIT, None))
        record["event_ids"] = ids

    # ---------------------------------------------------------------- schemas

    def decode(self, schema: Any, data: object, what: str) -> Any:
        try:
            return schema.decode(data)
        except SchemaIssues as exc:
            raise ValidationError(schema=f"{what} ({schema.name})", issues=exc.issues) from None

    def encode(self, schema: Any, value: Any, what: str) -> Any:
        try:
            data = schema.encode(value)
        except SchemaIssues as exc:
            raise ValidationError(schema=f"{what} ({schema.name})", issues=exc.issues) from None
        if not _finite(data):  # what is stored must be JSON, which has no NaN or infinity
            raise ValidationError(schema=f"{what} ({schema.name})", issues=["a number is NaN or infinite"])
        return data

    # ---------------------------------------------------------------- running user code

    def services(self, definition: JobDefinition) -> Body:
        """The definition's ``services`` layer, built once per call (on first use) into the call's scope."""
        if self._services is None:
            assert definition.services is not None
            scope = ScopeService()
            exit_ = yield definition.services.build(scope).exit()
            if not isinstance(exit_, Success):
                yield scope.close(exit_)
                raise _Failed(exit_.failure())
            self._scope, self._services = scope, exit_.unwrap()
        return self._services

    def release(self) -> Effect[None, Never, Never]:
        """Close the call's scope: release what its services acquired."""
        return Effect.void if self._scope is None else self._scope.close(Success(None))

    def run_user(self, definition: JobDefinition, make: Callable[[], Effect[Any, Any, Any]]) -> Body:
        """Run a handler; return its value or raise :class:`_Failed` with its cause."""
        effect: Effect[Any, Any, Any] = Suspend(make)
        if definition.services is not None:
            services = yield from self.services(definition)
            effect = Provide(effect, lambda ctx: {**ctx, **services})
        effect = self.scoped_logs(definition, effect)
        clock = self.clock
        started = clock.current_time_millis()
        exit_ = yield effect.exit()
        self.duration_ms = clock.current_time_millis() - started
        if isinstance(exit_, Success):
            return exit_.unwrap()
        raise _Failed(exit_.failure())

    def scoped_logs(self, definition: JobDefinition, effect: Effect[Any, Any, Any]) -> Effect[Any, Any, Any]:
        r = self.request
        annotations = {"job_type": r.job_type, "job_name": r.job_name, "instance_id": self.instance_id}
        return annotate_at_level(effect, annotations, definition.logging)

    def log(self, definition: JobDefinition, level: LogLevel, *message: object) -> Effect[None, Never, Never]:
        if definition.logging is LogLevel.NONE or not level >= definition.logging:
            return Effect.void  # below the job's level: not even built
        log = {
            LogLevel.DEBUG: Effect.log_debug,
            LogLevel.INFO: Effect.log_info,
            LogLevel.WARNING: Effect.log_warning,
            LogLevel.ERROR: Effect.log_error,
        }[level]
        return self.scoped_logs(definition, log(*message))

    def execution_error(self, cause: Cause[Any]) -> ExecutionError:
        kind, message = describe_cause(cause)
        return ExecutionError(instance_id=self.instance_id, cause=f"{kind}: {message}")

    def client_error(self, failed: _Failed) -> TaggedError:
        """What a client call fails with when its run failed: the state's ``ValidationError``, else
        ``ExecutionError``."""
        return failed.error if isinstance(failed, _InvalidOutput) else self.execution_error(failed.cause)

    def encode_output(self, schema: Any, value: Any) -> Any:
        """Encode the state a handler left; a state its schema rejects fails the run (see :class:`_InvalidOutput`)."""
        try:
            return self.encode(schema, value, "state")
        except ValidationError as error:
            raise _InvalidOutput(error) from None

    def retry_or_exhaust(
        self, definition: Any, record: Record, cause: Cause[Any], run_count: int, attempt: int, extra: Mapping[str, Any]
    ) -> Body:
        """After a failed execution with a retry policy: arm the next attempt, or terminate on exhaustion.

        Returns True when a retry was armed; on exhaustion the instance is deleted and False is returned.
        """
        retry = definition.retry
        kind, message = describe_cause(cause)
        started_at = record.get("retry_started_at") or self.now
        delay = retry.next_delay_ms(attempt, self.rnd)
        budget = retry.max_duration_ms()
        out_of_time = budget is not None and (self.now + delay - started_at) > budget
        if attempt < retry.max_attempts and not out_of_time:
            self.emit_failed(cause, run_count=run_count, attempt=attempt, will_retry=True, **extra)
            yield self.log(definition, LogLevel.WARNING, f"attempt {attempt} failed ({kind}: {message}); retrying")
            record["retry_attempt"] = attempt + 1
            record["retry_started_at"] = started_at
            record["alarm"] = int(self.now + delay)
            return True
        reason = "max_duration" if out_of_time else "max_attempts"
        self.emit_failed(cause, run_count=run_count, attempt=attempt, will_retry=False, **extra)
        self.emit("job.retryExhausted", attempts=attempt, reason=f"{reason}: {kind}: {message}")
        self.emit("job.terminated", reason="retry_exhausted", run_count=run_count)
        yield self.log(definition, LogLevel.ERROR, f"retries exhausted after {attempt} attempts ({kind}: {message})")
        return False


# ==================================================================== continuous


def _continuous_start(call: _Call, d: ContinuousDefinition[Any, Any]) -> Body:
    record = call.record
    call.check_duplicate(record)
    if record is not None:
        call.respond({"created": False, "instance_id": call.instance_id, "status": "running"})
        return
    state = call.decode(d.state_schema, call.request.payload, "input")
    record = call.new_record(state=call.encode(d.state_schema, state, "input"), run_count=0, status="running")
    call.remember_event(record)
    call.emit("job.started", input=record["state"])
    yield call.log(d, LogLevel.DEBUG, f"started ({d.schedule.describe()})")
    if not d.start_immediately:
        record["alarm"] = d.schedule.next_run_after(call.now)
        call.commit(record)
        call.respond({"created": True, "instance_id": call.instance_id, "status": "running"})
        return
    kept = yield from _continuous_run(call, d, record, from_client=True)
    status = "running" if kept is not None else "terminated"
    call.respond({"created": True, "instance_id": call.instance_id, "status": status})


def _continuous_run(call: _Call, d: ContinuousDefinition[Any, Any], record: Record, from_client: bool) -> Body:
    """Run ``execute`` once and commit its outcome; returns the kept record, or None if terminated."""
    retrying = bool(record.get("retry_attempt"))
    attempt = record.get("retry_attempt") or 1
    run_count = record["run_count"] if retrying else record["run_count"] + 1
    before = record["state"]
    draft = Draft(call.decode(d.state_schema, before, "stored state"), None, call.now)
    ctx: ContinuousContext[Any] = ContinuousContext(
        draft,
        instance_id=call.instance_id,
        job_name=call.request.job_name,
        run_count=run_count,
        attempt=attempt,
        is_retry=retrying or call.request.is_retry,
    )
    extra = call.state_fields(before)
    try:
        yield from call.run_user(d, lambda: d.execute(ctx))
        state = None if draft.terminated else call.encode_output(d.state_schema, draft.state)
    except _Failed as failed:
        record = {**record, "run_count": run_count}
        if d.retry is not None:
            if (yield from call.retry_or_exhaust(d, record, failed.cause, run_count, attempt, extra)):
                call.commit(record)
                return record
            call.commit(None)
            return None
        kind, message = describe_cause(failed.cause)
        call.emit_failed(failed.cause, run_count=run_count, attempt=attempt, will_retry=False, **extra)
        yield call.log(d, LogLevel.ERROR, f"execution failed ({kind}: {message})")
        if from_client:
            raise call.client_error(failed) from None
        clock = yield Effect.service(Clock)
        record = {**record, "alarm": d.schedule.next_run_after(clock.current_time_millis())}
        call.commit(record)
        return record
    call.emit("job.executed", run_count=run_count, duration_ms=call.duration_ms, attempt=attempt, **extra)
    if draft.terminated:
        call.emit("job.terminated", reason=draft.terminate_reason, run_count=run_count)
        yield call.log(d, LogLevel.DEBUG, f"run {run_count} terminated the instance ({draft.terminate_reason})")
        call.commit(None)
        return None
    clock = yield Effect.service(Clock)
    yield call.log(d, LogLevel.DEBUG, f"run {run_count} succeeded (attempt {attempt}, {call.duration_ms} ms)")
    record = {
        **record,
        "state": state,
        "run_count": run_count,
        "retry_attempt": 0,
        "retry_started_at": None,
        "alarm": d.schedule.next_run_after(clock.current_time_millis()),
    }
    call.commit(record)
    return record


def _continuous_alarm(call: _Call, d: ContinuousDefinition[Any, Any]) -> Body:
    if call.record is None:
        call.commit(None)  # a stale alarm of a deleted instance: consume it
        return
    yield from _continuous_run(call, d, dict(call.record), from_client=False)


def _continuous_trigger(call: _Call, d: ContinuousDefinition[Any, Any]) -> Body:
    if call.record is None:
        call.respond({"triggered": False})
        return
    yield from _continuous_run(call, d, dict(call.record), from_client=True)
    call.respond({"triggered": True})


def _continuous_status(call: _Call, d: ContinuousDefinition[Any, Any]) -> Body:
    record = call.record
    if record is None:
        call.respond({"status": "not_found", "run_count": 0, "next_run_at": None})
    else:
        call.respond({"status": "running", "run_count": record["run_count"], "next_run_at": record["alarm"]})
    yield from ()


def _get_state(call: _Call, d: JobDefinition) -> Body:
    record = call.record
    if record is None or (d.job_type == "debounce" and not record.get("event_count")):
        raise InstanceNotFoundError(instance_id=call.instance_id)
    if d.job_type == "task":
        call.respond({"state": record["state"], "scheduled_at": record["alarm"]})
    else:
        call.respond(record["state"])
    yield from ()


def _terminate(call: _Call, d: JobDefinition) -> Body:
    record = call.record
    reason = call.request.reason
    if record is None:
        call.respond({"terminated": False, "reason": "not_found"})
        return
    call.emit("job.terminated", reason=reason, run_count=record.get("run_count", record.get("execute_count", 0)))
    yield call.log(d, LogLevel.DEBUG, f"terminated ({reason})")
    call.commit(None)
    call.respond({"terminated": True, "reason": reason})


# ==================================================================== debounce


def _debounce_add(call: _Call, d: DebounceDefinition[Any, Any, Any]) -> Body:
    record = call.record
    call.check_duplicate(record)
    event = call.decode(d.event_schema, call.request.payload, "event")
    created = record is None
    record = call.new_record(state=None, event_count=0, started_at=None) if record is None else dict(record)
    first = not record["event_count"]
    count = record["event_count"] + 1
    state = None if first else call.decode(d.state_schema, record["state"], "stored state")
    if d.on_event is None:
        new_state = event
    else:
        ctx = DebounceEventContext(event=event, state=state, event_count=count, instance_id=call.instance_id)
        try:
            new_state = yield from call.run_user(d, lambda: d.on_event(ctx))  # type: ignore[misc]
        except _Failed as failed:
            kind, message = describe_cause(failed.cause)
            call.emit_failed(failed.cause, run_count=0, attempt=1, will_retry=False)
            yield call.log(d, LogLevel.ERROR, f"on_event failed ({kind}: {message})")
            raise call.client_error(failed) from None
    record.update(state=call.encode(d.state_schema, new_state, "state"), event_count=count)
    call.remember_event(record)
    if first:
        record["started_at"] = call.now
        record["alarm"] = int(call.now + d.flush_after_ms)
        record["retry_attempt"] = 0
        call.emit("debounce.started", flush_at=record["alarm"])
    yield call.log(d, LogLevel.DEBUG, f"event {count} added; flush at {record['alarm']}")
    if d.max_events is not None and count >= d.max_events and not record.get("retry_attempt"):
        yield from _debounce_flush_run(call, d, record, "max_events", from_client=True)
        call.respond({"created": created, "event_count": count, "will_flush_at": None, "instance_id": call.instance_id})
        return
    call.commit(record)
    call.respond(
        {
            "created": created,
            "event_count": count,
            "will_flush_at": record["alarm"],
            "instance_id": call.instance_id,
        }
    )


def _debounce_flush_run(
    call: _Call, d: DebounceDefinition[Any, Any, Any], record: Record, reason: str, from_client: bool
) -> Body:
    retrying = bool(record.get("retry_attempt"))
    attempt = record.get("retry_attempt") or 1
    reason = record.get("flush_reason") or reason if retrying else reason
    state = call.decode(d.state_schema, record["state"], "stored state")
    count = record["event_count"]
    ctx = DebounceExecuteContext(
        state,
        event_count=count,
        flush_reason=reason,  # type: ignore[arg-type]
        debounce_started_at=record["started_at"],
        attempt=attempt,
        is_retry=retrying or call.request.is_retry,
        instance_id=call.instance_id,
        job_name=call.request.job_name,
    )
    extra = call.state_fields(record["state"])
    try:
        yield from call.run_user(d, lambda: d.execute(ctx))
    except _Failed as failed:
        if d.retry is not None:
            record = {**record, "flush_reason": reason}
            if (yield from call.retry_or_exhaust(d, record, failed.cause, 1, attempt, extra)):
                call.commit(record)
            else:
                call.commit(None)
            return
        kind, message = describe_cause(failed.cause)
        call.emit_failed(failed.cause, run_count=1, attempt=attempt, will_retry=False, **extra)
        if from_client:
            yield call.log(d, LogLevel.ERROR, f"flush of {count} events failed ({kind}: {message})")
            raise call.client_error(failed) from None
        yield call.log(d, LogLevel.ERROR, f"flush of {count} events failed ({kind}: {message}); batch dropped")
        call.commit(_debounce_emptied(call, record))
        return
    call.emit("debounce.flushed", event_count=count, reason=reason, duration_ms=call.duration_ms, **extra)
    yield call.log(d, LogLevel.DEBUG, f"flushed {count} events ({reason})")
    call.commit(_debounce_emptied(call, record))


def _debounce_emptied(call: _Call, record: Record) -> Record | None:
    """The record after its batch is gone: kept only to remember recent event ids."""
    kept = call.new_record(state=None, event_count=0, started_at=None)
    kept["created_at"] = record["created_at"]
    kept["event_ids"] = record.get("event_ids", {})
    call.remember_event(kept)
    return kept if kept["event_ids"] else None


def _debounce_alarm(call: _Call, d: DebounceDefinition[Any, Any, Any]) -> Body:
    if call.record is None or not call.record.get("event_count"):
        # Nothing to flush (cleared or already flushed): just consume the alarm.
        call.commit(None if call.record is None else {**call.record, "alarm": None})
        return
    yield from _debounce_flush_run(call, d, dict(call.record), "flush_after", from_client=False)


def _debounce_flush(call: _Call, d: DebounceDefinition[Any, Any, Any]) -> Body:
    if call.record is None or not call.record.get("event_count"):
        call.respond({"flushed": False, "event_count": 0})
        return
    count = call.record["event_count"]
    yield from _debounce_flush_run(call, d, dict(call.record), "manual", from_client=True)
    call.respond({"flushed": True, "event_count": count})


def _debounce_clear(call: _Call, d: DebounceDefinition[Any, Any, Any]) -> Body:
    if call.record is None or not call.record.get("event_count"):
        call.respond({"cleared": False, "discarded_events": 0})
        return
    count = call.record["event_count"]
    yield call.log(d, LogLevel.DEBUG, f"cleared {count} events")
    call.commit(_debounce_emptied(call, call.record))
    call.respond({"cleared": True, "discarded_events": count})


def _debounce_status(call: _Call, d: DebounceDefinition[Any, Any, Any]) -> Body:
    record = call.record
    if record is None:
        call.respond({"status": "not_found", "event_count": 0, "will_flush_at": None})
    elif record["event_count"]:
        call.respond({"status": "debouncing", "event_count": record["event_count"], "will_flush_at": record["alarm"]})
    else:
        call.respond({"status": "idle", "event_count": 0, "will_flush_at": None})
    yield from ()


# ==================================================================== task


def _task_context(cls: type[Any], call: _Call, record: Record, draft: Draft) -> Any:
    return cls(
        draft,
        instance_id=call.instance_id,
        job_name=call.request.job_name,
        event_count=record["event_count"],
        execute_count=record["execute_count"],
        created_at=record["created_at"],
        is_first_event=record["event_count"] == 1,
    )


def _task_run(
    call: _Call, d: TaskDefinition[Any, Any, Any], record: Record, source: str, run: Callable[[Draft], Any]
) -> Body:
    """Run ``on_event`` or ``execute`` on a draft, then ``on_idle``/``on_error``; commit on success.

    Raises :class:`_Failed` when the handler failed and no ``on_error`` took it.
    """
    stored = call.decode(d.state_schema, record["state"], "stored state") if record["state"] is not None else None
    draft = Draft(stored, record["alarm"], call.now)
    before = record["alarm"]
    try:
        yield from call.run_user(d, lambda: run(draft))
    except _Failed as failed:
        yield from _task_failed(call, d, record, source, failed.cause, handled=d.on_error is not None)
        if d.on_error is None:
            raise
        draft = Draft(stored, record["alarm"], call.now)  # the failed run's changes are discarded
        error_ctx = _task_context(TaskErrorContext, call, record, draft)
        error_ctx.error_source = source
        errors: list[Any] = failed.cause.failures() or failed.cause.defects()
        error = errors[0] if errors else None
        try:
            yield from call.run_user(d, lambda: d.on_error(error, error_ctx))  # type: ignore[misc]
        except _Failed as failed_again:
            raise _Failed(failed.cause + failed_again.cause) from None
    else:
        if source == "execute":
            call.emit(
                "job.executed",
                run_count=record["execute_count"],
                duration_ms=call.duration_ms,
                attempt=1,
                **call.state_fields(record["state"]),
            )
    trigger = "event" if source == "on_event" else "execute"
    if not draft.terminated and draft.schedule is None and d.on_idle is not None:
        idle_ctx = _task_context(TaskIdleContext, call, record, draft)
        idle_ctx.idle_reason = source
        try:
            yield from call.run_user(d, lambda: d.on_idle(idle_ctx))  # type: ignore[misc]
        except _Failed as failed:
            yield from _task_failed(call, d, record, "on_idle", failed.cause, handled=False)
            raise
        trigger = "idle"
    if draft.terminated:
        call.emit("job.terminated", reason=draft.terminate_reason, run_count=record["execute_count"])
        yield call.log(d, LogLevel.DEBUG, f"{source} terminated the instance ({draft.terminate_reason})")
        call.commit(None)
        return
    try:
        state = None if draft.state is None else call.encode_output(d.state_schema, draft.state)  # unset
    except _InvalidOutput as invalid:
        yield from _task_failed(call, d, record, source, invalid.cause, handled=False)
        raise
    new = {**record, "state": state, "alarm": draft.schedule}
    if draft.schedule is not None and draft.schedule != before:
        call.emit("task.scheduled", scheduled_at=draft.schedule, trigger=trigger)
    yield call.log(d, LogLevel.DEBUG, f"{source} done; scheduled at {draft.schedule}")
    call.commit(new)


def _task_failed(
    call: _Call, d: TaskDefinition[Any, Any, Any], record: Record, source: str, cause: Cause[Any], handled: bool
) -> Body:
    """Report a failed task handler: ``job.failed``, and an error log unless ``on_error`` takes it."""
    kind, message = describe_cause(cause)
    call.emit_failed(
        cause, run_count=record["execute_count"], attempt=1, will_retry=False, **call.state_fields(record["state"])
    )
    if handled:
        yield call.log(d, LogLevel.WARNING, f"{source} failed ({kind}: {message}); handled by on_error")
    else:
        yield call.log(d, LogLevel.ERROR, f"{source} failed ({kind}: {message})")


def _task_send(call: _Call, d: TaskDefinition[Any, Any, Any]) -> Body:
    record = call.record
    call.check_duplicate(record)
    event = call.decode(d.event_schema, call.request.payload, "event")
    created = record is None
    if record is None:
        record = call.new_record(state=None, event_count=0, execute_count=0)
        call.emit("job.started", input=call.request.payload)
    record = {**record, "event_count": record["event_count"] + 1}
    call.remember_event(record)

    def on_event(draft: Draft) -> Effect[Any, Any, Any]:
        return d.on_event(event, _task_context(TaskEventContext, call, record, draft))

    try:
        yield from _task_run(call, d, record, "on_event", on_event)
    except _Failed as failed:
        raise call.client_error(failed) from None
    kept = call.outcome.record
    call.respond(
        {
            "created": created,
            "instance_id": call.instance_id,
            "scheduled_at": None if kept is None else kept["alarm"],
        }
    )


def _task_execute(call: _Call, d: TaskDefinition[Any, Any, Any], from_client: bool) -> Body:
    assert call.record is not None
    record = {**call.record, "execute_count": call.record["execute_count"] + 1}
    if not from_client:
        record["alarm"] = None  # the alarm fired: its schedule is consumed before execute runs

    def execute(draft: Draft) -> Effect[Any, Any, Any]:
        return d.execute(_task_context(TaskExecuteContext, call, record, draft))

    try:
        yield from _task_run(call, d, record, "execute", execute)
    except _Failed as failed:
        if from_client:
            raise call.client_error(failed) from None
        call.commit(record)  # keep the consumed schedule and the count; the run's own changes are dropped


def _task_alarm(call: _Call, d: TaskDefinition[Any, Any, Any]) -> Body:
    if call.record is None:
        call.commit(None)
        return
    yield from _task_execute(call, d, from_client=False)


def _task_trigger(call: _Call, d: TaskDefinition[Any, Any, Any]) -> Body:
    if call.record is None:
        call.respond({"triggered": False})
        return
    yield from _task_execute(call, d, from_client=True)
    call.respond({"triggered": True})


def _task_status(call: _Call, d: TaskDefinition[Any, Any, Any]) -> Body:
    record = call.record
    if record is None:
        call.respond({"status": "not_found", "scheduled_at": None, "event_count": 0, "execute_count": 0})
    else:
        call.respond(
            {
                "status": "active" if record["alarm"] is not None else "idle",
                "scheduled_at": record["alarm"],
                "event_count": record["event_count"],
                "execute_count": record["execute_count"],
            }
        )
    yield from ()


_HANDLERS: dict[tuple[str, str], Callable[[_Call, Any], Body]] = {
    ("continuous", "start"): _continuous_start,
    ("continuous", "trigger"): _continuous_trigger,
    ("continuous", "status"): _continuous_status,
    ("continuous", "get_state"): _get_state,
    ("continuous", "terminate"): _terminate,
    ("continuous", "alarm"): _continuous_alarm,
    ("debounce", "add"): _debounce_add,
    ("debounce", "flush"): _debounce_flush,
    ("debounce", "clear"): _debounce_clear,
    ("debounce", "status"): _debounce_status,
    ("debounce", "get_state"): _get_state,
    ("debounce", "alarm"): _debounce_alarm,
    ("task", "send"): _task_send,
    ("task", "trigger"): _task_trigger,
    ("task", "status"): _task_status,
    ("task", "get_state"): _get_state,
    ("task", "terminate"): _terminate,
    ("task", "alarm"): _task_alarm,
}
