"""Debounce jobs: add events to a batch, flush it (after a delay, at max events, or on demand), clear it."""

from __future__ import annotations

from typing import Any

from ..effect import (
    LogLevel,
)
from ._call import Body, Call, Handler, HandlerFailed, Record, describe_cause, get_state
from ._contexts import (
    DebounceEventContext,
    DebounceExecuteContext,
)
from ._definitions import DebounceDefinition


def _debounce_add(call: Call, d: DebounceDefinition[Any, Any, Any]) -> Body:
    record = call.record
    call.check_duplicate(record)
    event = call.decode(d.event_schema, call.request.payload, "event")
    record = call.new_record(state=None, event_count=0, started_at=None) if record is None else dict(record)
    first = not record["event_count"]
    created = first  # a new batch, whether or not a record was kept to remember event ids
    count = record["event_count"] + 1
    if d.on_event is None:  # the batch's state is its latest event
        new_state = event
    else:
        state = None if first else call.decode(d.state_schema, record["state"], "stored state")
        ctx = DebounceEventContext(event=event, state=state, event_count=count, instance_id=call.instance_id)
        try:
            new_state = yield from call.run_user(d, lambda: d.on_event(ctx))  # type: ignore[misc]
        except HandlerFailed as failed:
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
        # None once the batch is gone; the retry's time when the flush failed and a retry is armed.
        will_flush_at = call.outcome.alarm
        call.respond(
            {"created": created, "event_count": count, "will_flush_at": will_flush_at, "instance_id": call.instance_id}
        )
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
    call: Call, d: DebounceDefinition[Any, Any, Any], record: Record, reason: str, from_client: bool
) -> Body:
    """Run ``execute`` on the batch and commit the outcome; returns True when the batch was flushed.

    A failure with a retry policy returns False, with the retry armed in the committed record (or, once the
    retries are exhausted, the instance deleted); without one, a client call fails and an alarm drops the batch.
    """
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
    except HandlerFailed as failed:
        if d.retry is not None:
            record = {**record, "flush_reason": reason}
            if (yield from call.retry_or_exhaust(d, record, failed.cause, 1, attempt, extra)):
                call.commit(record)
            else:
                call.commit(None)
            return False
        kind, message = describe_cause(failed.cause)
        call.emit_failed(failed.cause, run_count=1, attempt=attempt, will_retry=False, **extra)
        if from_client:
            yield call.log(d, LogLevel.ERROR, f"flush of {count} events failed ({kind}: {message})")
            raise call.client_error(failed) from None
        yield call.log(d, LogLevel.ERROR, f"flush of {count} events failed ({kind}: {message}); batch dropped")
        call.commit(_debounce_emptied(call, record))
        return False
    call.emit("debounce.flushed", event_count=count, reason=reason, duration_ms=call.duration_ms, **extra)
    yield call.log(d, LogLevel.DEBUG, f"flushed {count} events ({reason})")
    call.commit(_debounce_emptied(call, record))
    return True


def _debounce_emptied(call: Call, record: Record) -> Record | None:
    """The record after its batch is gone: kept only to remember recent event ids."""
    kept = call.new_record(state=None, event_count=0, started_at=None)
    kept["created_at"] = record["created_at"]
    kept["event_ids"] = record.get("event_ids", {})
    call.remember_event(kept)
    return kept if kept["event_ids"] else None


def _debounce_alarm(call: Call, d: DebounceDefinition[Any, Any, Any]) -> Body:
    if call.record is None or not call.record.get("event_count"):
        # Nothing to flush (cleared or already flushed): just consume the alarm.
        call.commit(None if call.record is None else {**call.record, "alarm": None})
        return
    yield from _debounce_flush_run(call, d, dict(call.record), "flush_after", from_client=False)


def _debounce_flush(call: Call, d: DebounceDefinition[Any, Any, Any]) -> Body:
    if call.record is None or not call.record.get("event_count"):
        call.respond({"flushed": False, "event_count": 0})
        return
    count = call.record["event_count"]
    flushed = yield from _debounce_flush_run(call, d, dict(call.record), "manual", from_client=True)
    call.respond({"flushed": flushed, "event_count": count})  # False: it failed and a retry is armed (or ran out)


def _debounce_clear(call: Call, d: DebounceDefinition[Any, Any, Any]) -> Body:
    if call.record is None or not call.record.get("event_count"):
        call.respond({"cleared": False, "discarded_events": 0})
        return
    count = call.record["event_count"]
    yield call.log(d, LogLevel.DEBUG, f"cleared {count} events")
    call.commit(_debounce_emptied(call, call.record))
    call.respond({"cleared": True, "discarded_events": count})


def _debounce_status(call: Call, d: DebounceDefinition[Any, Any, Any]) -> Body:
    record = call.record
    if record is None:
        call.respond({"status": "not_found", "event_count": 0, "will_flush_at": None})
    elif record["event_count"]:
        call.respond({"status": "debouncing", "event_count": record["event_count"], "will_flush_at": record["alarm"]})
    else:
        call.respond({"status": "idle", "event_count": 0, "will_flush_at": None})
    yield from ()


HANDLERS: dict[str, Handler] = {
    "add": _debounce_add,
    "flush": _debounce_flush,
    "clear": _debounce_clear,
    "status": _debounce_status,
    "get_state": get_state,
    "alarm": _debounce_alarm,
}
"""The debounce operations, by name (``"alarm"`` when the instance's alarm fires)."""
