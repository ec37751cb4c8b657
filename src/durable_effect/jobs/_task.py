"""Task jobs: events to ``on_event``, ``execute`` on the task's own alarm or ``trigger``, then ``on_idle``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..effect import (
    Cause,
    Effect,
    LogLevel,
)
from ._call import Body, Call, Handler, HandlerFailed, InvalidOutput, Record, describe_cause, get_state, terminate
from ._contexts import (
    Draft,
    TaskErrorContext,
    TaskEventContext,
    TaskExecuteContext,
    TaskIdleContext,
)
from ._definitions import TaskDefinition


def _task_context(cls: type[Any], call: Call, record: Record, draft: Draft) -> Any:
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
    call: Call, d: TaskDefinition[Any, Any, Any], record: Record, source: str, run: Callable[[Draft], Any]
) -> Body:
    """Run ``on_event`` or ``execute`` on a draft, then ``on_idle``/``on_error``; commit on success.

    Raises :class:`HandlerFailed` when the handler failed and no ``on_error`` took it.
    """
    stored = call.decode(d.state_schema, record["state"], "stored state") if record["state"] is not None else None
    draft = Draft(stored, record["alarm"], call.now)
    before = record["alarm"]
    try:
        yield from call.run_user(d, lambda: run(draft))
    except HandlerFailed as failed:
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
        except HandlerFailed as failed_again:
            raise HandlerFailed(failed.cause + failed_again.cause) from None
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
        except HandlerFailed as failed:
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
    except InvalidOutput as invalid:
        yield from _task_failed(call, d, record, source, invalid.cause, handled=False)
        raise
    new = {**record, "state": state, "alarm": draft.schedule}
    if draft.schedule is not None and draft.schedule != before:
        call.emit("task.scheduled", scheduled_at=draft.schedule, trigger=trigger)
    yield call.log(d, LogLevel.DEBUG, f"{source} done; scheduled at {draft.schedule}")
    call.commit(new)


def _task_failed(
    call: Call, d: TaskDefinition[Any, Any, Any], record: Record, source: str, cause: Cause[Any], handled: bool
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


def _task_send(call: Call, d: TaskDefinition[Any, Any, Any]) -> Body:
    record = call.record
    call.check_duplicate(record)
    event = call.decode(d.event_schema, call.request.payload, "event")
    created = record is None
    if record is None:
        record = call.new_record(state=None, event_count=0, execute_count=0)
        call.emit("job.started", input=call.encode(d.event_schema, event, "event"))  # JSON, as it came or not
    record = {**record, "event_count": record["event_count"] + 1}
    call.remember_event(record)

    def on_event(draft: Draft) -> Effect[Any, Any, Any]:
        return d.on_event(event, _task_context(TaskEventContext, call, record, draft))

    try:
        yield from _task_run(call, d, record, "on_event", on_event)
    except HandlerFailed as failed:
        raise call.client_error(failed) from None
    kept = call.outcome.record
    call.respond(
        {
            "created": created,
            "instance_id": call.instance_id,
            "scheduled_at": None if kept is None else kept["alarm"],
        }
    )


def _task_execute(call: Call, d: TaskDefinition[Any, Any, Any], from_client: bool) -> Body:
    assert call.record is not None
    record = {**call.record, "execute_count": call.record["execute_count"] + 1}
    if not from_client:
        record["alarm"] = None  # the alarm fired: its schedule is consumed before execute runs

    def execute(draft: Draft) -> Effect[Any, Any, Any]:
        return d.execute(_task_context(TaskExecuteContext, call, record, draft))

    try:
        yield from _task_run(call, d, record, "execute", execute)
    except HandlerFailed as failed:
        if from_client:
            raise call.client_error(failed) from None
        call.commit(record)  # keep the consumed schedule and the count; the run's own changes are dropped


def _task_alarm(call: Call, d: TaskDefinition[Any, Any, Any]) -> Body:
    if call.record is None:
        call.commit(None)
        return
    yield from _task_execute(call, d, from_client=False)


def _task_trigger(call: Call, d: TaskDefinition[Any, Any, Any]) -> Body:
    if call.record is None:
        call.respond({"triggered": False})
        return
    yield from _task_execute(call, d, from_client=True)
    call.respond({"triggered": True})


def _task_status(call: Call, d: TaskDefinition[Any, Any, Any]) -> Body:
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


HANDLERS: dict[str, Handler] = {
    "send": _task_send,
    "trigger": _task_trigger,
    "status": _task_status,
    "get_state": get_state,
    "terminate": terminate,
    "alarm": _task_alarm,
}
"""The task operations, by name (``"alarm"`` when the instance's alarm fires)."""
