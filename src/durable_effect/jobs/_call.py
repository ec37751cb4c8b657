"""One request being served: the call's working state, its outcome, and the helpers every job type's
handlers share (records, schemas, events, running user code, retries)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Never

from returns.result import Success

from ..effect import (
    Cause,
    ClockService,
    Effect,
    Fail,
    LogLevel,
    RandomService,
    ScopeService,
    TaggedError,
)
from ..effect._internal.core import Provide, Suspend
from ..effect._internal.logger import annotate_at_level, level_rank
from ..schema import SchemaIssues
from ._definitions import JobDefinition
from ._errors import (
    DuplicateEventError,
    ExecutionError,
    InstanceNotFoundError,
    InvalidStateError,
    ValidationError,
)
from ._protocol import Request
from ._telemetry import Event

if TYPE_CHECKING:
    from ._engine import Engine

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


class HandlerFailed(Exception):
    """Internal: a user handler failed; carries its cause up to the request's handler."""

    def __init__(self, cause: Cause[Any]) -> None:
        super().__init__()
        self.cause = cause


class InvalidOutput(HandlerFailed):
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


def is_due(record: Record, now: int) -> bool:
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


class Call:
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
                raise HandlerFailed(exit_.failure())
            self._scope, self._services = scope, exit_.unwrap()
        return self._services

    def release(self) -> Effect[None, Never, Never]:
        """Close the call's scope: release what its services acquired."""
        return Effect.void if self._scope is None else self._scope.close(Success(None))

    def run_user(self, definition: JobDefinition, make: Callable[[], Effect[Any, Any, Any]]) -> Body:
        """Run a handler; return its value or raise :class:`HandlerFailed` with its cause."""
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
        raise HandlerFailed(exit_.failure())

    def scoped_logs(self, definition: JobDefinition, effect: Effect[Any, Any, Any]) -> Effect[Any, Any, Any]:
        r = self.request
        annotations = {"job_type": r.job_type, "job_name": r.job_name, "instance_id": self.instance_id}
        return annotate_at_level(effect, annotations, definition.logging)

    def log(self, definition: JobDefinition, level: LogLevel, *message: object) -> Effect[None, Never, Never]:
        if level_rank(level) < level_rank(definition.logging):
            return Effect.void  # below the job's level (NONE is above every level): not even built
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

    def client_error(self, failed: HandlerFailed) -> TaggedError:
        """What a client call fails with when its run failed: the state's ``ValidationError``, else
        ``ExecutionError``."""
        return failed.error if isinstance(failed, InvalidOutput) else self.execution_error(failed.cause)

    def encode_output(self, schema: Any, value: Any) -> Any:
        """Encode the state a handler left; a state its schema rejects fails the run (see :class:`InvalidOutput`)."""
        try:
            return self.encode(schema, value, "state")
        except ValidationError as error:
            raise InvalidOutput(error) from None

    def retry_or_exhaust(
        self, definition: Any, record: Record, cause: Cause[Any], run_count: int, attempt: int, extra: Mapping[str, Any]
    ) -> Body:
        """After a failed execution with a retry policy: arm the next attempt, or terminate on exhaustion.

        The delay and the ``max_duration`` budget count from the failure, read from the clock now (the run may
        have slept), not from the start of the call. Returns True when a retry was armed; on exhaustion the
        instance is deleted and False is returned.
        """
        retry = definition.retry
        kind, message = describe_cause(cause)
        failed_at = self.clock.current_time_millis()
        started_at = record.get("retry_started_at")
        if started_at is None:  # the run's first failure (0 is a time like any other)
            started_at = failed_at
        delay = retry.next_delay_ms(attempt, self.rnd)
        budget = retry.max_duration_ms()
        out_of_time = budget is not None and (failed_at + delay - started_at) > budget
        if attempt < retry.max_attempts and not out_of_time:
            self.emit_failed(cause, run_count=run_count, attempt=attempt, will_retry=True, **extra)
            yield self.log(definition, LogLevel.WARNING, f"attempt {attempt} failed ({kind}: {message}); retrying")
            record["retry_attempt"] = attempt + 1
            record["retry_started_at"] = started_at
            record["alarm"] = int(failed_at + delay)
            return True
        reason = "max_duration" if out_of_time else "max_attempts"
        self.emit_failed(cause, run_count=run_count, attempt=attempt, will_retry=False, **extra)
        self.emit("job.retryExhausted", attempts=attempt, reason=f"{reason}: {kind}: {message}")
        self.emit("job.terminated", reason="retry_exhausted", run_count=run_count)
        yield self.log(definition, LogLevel.ERROR, f"retries exhausted after {attempt} attempts ({kind}: {message})")
        return False


# ==================================================================== shared by job types


def get_state(call: Call, d: JobDefinition) -> Body:
    record = call.record
    if record is None or (d.job_type == "debounce" and not record.get("event_count")):
        raise InstanceNotFoundError(instance_id=call.instance_id)
    if d.job_type == "task":
        call.respond({"state": record["state"], "scheduled_at": record["alarm"]})
    else:
        call.respond(record["state"])
    yield from ()


def terminate(call: Call, d: JobDefinition) -> Body:
    record = call.record
    reason = call.request.reason
    if record is None:
        call.respond({"terminated": False, "reason": "not_found"})
        return
    call.emit("job.terminated", reason=reason, run_count=record.get("run_count", record.get("execute_count", 0)))
    yield call.log(d, LogLevel.DEBUG, f"terminated ({reason})")
    call.commit(None)
    call.respond({"terminated": True, "reason": reason})


Handler = Callable[[Call, Any], Body]
"""A job type's operation: runs on the call and records its outcome."""
