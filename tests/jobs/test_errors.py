"""The eight errors, each provoked on a real path, and rebuilt as the same classes on the client side."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Never

import pytest

from durable_effect import Effect, Gen, RandomService, TaggedError
from durable_effect.backends.memory import MemoryStore
from durable_effect.jobs import (
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceExecuteContext,
    DuplicateEventError,
    ExecutionError,
    InMemoryTracker,
    InstanceNotFoundError,
    InvalidStateError,
    JobError,
    JobNotFoundError,
    JobsRuntime,
    Request,
    SchedulerError,
    StorageError,
    Task,
    TaskEventContext,
    TaskExecuteContext,
    ValidationError,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness, TestClock

from ._support import MINUTE, START, run


@dataclass(frozen=True)
class Count:
    n: int


@Effect.fn
def tick(ctx: ContinuousContext[Count]) -> Gen[None, Never, Never]:
    yield from ctx.update_state(lambda c: Count(c.n + 1))


def fail_flush(ctx: DebounceExecuteContext[Count]) -> Effect[None, ValueError, Never]:
    return Effect.fail(ValueError("flush refused"))


@Effect.fn
def on_event(event: Count, ctx: TaskEventContext[Count]) -> Gen[None, Never, Never]:
    yield from ctx.set_state(event)
    yield from ctx.schedule("1 minute")


@Effect.fn
def execute(ctx: TaskExecuteContext[Count]) -> Gen[None, Never, Never]:
    yield from Effect.void


ticker = Continuous.make(state_schema=Count, schedule=Continuous.every("1 minute"), execute=tick)
batcher = Debounce.make(event_schema=Count, execute=fail_flush, flush_after="1 minute")
counter = Task.make(state_schema=Count, event_schema=Count, on_event=on_event, execute=execute)
jobs = create_durable_jobs({"ticker": ticker, "batcher": batcher, "counter": counter})


def record(job_type: str, job_name: str, id: str, **fields: Any) -> dict[str, Any]:
    """A stored record as the engine writes it (tests write foreign ones into the store)."""
    return {
        "v": 1,
        "job_type": job_type,
        "job_name": job_name,
        "id": id,
        "created_at": START,
        "event_ids": {},
        "alarm": None,
        **fields,
    }


@pytest.mark.anyio
async def test_job_not_found_when_the_effect_runs(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    status = h.client.continuous("nope").status("a")  # building the accessor and the effect is fine

    with pytest.raises(JobNotFoundError) as info:
        await run(status)
    assert info.value == JobNotFoundError(job_type="continuous", name="nope")

    # A registered name of another job type is not found either.
    with pytest.raises(JobNotFoundError) as wrong_type:
        await run(h.client.debounce("ticker").add("a", event={"n": 1}))
    assert (wrong_type.value.job_type, wrong_type.value.name) == ("debounce", "ticker")
    assert h.store.instance_ids() == []


@pytest.mark.anyio
async def test_job_not_found_for_an_alarm_of_a_removed_job(caplog: pytest.LogCaptureFixture) -> None:
    store, clock = MemoryStore(), TestClock(START)
    before = JobsRuntime(jobs.engine, store, clock=clock, random=RandomService(0), tracker=InMemoryTracker())
    await before.call(ticker_start("a"))
    assert store.alarm_of("continuous:ticker:a") == START + MINUTE

    # The next deployment no longer has the job; the instance's alarm still fires.
    without = create_durable_jobs({"batcher": batcher})
    after = JobsRuntime(without.engine, store, clock=clock, random=RandomService(0), tracker=InMemoryTracker())
    await clock.set_time(START + MINUTE)
    with caplog.at_level(logging.WARNING, logger="durable_effect"):
        outcome = await after.alarm("continuous:ticker:a")

    assert outcome.error == JobNotFoundError(job_type="continuous", name="ticker")
    assert store.alarm_of("continuous:ticker:a") is None  # consumed, not fired again and again
    assert store.next_alarm() is None
    assert "continuous:ticker:a" in store.instance_ids()  # the record is kept
    assert any("no continuous job named 'ticker'" in r.getMessage() for r in caplog.records)
    response = await after.call(Request(op="status", job_type="continuous", job_name="ticker", id="a"))
    assert response["ok"] is False and response["error"]["_tag"] == "JobNotFoundError"


def ticker_start(id: str) -> Request:
    return Request(op="start", job_type="continuous", job_name="ticker", id=id, payload={"n": 0})


@pytest.mark.anyio
async def test_instance_not_found(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    for effect, name in [
        (h.client.continuous(ticker).get_state("x"), "continuous:ticker:x"),
        (h.client.debounce(batcher).get_state("x"), "debounce:batcher:x"),
        (h.client.task(counter).get_state("x"), "task:counter:x"),
    ]:
        with pytest.raises(InstanceNotFoundError) as info:
            await run(effect)
        assert info.value.instance_id == name
        assert info.value.message == f"instance {name!r} does not exist"


@pytest.mark.anyio
async def test_invalid_state_for_a_record_of_another_job_type(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    foreign = record("task", "counter", "x", state={"n": 1}, event_count=1, execute_count=0)
    await h.store.save("continuous:ticker:x", foreign, None, False)
    client = h.client.continuous(ticker)

    for effect in (client.status("x"), client.get_state("x"), client.start("x", input=Count(0)), client.trigger("x")):
        with pytest.raises(InvalidStateError) as info:
            await run(effect)
        assert info.value.instance_id == "continuous:ticker:x"
        assert "continuous" in info.value.expected and "task" in info.value.actual
    assert await h.store.load("continuous:ticker:x") == foreign


@pytest.mark.anyio
async def test_invalid_state_for_another_record_version(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    future = {**record("task", "counter", "x", state={"n": 1}, event_count=1, execute_count=0), "v": 99}
    await h.store.save("task:counter:x", future, START + MINUTE, True)

    with pytest.raises(InvalidStateError) as info:
        await run(h.client.task(counter).send("x", event=Count(2)))
    assert info.value.expected == "record version 1" and info.value.actual == "version 99"

    # Its alarm cannot run either: it is consumed (not fired forever) and the record is left alone.
    await h.advance("2 minutes")
    assert h.alarm_of("task:counter:x") is None
    kept = await h.store.load("task:counter:x")
    assert kept is not None and kept["v"] == 99 and kept["state"] == {"n": 1}


@pytest.mark.anyio
async def test_validation_error_for_a_stored_state_the_schema_rejects(
    jobs_harness: Callable[..., JobsHarness],
) -> None:
    h = jobs_harness(jobs, start_time=START)
    bad = record("continuous", "ticker", "x", state={"n": "many"}, run_count=1, status="running", alarm=START + MINUTE)
    await h.store.save("continuous:ticker:x", bad, START + MINUTE, True)

    with pytest.raises(ValidationError) as info:
        await run(h.client.continuous(ticker).get_state("x"))
    assert "Count" in info.value.schema and info.value.issues

    await h.advance("1 minute")  # the alarm cannot decode the state: consumed, nothing run or changed
    assert h.alarm_of("continuous:ticker:x") is None
    assert (await h.store.load("continuous:ticker:x") or {})["state"] == {"n": "many"}


@pytest.mark.anyio
async def test_execution_error(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    await run(h.client.debounce(batcher).add("k", event=Count(1)))
    with pytest.raises(ExecutionError) as info:
        await run(h.client.debounce(batcher).flush("k"))
    assert info.value.instance_id == "debounce:batcher:k" and "flush refused" in info.value.cause


@pytest.mark.anyio
async def test_duplicate_event(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    await run(h.client.task(counter).send("t", event=Count(1), event_id="e"))
    with pytest.raises(DuplicateEventError) as info:
        await run(h.client.task(counter).send("t", event=Count(1), event_id="e"))
    assert info.value == DuplicateEventError(instance_id="task:counter:t", event_id="e")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("operation", "error_class"),
    [
        ("get", StorageError),
        ("put", StorageError),
        ("delete", StorageError),
        ("set_alarm", SchedulerError),
        ("delete_alarm", SchedulerError),
    ],
)
async def test_storage_and_scheduler_errors(
    jobs_harness: Callable[..., JobsHarness], operation: str, error_class: type[TaggedError]
) -> None:
    h = jobs_harness(jobs, start_time=START)
    client = h.client.continuous(ticker)
    if operation in ("delete", "delete_alarm"):
        await run(client.start("a", input=Count(0)))
    h.fail_storage(operation)

    call = client.terminate("a") if operation in ("delete", "delete_alarm") else client.start("a", input=Count(0))
    with pytest.raises(error_class) as info:
        await run(call)

    error: Any = info.value
    assert error.operation == operation and "injected" in error.cause
    assert isinstance(error, StorageError | SchedulerError)
    await run(call)  # the fault was not retried by the engine; the same call then succeeds


def test_error_classes() -> None:
    errors: list[JobError] = [
        JobNotFoundError(job_type="task", name="x"),
        InstanceNotFoundError(instance_id="task:x:1"),
        InvalidStateError(instance_id="task:x:1", expected="a", actual="b"),
        ValidationError(schema="event (X)", issues=["a: required"]),
        ExecutionError(instance_id="task:x:1", cause="boom"),
        DuplicateEventError(instance_id="task:x:1", event_id="e"),
        StorageError(operation="put", cause="disk"),
        SchedulerError(operation="set_alarm", cause="no"),
    ]
    assert [type(e)._tag for e in errors] == [type(e).__name__ for e in errors]
    assert all(isinstance(e, TaggedError) and e.message for e in errors)
    assert len({type(e) for e in errors}) == 8


@dataclass(frozen=True)
class Other:
    label: str


@pytest.mark.anyio
async def test_a_state_that_does_not_match_its_schema(jobs_harness: Callable[..., JobsHarness]) -> None:
    bad_after: list[int] = [2]

    @Effect.fn
    def sloppy(ctx: ContinuousContext[Any]) -> Gen[None, Never, Never]:
        state = yield from ctx.state
        yield from ctx.set_state(Other("oops") if state.n + 1 >= bad_after[0] else Count(state.n + 1))

    @Effect.fn
    def task_event(event: Count, ctx: TaskEventContext[Any]) -> Gen[None, Never, Never]:
        yield from ctx.set_state(Other("oops") if event.n < 0 else event)
        yield from ctx.schedule("1 minute")

    @Effect.fn
    def task_execute(ctx: TaskExecuteContext[Any]) -> Gen[None, Never, Never]:
        yield from ctx.set_state(Other("oops"))

    def reduce(ctx: Any) -> Effect[Any, Never, Never]:
        return Effect.succeed(Other("oops"))

    sloppy_ticker = Continuous.make(state_schema=Count, schedule=Continuous.every("1 minute"), execute=sloppy)
    sloppy_task = Task.make(state_schema=Count, event_schema=Count, on_event=task_event, execute=task_execute)
    sloppy_batch = Debounce.make(
        event_schema=Count, state_schema=Count, on_event=reduce, execute=fail_flush, flush_after="1 minute"
    )
    h = jobs_harness(
        create_durable_jobs({"ticker": sloppy_ticker, "task": sloppy_task, "batch": sloppy_batch}), start_time=START
    )

    # From a client call: the call fails with ValidationError and nothing is written.
    bad_after[0] = 1
    with pytest.raises(ValidationError) as info:
        await run(h.client.continuous(sloppy_ticker).start("a", input=Count(0)))
    assert "Count" in info.value.schema
    with pytest.raises(ValidationError):
        await run(h.client.task(sloppy_task).send("t", event=Count(-1)))
    with pytest.raises(ValidationError):
        await run(h.client.debounce(sloppy_batch).add("d", event=Count(1)))
    assert h.store.instance_ids() == []

    # From an alarm: the run counts as failed; a continuous job keeps its schedule, a task's schedule is used.
    bad_after[0] = 2
    await run(h.client.continuous(sloppy_ticker).start("a", input=Count(0)))
    await run(h.client.task(sloppy_task).send("t", event=Count(5)))
    await h.advance("2 minutes")

    assert await run(h.client.continuous(sloppy_ticker).get_state("a")) == Count(1)
    assert (await run(h.client.continuous(sloppy_ticker).status("a"))).next_run_at == START + 3 * MINUTE
    task_state = await run(h.client.task(sloppy_task).get_state("t"))
    assert task_state.state == Count(5) and task_state.scheduled_at is None
    kinds = [(e["job_type"], e["error"]["kind"]) for e in h.events_of("job.failed")]
    assert kinds == [
        ("continuous", "ValidationError"),  # the failed calls
        ("task", "ValidationError"),
        ("continuous", "ValidationError"),  # the alarms at +1 minute
        ("task", "ValidationError"),
        ("continuous", "ValidationError"),  # +2 minutes
    ]
