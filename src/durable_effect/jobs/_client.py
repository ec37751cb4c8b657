"""The typed client: every method returns an ``Effect`` whose error type lists exactly what can go wrong."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Never, Protocol, Self, TypeVar, overload

from returns.result import Failure as ResultFailure
from returns.result import Success

from ..effect import Die, Effect, Fail
from ..effect._internal.context import Context
from ..effect._internal.core import Async, Exit
from ..schema import Schema, SchemaIssues
from ._definitions import ContinuousDefinition, DebounceDefinition, JobDefinition, TaskDefinition
from ._errors import (
    DuplicateEventError,
    ExecutionError,
    InstanceNotFoundError,
    InvalidStateError,
    JobNotFoundError,
    SchedulerError,
    StorageError,
    ValidationError,
)
from ._protocol import Request, parse_response
from ._results import (
    ContinuousStartResult,
    ContinuousStatusResult,
    DebounceAddResult,
    DebounceClearResult,
    DebounceFlushResult,
    DebounceStatusResult,
    TaskSendResult,
    TaskStateResult,
    TaskStatusResult,
    TerminateResult,
    TriggerResult,
)

if TYPE_CHECKING:
    from ..host import Host
    from ._registry import DurableJobs

S = TypeVar("S")
I = TypeVar("I")  # noqa: E741
T = TypeVar("T")

StartErrors = (
    JobNotFoundError
    | ValidationError
    | DuplicateEventError
    | ExecutionError
    | InvalidStateError
    | StorageError
    | SchedulerError
)
"""``start``/``add``/``send``: bad input, a repeated event id, the job's own failure, storage."""
RunErrors = JobNotFoundError | ExecutionError | InvalidStateError | ValidationError | StorageError | SchedulerError
"""``trigger``/``flush``: the job's own failure, storage."""
ReadErrors = JobNotFoundError | InvalidStateError | StorageError
"""``status``: an unknown job, a foreign record, storage."""
StateErrors = JobNotFoundError | InstanceNotFoundError | InvalidStateError | ValidationError | StorageError
"""``get_state``: also a missing instance, or a stored state its schema no longer accepts."""
ChangeErrors = JobNotFoundError | InvalidStateError | StorageError | SchedulerError
"""``terminate``/``clear``: an unknown job, a foreign record, storage."""


class Transport(Protocol):
    """Carries a request to the instances and brings back the wire response."""

    async def call(self, request: Request) -> dict[str, Any]: ...


class TransportFailure(Exception):
    """A transport could not deliver the request (reported to callers as a ``StorageError``)."""


class _Accessor:
    def __init__(self, client: JobsClient, job_type: str, name: str, definition: JobDefinition | None) -> None:
        self._client = client
        self._job_type = job_type
        self._name = name
        self._definition = definition

    def _call(
        self,
        op: str,
        id: str,
        build: Callable[[Any], T],
        *,
        payload: Any = None,
        event_id: str | None = None,
        reason: str | None = None,
    ) -> Effect[T, Any, Never]:
        if not isinstance(id, str) or not id:
            raise ValueError(f"instance id must be a non-empty string, got {id!r}")
        if event_id is not None and (not isinstance(event_id, str) or not event_id):
            raise ValueError(f"event_id must be a non-empty string or None, got {event_id!r}")
        request = Request(
            op=op,
            job_type=self._job_type,
            job_name=self._name,
            id=id,
            payload=payload,
            event_id=event_id,
            reason=reason,
        )
        transport = self._client._transport

        async def run(_ctx: Context) -> Exit:
            # One asynchronous step: send, then turn the response into the call's exit (an exception anywhere
            # but a TransportFailure is a defect, as it would be in a promise followed by a flat_map).
            try:
                response = await transport.call(request)
            except TransportFailure as exc:
                response = {"ok": False, "error": {"_tag": "StorageError", "operation": "call", "cause": str(exc)}}
            except Exception as exc:
                return ResultFailure(Die(exc))
            try:
                value, error = parse_response(response)
                if error is not None:
                    return ResultFailure(Fail(error))
                return Success(build(value))
            except Exception as exc:
                return ResultFailure(Die(exc))

        return Async(run)

    def _encode(self, schema: Schema[Any] | None, value: Any) -> Any:
        """Encode a typed value for the wire; raw JSON (e.g. a dict for a model) goes as is, validated there."""
        if schema is None:
            return value
        try:
            return schema.encode(value)
        except (SchemaIssues, ValueError, TypeError):
            return value

    def _decode_state(self, schema: Schema[Any] | None, data: Any) -> Any:
        if schema is None or data is None:
            return data
        try:
            return schema.decode(data)
        except SchemaIssues as exc:
            raise _StoredStateInvalid(
                ValidationError(schema=f"stored state ({schema.name})", issues=exc.issues)
            ) from None

    def _known_definition(self) -> JobDefinition | None:
        definition = self._definition
        if definition is None:  # looked up once: a registry's definitions never change
            definition = self._definition = self._client._lookup(self._job_type, self._name)
        return definition

    def _state_schema(self) -> Schema[Any] | None:
        definition = self._known_definition()
        return definition.state_schema if definition is not None else None

    def _event_schema(self) -> Schema[Any] | None:
        definition = self._known_definition()
        return definition.event_schema if isinstance(definition, DebounceDefinition | TaskDefinition) else None

    def _get_state(self, id: str, build: Callable[[Any], T]) -> Effect[T, StateErrors, Never]:
        def decode(value: Any) -> Effect[T, ValidationError, Never]:
            try:
                return Effect.succeed(build(value))
            except _StoredStateInvalid as invalid:
                return Effect.fail(invalid.error)

        return self._call("get_state", id, lambda value: value).flat_map(decode)


class _StoredStateInvalid(Exception):
    def __init__(self, error: ValidationError) -> None:
        super().__init__(error.message)
        self.error = error


class ContinuousClient(_Accessor, Generic[S]):
    """Calls on a continuous job's instances."""

    def start(
        self, id: str, *, input: S, event_id: str | None = None
    ) -> Effect[ContinuousStartResult, StartErrors, Never]:
        """Create the instance with ``input`` as its state and run it (unless ``start_immediately=False``)."""
        payload = self._encode(self._state_schema(), input)
        return self._call("start", id, lambda v: ContinuousStartResult(**v), payload=payload, event_id=event_id)

    def trigger(self, id: str) -> Effect[TriggerResult, RunErrors, Never]:
        """Run now and re-base the schedule; ``triggered=False`` when the instance does not exist."""
        return self._call("trigger", id, lambda v: TriggerResult(**v))

    def status(self, id: str) -> Effect[ContinuousStatusResult, ReadErrors, Never]:
        return self._call("status", id, lambda v: ContinuousStatusResult(**v))

    def get_state(self, id: str) -> Effect[S, StateErrors, Never]:
        """The current state; ``InstanceNotFoundError`` when the instance does not exist."""
        schema = self._state_schema()
        return self._get_state(id, lambda v: self._decode_state(schema, v))

    def terminate(self, id: str, *, reason: str | None = None) -> Effect[TerminateResult, ChangeErrors, Never]:
        """Cancel the alarm and delete the instance; ``terminated=False, reason="not_found"`` if missing."""
        return self._call("terminate", id, lambda v: TerminateResult(**v), reason=reason)


class DebounceClient(_Accessor, Generic[I, S]):
    """Calls on a debounce job's instances."""

    def add(self, id: str, *, event: I, event_id: str | None = None) -> Effect[DebounceAddResult, StartErrors, Never]:
        """Add an event to the instance's batch (the first event of a batch arms the flush)."""
        payload = self._encode(self._event_schema(), event)
        return self._call("add", id, lambda v: DebounceAddResult(**v), payload=payload, event_id=event_id)

    def flush(self, id: str) -> Effect[DebounceFlushResult, RunErrors, Never]:
        """Flush the batch now (``flushed=False`` when there is none)."""
        return self._call("flush", id, lambda v: DebounceFlushResult(**v))

    def clear(self, id: str) -> Effect[DebounceClearResult, ChangeErrors, Never]:
        """Drop the batch without running ``execute``."""
        return self._call("clear", id, lambda v: DebounceClearResult(**v))

    def status(self, id: str) -> Effect[DebounceStatusResult, ReadErrors, Never]:
        return self._call("status", id, lambda v: DebounceStatusResult(**v))

    def get_state(self, id: str) -> Effect[S, StateErrors, Never]:
        """The batch state; ``InstanceNotFoundError`` when no batch is open."""
        schema = self._state_schema()
        return self._get_state(id, lambda v: self._decode_state(schema, v))


class TaskClient(_Accessor, Generic[S, I]):
    """Calls on a task job's instances."""

    def send(self, id: str, *, event: I, event_id: str | None = None) -> Effect[TaskSendResult, StartErrors, Never]:
        """Deliver an event to ``on_event`` (creating the instance on its first event)."""
        payload = self._encode(self._event_schema(), event)
        return self._call("send", id, lambda v: TaskSendResult(**v), payload=payload, event_id=event_id)

    def trigger(self, id: str) -> Effect[TriggerResult, RunErrors, Never]:
        """Run ``execute`` now (the schedule is kept unless ``execute`` changes it)."""
        return self._call("trigger", id, lambda v: TriggerResult(**v))

    def status(self, id: str) -> Effect[TaskStatusResult, ReadErrors, Never]:
        return self._call("status", id, lambda v: TaskStatusResult(**v))

    def get_state(self, id: str) -> Effect[TaskStateResult[S], StateErrors, Never]:
        """The state and the schedule; ``InstanceNotFoundError`` when the instance does not exist."""
        schema = self._state_schema()
        return self._get_state(
            id, lambda v: TaskStateResult(state=self._decode_state(schema, v["state"]), scheduled_at=v["scheduled_at"])
        )

    def terminate(self, id: str, *, reason: str | None = None) -> Effect[TerminateResult, ChangeErrors, Never]:
        """Cancel the schedule and delete the instance."""
        return self._call("terminate", id, lambda v: TerminateResult(**v), reason=reason)


class JobsClient:
    """Drives job instances through a transport. Get one from ``create_durable_jobs(...).JobsClient``:
    ``.memory()``, ``.local(path)``, ``.from_url(url)`` or ``.from_binding(env.JOBS)``."""

    _jobs: ClassVar[DurableJobs | None] = None

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def _lookup(self, job_type: str, name: str) -> JobDefinition | None:
        jobs = type(self)._jobs
        return None if jobs is None else jobs.engine.definition(job_type, name)

    def _name_of(self, job: str | JobDefinition, job_type: str) -> tuple[str, JobDefinition | None]:
        if isinstance(job, str):
            return job, None
        if job.job_type != job_type:
            raise TypeError(f"expected a {job_type} definition, got a {job.job_type} one")
        jobs = type(self)._jobs
        name = None if jobs is None else jobs.name_of(job)
        if name is None:
            raise ValueError("this definition is not registered with create_durable_jobs(...) for this client")
        return name, job

    @overload
    def continuous(self, job: ContinuousDefinition[S, Any]) -> ContinuousClient[S]: ...
    @overload
    def continuous(self, job: str) -> ContinuousClient[Any]: ...
    def continuous(self, job: str | ContinuousDefinition[Any, Any]) -> ContinuousClient[Any]:
        """The continuous job ``job`` (a name, or the definition for typed ``input``/state)."""
        name, definition = self._name_of(job, "continuous")
        return ContinuousClient(self, "continuous", name, definition)

    @overload
    def debounce(self, job: DebounceDefinition[I, S, Any]) -> DebounceClient[I, S]: ...
    @overload
    def debounce(self, job: str) -> DebounceClient[Any, Any]: ...
    def debounce(self, job: str | DebounceDefinition[Any, Any, Any]) -> DebounceClient[Any, Any]:
        """The debounce job ``job`` (a name, or the definition for typed events/state)."""
        name, definition = self._name_of(job, "debounce")
        return DebounceClient(self, "debounce", name, definition)

    @overload
    def task(self, job: TaskDefinition[S, I, Any]) -> TaskClient[S, I]: ...
    @overload
    def task(self, job: str) -> TaskClient[Any, Any]: ...
    def task(self, job: str | TaskDefinition[Any, Any, Any]) -> TaskClient[Any, Any]:
        """The task job ``job`` (a name, or the definition for typed events/state)."""
        name, definition = self._name_of(job, "task")
        return TaskClient(self, "task", name, definition)

    async def aclose(self) -> None:
        """Release what the transport holds (the HTTP client's connections); other transports hold nothing."""
        close = getattr(self._transport, "aclose", None)
        if close is not None:
            await close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- ways to connect

    @classmethod
    def memory(cls) -> JobsClient:
        """An in-memory backend on the real clock: due alarms run at the start of the next call."""
        from ..backends.memory import MemoryBackend

        return cls(MemoryBackend(cls._registered()).transport())

    @classmethod
    def local(cls, path: str | os.PathLike[str] | Host) -> JobsClient:
        """An embedded SQLite host on ``path`` in this process, or the :class:`Host` given (see
        ``durable_effect.host``)."""
        from ..host import local_transport

        return cls(local_transport(cls._registered(), path))

    @classmethod
    def from_url(cls, url: str, token: str | None = None) -> JobsClient:
        """A running local host over HTTP."""
        from ..host import http_transport

        return cls(http_transport(url, token))

    @classmethod
    def from_binding(cls, binding: Any) -> JobsClient:
        """The ``Jobs`` Durable Object namespace bound in a Cloudflare Worker (``env.JOBS``)."""
        from ..backends.cloudflare import binding_transport

        return cls(binding_transport(binding))

    @classmethod
    def _registered(cls) -> DurableJobs:
        if cls._jobs is None:
            raise TypeError("use the JobsClient of create_durable_jobs(...), which knows the job definitions")
        return cls._jobs
