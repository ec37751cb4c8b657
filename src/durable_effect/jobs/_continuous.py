"""Continuous jobs: start, trigger, status, terminate, and the alarm that runs ``execute`` on schedule."""

from __future__ import annotations

from typing import Any

from ..effect import (
    Clock,
    Effect,
    LogLevel,
)
from ._call import Body, Call, Handler, HandlerFailed, Record, describe_cause, get_state, terminate
from ._contexts import (
    ContinuousContext,
    Draft,
)
from ._definitions import ContinuousDefinition


def _continuous_start(call: Call, d: ContinuousDefinition[Any, Any]) -> Body:
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


def _continuous_run(call: Call, d: ContinuousDefinition[Any, Any], record: Record, from_client: bool) -> Body:
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
    except HandlerFailed as failed:
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


def _continuous_alarm(call: Call, d: ContinuousDefinition[Any, Any]) -> Body:
    if call.record is None:
        call.commit(None)  # a stale alarm of a deleted instance: consume it
        return
    yield from _continuous_run(call, d, dict(call.record), from_client=False)


def _continuous_trigger(call: Call, d: ContinuousDefinition[Any, Any]) -> Body:
    if call.record is None:
        call.respond({"triggered": False})
        return
    yield from _continuous_run(call, d, dict(call.record), from_client=True)
    call.respond({"triggered": True})


def _continuous_status(call: Call, d: ContinuousDefinition[Any, Any]) -> Body:
    record = call.record
    if record is None:
        call.respond({"status": "not_found", "run_count": 0, "next_run_at": None})
    else:
        call.respond({"status": "running", "run_count": record["run_count"], "next_run_at": record["alarm"]})
    yield from ()


HANDLERS: dict[str, Handler] = {
    "start": _continuous_start,
    "trigger": _continuous_trigger,
    "status": _continuous_status,
    "get_state": get_state,
    "terminate": terminate,
    "alarm": _continuous_alarm,
}
"""The continuous operations, by name (``"alarm"`` when the instance's alarm fires)."""
