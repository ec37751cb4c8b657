"""Telemetry events: the eight types and their wire form, recorded by the harness from the virtual clock."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Never

import pytest
from pydantic import BaseModel

from durable_effect import Effect, Gen, TaggedError
from durable_effect.jobs import (
    EVENT_TYPES,
    Backoff,
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceExecuteContext,
    DurableJobs,
    RetryConfig,
    StorageError,
    Task,
    TaskEventContext,
    TaskExecuteContext,
    TrackerConfig,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness

from ._support import MINUTE, START, run


@dataclass(frozen=True)
class Count:
    n: int


class Broken(TaggedError):
    detail: str


@Effect.fn
def fragile(ctx: ContinuousContext[Count]) -> Gen[None, Broken, Never]:
    state = yield from ctx.state
    yield from ctx.set_state(Count(state.n + 1))
    if ctx.run_count >= 2:
        yield from Broken(detail="run two breaks")


@Effect.fn
def deliver(ctx: DebounceExecuteContext[Count]) -> Gen[None, Never, Never]:
    yield from Effect.void


@Effect.fn
def on_event(event: Count, ctx: TaskEventContext[Count]) -> Gen[None, Never, Never]:
    yield from ctx.set_state(event)
    yield from ctx.schedule("1 minute")


@Effect.fn
def execute(ctx: TaskExecuteContext[Count]) -> Gen[None, Never, Never]:
    yield from Effect.void


TRACKER = TrackerConfig(endpoint="http://127.0.0.1:9/events", env="test", service_key="svc-1")


def all_jobs(tracker: TrackerConfig | None = TRACKER) -> DurableJobs:
    retry = RetryConfig(max_attempts=2, delay=Backoff.constant("10 seconds"), jitter=False)
    return create_durable_jobs(
        {
            "fragile": Continuous.make(
                state_schema=Count, schedule=Continuous.every("1 minute"), execute=fragile, retry=retry
            ),
            "batch": Debounce.make(event_schema=Count, execute=deliver, flush_after="5 seconds"),
            "task": Task.make(state_schema=Count, event_schema=Count, on_event=on_event, execute=execute),
        },
        tracker=tracker,
    )


async def produce_every_event(h: JobsHarness) -> None:
    await run(h.client.continuous("fragile").start("c", input={"n": 0}))  # started, executed
    await run(h.client.debounce("batch").add("d", event={"n": 1}))  # debounce.started
    await run(h.client.task("task").send("t", event={"n": 1}))  # job.started, task.scheduled
    await h.advance("2 minutes")  # continuous run 2 fails, retry fails: exhausted, terminated; flush; execute


@pytest.mark.anyio
async def test_every_event_type_with_its_fields(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(all_jobs(), start_time=START)

    await produce_every_event(h)

    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in h.events:
        by_type.setdefault(event["type"], []).append(event)
    assert set(by_type) == set(EVENT_TYPES)
    assert len(EVENT_TYPES) == 8

    def fields(event: dict[str, Any]) -> dict[str, Any]:
        common = {"type", "event_id", "timestamp", "source", "instance_id", "id", "job_type", "job_name"}
        return {k: v for k, v in event.items() if k not in common | {"env", "service_key"}}

    started = [fields(e) for e in by_type["job.started"]]
    assert started == [{"input": {"n": 0}}, {"input": {"n": 1}}]
    assert [fields(e) for e in by_type["job.executed"]] == [
        {"run_count": 1, "duration_ms": 0, "attempt": 1},
        {"run_count": 1, "duration_ms": 0, "attempt": 1},  # the task's execute
    ]
    assert [fields(e) for e in by_type["job.failed"]] == [
        {"error": {"message": "Broken(detail='run two breaks')", "kind": "Broken"}, "run_count": 2, "attempt": 1,
         "will_retry": True},
        {"error": {"message": "Broken(detail='run two breaks')", "kind": "Broken"}, "run_count": 2, "attempt": 2,
         "will_retry": False},
    ]  # fmt: skip
    [exhausted] = by_type["job.retryExhausted"]
    assert fields(exhausted)["attempts"] == 2 and "run two breaks" in fields(exhausted)["reason"]
    assert [fields(e) for e in by_type["job.terminated"]] == [{"reason": "retry_exhausted", "run_count": 2}]
    assert [fields(e) for e in by_type["debounce.started"]] == [{"flush_at": START + 5_000}]
    assert [fields(e) for e in by_type["debounce.flushed"]] == [
        {"event_count": 1, "reason": "flush_after", "duration_ms": 0}
    ]
    assert [fields(e) for e in by_type["task.scheduled"]] == [{"scheduled_at": START + MINUTE, "trigger": "event"}]

    [flushed] = by_type["debounce.flushed"]
    assert {k: flushed[k] for k in ("source", "instance_id", "id", "job_type", "job_name", "env", "service_key")} == {
        "source": "job",
        "instance_id": "debounce:batch:d",
        "id": "d",
        "job_type": "debounce",
        "job_name": "batch",
        "env": "test",
        "service_key": "svc-1",
    }
    json.dumps(h.events)  # the wire form is JSON


@pytest.mark.anyio
async def test_event_ids_are_uuid7_and_timestamps_come_from_the_virtual_clock(
    jobs_harness: Callable[..., JobsHarness],
) -> None:
    h = jobs_harness(all_jobs(), start_time=START)

    await produce_every_event(h)

    ids = [uuid.UUID(e["event_id"]) for e in h.events]
    assert len(set(ids)) == len(ids)
    for event, event_id in zip(h.events, ids, strict=True):
        assert event_id.version == 7 and event_id.variant == uuid.RFC_4122
        moment = dt.datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        assert event["timestamp"].endswith("Z")
        ms = int(moment.timestamp() * 1000)
        assert event_id.int >> 80 == ms  # the UUIDv7 time is the event's time
        assert START <= ms <= START + 2 * MINUTE
    flushed = next(e for e in h.events if e["type"] == "debounce.flushed")
    assert flushed["timestamp"] == "2023-11-14T22:13:25.000Z"


@pytest.mark.anyio
async def test_without_a_tracker_events_are_still_recorded(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(all_jobs(tracker=None), start_time=START)
    await produce_every_event(h)
    assert {e["type"] for e in h.events} == set(EVENT_TYPES)
    assert all(e["env"] == "" and e["service_key"] == "" for e in h.events)


@pytest.mark.anyio
async def test_include_state_adds_the_pre_execution_state(jobs_harness: Callable[..., JobsHarness]) -> None:
    tracker = TrackerConfig(endpoint="http://127.0.0.1:9/", env="e", service_key="k", include_state=True)
    h = jobs_harness(all_jobs(tracker), start_time=START)

    await produce_every_event(h)

    states = [(e["type"], e.get("pre_execution_state")) for e in h.events if "pre_execution_state" in e]
    assert states == [
        ("job.executed", {"n": 0}),  # the continuous start
        ("debounce.flushed", {"n": 1}),
        ("job.failed", {"n": 1}),  # the continuous run 2 and its retry
        ("job.executed", {"n": 1}),  # the task's execute
        ("job.failed", {"n": 1}),
    ]


@pytest.mark.anyio
async def test_events_of_failed_calls_are_recorded(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(all_jobs(), start_time=START)
    h.fail_storage("put")

    with pytest.raises(StorageError):
        await run(h.client.task("task").send("t", event={"n": 1}))

    assert [e["type"] for e in h.events] == ["job.started", "task.scheduled"]


class Reminder(BaseModel):
    at: dt.datetime


@pytest.mark.anyio
async def test_a_task_started_by_a_raw_event_reports_it_as_json(jobs_harness: Callable[..., JobsHarness]) -> None:
    # A dict holding a datetime is a valid event for this model in process; the event sent on is its JSON form.
    job = Task.make(
        state_schema=Reminder,
        event_schema=Reminder,
        on_event=lambda e, ctx: ctx.set_state(e),
        execute=lambda ctx: Effect.void,
    )
    h = jobs_harness(create_durable_jobs({"remind": job}), start_time=START)
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

    await run(h.client.task(job).send("r", event={"at": when}))  # type: ignore[arg-type]

    [started] = [e for e in h.events if e["type"] == "job.started"]
    assert started["input"] == {"at": "2030-01-02T03:04:05Z"}
    json.dumps(h.events)  # every event is JSON
