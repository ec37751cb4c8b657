"""The cross-cutting guarantees: atomic calls, cheap calls, serialized instances, all time from the Clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Never

import anyio
import pytest

from durable_effect import Clock, Effect, Gen
from durable_effect.jobs import (
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    SchedulerError,
    StorageError,
    Task,
    TaskEventContext,
    TaskExecuteContext,
    ValidationError,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness

from ._support import DAY, HOUR, MINUTE, START, run


@dataclass(frozen=True)
class Count:
    n: int


@dataclass(frozen=True)
class Item:
    value: int
    schedule: bool = False


@dataclass(frozen=True)
class Batch:
    values: list[int] = field(default_factory=list)


@Effect.fn
def tick(ctx: ContinuousContext[Count]) -> Gen[None, Never, Never]:
    yield from ctx.update_state(lambda c: Count(c.n + 1))


def collect(ctx: DebounceEventContext[Item, Batch]) -> Effect[Batch, Never, Never]:
    return Effect.succeed(Batch([*(ctx.state.values if ctx.state else []), ctx.event.value]))


@Effect.fn
def deliver(ctx: DebounceExecuteContext[Batch]) -> Gen[None, Never, Never]:
    yield from Effect.void


@Effect.fn
def on_item(item: Item, ctx: TaskEventContext[Count]) -> Gen[None, Never, Never]:
    yield from ctx.update_state(lambda c: Count((c.n if c else 0) + item.value))
    if item.schedule:
        yield from ctx.schedule("1 minute")


@Effect.fn
def work(ctx: TaskExecuteContext[Count]) -> Gen[None, Never, Never]:
    yield from ctx.update_state(lambda c: Count((c.n if c else 0) * 10))


ticker = Continuous.make(state_schema=Count, schedule=Continuous.every("1 minute"), execute=tick)
batcher = Debounce.make(
    event_schema=Item, state_schema=Batch, on_event=collect, execute=deliver, flush_after="10 seconds", max_events=3
)
worker = Task.make(state_schema=Count, event_schema=Item, on_event=on_item, execute=work)
jobs = create_durable_jobs({"ticker": ticker, "batcher": batcher, "worker": worker})

Step = Callable[[JobsHarness], Awaitable[Any]]


def call(make: Callable[[JobsHarness], Any]) -> Step:
    async def step(h: JobsHarness) -> Any:
        return await run(make(h))

    return step


def alarm(instance_id: str) -> Step:
    async def step(h: JobsHarness) -> Any:
        due = h.alarm_of(instance_id)
        assert due is not None
        await h.clock.set_time(due)  # the alarm fires when it falls due
        outcome = await h.runtime.alarm(instance_id)
        if outcome.error is not None:
            raise outcome.error
        return outcome.value

    return step


def c(h: JobsHarness) -> Any:
    return h.client.continuous(ticker)


def d(h: JobsHarness) -> Any:
    return h.client.debounce(batcher)


def t(h: JobsHarness) -> Any:
    return h.client.task(worker)


start_a = call(lambda h: c(h).start("a", input=Count(0)))
add_1 = call(lambda h: d(h).add("a", event=Item(1)))
add_2 = call(lambda h: d(h).add("a", event=Item(2)))
send_scheduling = call(lambda h: t(h).send("a", event=Item(1, schedule=True)))


@dataclass(frozen=True)
class Scenario:
    name: str
    setup: list[Step]
    step: Step
    instance_id: str
    ops: tuple[int, int, int]  # reads, writes, alarm writes


SCENARIOS = [
    Scenario("continuous.start new", [], start_a, "continuous:ticker:a", (1, 1, 1)),
    Scenario("continuous.start existing", [start_a], start_a, "continuous:ticker:a", (1, 0, 0)),
    Scenario("continuous.trigger", [start_a], call(lambda h: c(h).trigger("a")), "continuous:ticker:a", (1, 1, 1)),
    Scenario("continuous.trigger missing", [], call(lambda h: c(h).trigger("a")), "continuous:ticker:a", (1, 0, 0)),
    Scenario("continuous.status", [start_a], call(lambda h: c(h).status("a")), "continuous:ticker:a", (1, 0, 0)),
    Scenario("continuous.get_state", [start_a], call(lambda h: c(h).get_state("a")), "continuous:ticker:a", (1, 0, 0)),
    Scenario("continuous.terminate", [start_a], call(lambda h: c(h).terminate("a")), "continuous:ticker:a", (1, 1, 1)),
    Scenario("continuous alarm", [start_a], alarm("continuous:ticker:a"), "continuous:ticker:a", (1, 1, 1)),
    Scenario("debounce.add first", [], add_1, "debounce:batcher:a", (1, 1, 1)),
    Scenario("debounce.add more", [add_1], add_2, "debounce:batcher:a", (1, 1, 0)),
    Scenario("debounce.add max_events", [add_1, add_2], add_2, "debounce:batcher:a", (1, 1, 1)),
    Scenario("debounce.flush", [add_1], call(lambda h: d(h).flush("a")), "debounce:batcher:a", (1, 1, 1)),
    Scenario("debounce.flush empty", [], call(lambda h: d(h).flush("a")), "debounce:batcher:a", (1, 0, 0)),
    Scenario("debounce.clear", [add_1], call(lambda h: d(h).clear("a")), "debounce:batcher:a", (1, 1, 1)),
    Scenario("debounce.status", [add_1], call(lambda h: d(h).status("a")), "debounce:batcher:a", (1, 0, 0)),
    Scenario("debounce.get_state", [add_1], call(lambda h: d(h).get_state("a")), "debounce:batcher:a", (1, 0, 0)),
    Scenario("debounce alarm", [add_1], alarm("debounce:batcher:a"), "debounce:batcher:a", (1, 1, 1)),
    Scenario("task.send scheduling", [], send_scheduling, "task:worker:a", (1, 1, 1)),
    Scenario(
        "task.send keeping the schedule",
        [send_scheduling],
        call(lambda h: t(h).send("a", event=Item(5))),
        "task:worker:a",
        (1, 1, 0),
    ),
    Scenario("task.trigger", [send_scheduling], call(lambda h: t(h).trigger("a")), "task:worker:a", (1, 1, 0)),
    Scenario("task.status", [send_scheduling], call(lambda h: t(h).status("a")), "task:worker:a", (1, 0, 0)),
    Scenario("task.get_state", [send_scheduling], call(lambda h: t(h).get_state("a")), "task:worker:a", (1, 0, 0)),
    Scenario("task.terminate", [send_scheduling], call(lambda h: t(h).terminate("a")), "task:worker:a", (1, 1, 1)),
    Scenario("task alarm", [send_scheduling], alarm("task:worker:a"), "task:worker:a", (1, 1, 1)),
]

OPERATIONS = ("get", "put", "delete", "set_alarm", "delete_alarm")


async def prepared(jobs_harness: Callable[..., JobsHarness], scenario: Scenario) -> JobsHarness:
    h = jobs_harness(jobs, start_time=START)
    for step in scenario.setup:
        await step(h)
    await h.clock.set_time(START + 1_000)  # the call under test happens a little later than its setup
    return h


async def snapshot(h: JobsHarness) -> dict[str, Any]:
    """Everything stored: each instance's record and alarm."""
    return {
        instance_id: (await h.store.load(instance_id), h.alarm_of(instance_id))
        for instance_id in h.store.instance_ids()
    } | {"(alarm)": h.store.next_alarm()}


@pytest.mark.anyio
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_cheap_calls(jobs_harness: Callable[..., JobsHarness], scenario: Scenario) -> None:
    """At most one read and one write per call, plus an alarm write only when the alarm changes."""
    h = await prepared(jobs_harness, scenario)
    h.reset_storage_ops()

    await scenario.step(h)

    reads, writes, alarm_writes = scenario.ops
    assert h.storage_ops(scenario.instance_id) == {"reads": reads, "writes": writes, "alarm_writes": alarm_writes}


@pytest.mark.anyio
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_atomic_calls(jobs_harness: Callable[..., JobsHarness], scenario: Scenario) -> None:
    """A fault at any storage operation fails the call with StorageError/SchedulerError and leaves no trace."""
    provoked: list[str] = []
    for operation in OPERATIONS:
        h = await prepared(jobs_harness, scenario)
        before = await snapshot(h)
        h.fail_storage(operation)
        try:
            await scenario.step(h)
        except (StorageError, SchedulerError) as error:
            assert error.operation == operation
            assert isinstance(error, SchedulerError) == operation.endswith("alarm")
            provoked.append(operation)
            assert await snapshot(h) == before, f"{operation} fault left a trace"
            await scenario.step(h)  # the same call then succeeds
        else:
            assert await snapshot(h) != before or scenario.ops[1] == 0, "an unprovoked fault must not be needed"
    _, writes, alarm_writes = scenario.ops
    assert "get" in provoked
    assert bool(set(provoked) & {"put", "delete"}) == bool(writes)
    assert bool(set(provoked) & {"set_alarm", "delete_alarm"}) == bool(alarm_writes)


@pytest.mark.anyio
async def test_a_crashed_alarm_run_runs_again(jobs_harness: Callable[..., JobsHarness]) -> None:
    runs: list[int] = []

    @Effect.fn
    def counted(ctx: ContinuousContext[Count]) -> Gen[None, Never, Never]:
        now = yield from Clock.current_time_millis()
        runs.append(now - START)
        yield from ctx.update_state(lambda s: Count(s.n + 1))

    job = Continuous.make(state_schema=Count, schedule=Continuous.every("1 minute"), execute=counted)
    h = jobs_harness(create_durable_jobs({"j": job}), start_time=START)
    await run(h.client.continuous(job).start("a", input=Count(0)))
    h.fail_storage("put")

    await h.advance("1 minute")

    assert runs == [0, MINUTE, MINUTE]  # the first commit failed: the run happens again, committed once
    assert await run(h.client.continuous(job).get_state("a")) == Count(2)
    assert (await run(h.client.continuous(job).status("a"))).next_run_at == START + 2 * MINUTE


@pytest.mark.anyio
async def test_concurrent_adds_to_one_instance_lose_and_duplicate_nothing(
    jobs_harness: Callable[..., JobsHarness],
) -> None:
    flushed: list[list[int]] = []
    active = {"now": 0, "peak": 0}

    @Effect.fn
    def collect_slowly(ctx: DebounceEventContext[Item, Batch]) -> Gen[Batch, Never, Never]:
        active["now"] += 1
        active["peak"] = max(active["peak"], active["now"])
        yield from Effect.promise(lambda: anyio.sleep(0))  # a real await: other calls get to run
        active["now"] -= 1
        return Batch([*(ctx.state.values if ctx.state else []), ctx.event.value])

    @Effect.fn
    def flush(ctx: DebounceExecuteContext[Batch]) -> Gen[None, Never, Never]:
        batch = yield from ctx.state
        yield from Effect.promise(lambda: anyio.sleep(0))
        flushed.append(batch.values)

    job = Debounce.make(
        event_schema=Item,
        state_schema=Batch,
        on_event=collect_slowly,
        execute=flush,
        flush_after="1 hour",
        max_events=7,
    )
    h = jobs_harness(create_durable_jobs({"j": job}), start_time=START)
    client = h.client.debounce(job)

    async def add(value: int) -> None:
        await run(client.add("one", event=Item(value)))

    async with anyio.create_task_group() as tg:
        for value in range(200):
            tg.start_soon(add, value)

    pending = await run(client.get_state("one"))
    everything = [value for batch in flushed for value in batch] + pending.values
    assert sorted(everything) == list(range(200))
    assert [len(batch) for batch in flushed] == [7] * 28 and len(pending.values) == 4
    assert active["peak"] == 1  # on_event never interleaved with another call on the instance
    assert (await run(client.status("one"))).event_count == 4


@pytest.mark.anyio
async def test_an_awaiting_handler_does_not_interleave_but_instances_run_concurrently(
    jobs_harness: Callable[..., JobsHarness],
) -> None:
    active: dict[str, int] = {}
    peaks = {"per_instance": 0, "overall": 0}

    @Effect.fn
    def slow(item: Item, ctx: TaskEventContext[Count]) -> Gen[None, Never, Never]:
        active[ctx.instance_id] = active.get(ctx.instance_id, 0) + 1
        peaks["per_instance"] = max(peaks["per_instance"], active[ctx.instance_id])
        peaks["overall"] = max(peaks["overall"], sum(active.values()))
        state = yield from ctx.state
        yield from Effect.promise(lambda: anyio.sleep(0))
        yield from ctx.set_state(Count((state.n if state else 0) + item.value))
        active[ctx.instance_id] -= 1

    job = Task.make(state_schema=Count, event_schema=Item, on_event=slow, execute=work)
    h = jobs_harness(create_durable_jobs({"j": job}), start_time=START)
    client = h.client.task(job)

    async def send(id: str) -> None:
        await run(client.send(id, event=Item(1)))

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(send, f"i{i % 2}")

    assert peaks == {"per_instance": 1, "overall": 2}
    for id in ("i0", "i1"):
        assert (await run(client.get_state(id))).state == Count(50)  # no lost update
    assert h.runtime.active_instances == 0  # nothing is kept for idle instances


@pytest.mark.anyio
async def test_all_time_comes_from_the_clock(jobs_harness: Callable[..., JobsHarness]) -> None:
    """Thirty days of an hourly job and a day of a per-minute job run in virtual time, in order."""
    seen: list[int] = []

    @Effect.fn
    def stamp(ctx: ContinuousContext[Count]) -> Gen[None, Never, Never]:
        now = yield from Clock.current_time_millis()
        seen.append(now)
        yield from ctx.update_state(lambda s: Count(s.n + 1))

    hourly = Continuous.make(state_schema=Count, schedule=Continuous.every("1 hour"), execute=stamp)
    minutely = Continuous.make(state_schema=Count, schedule=Continuous.every("1 minute"), execute=tick)
    h = jobs_harness(create_durable_jobs({"hourly": hourly, "minutely": minutely}), start_time=START)
    await run(h.client.continuous(hourly).start("a", input=Count(0)))
    await run(h.client.continuous(minutely).start("b", input=Count(0)))

    await h.advance("1 day")
    await run(h.client.continuous(minutely).terminate("b"))
    await h.advance("29 days")

    assert seen == [START + i * HOUR for i in range(30 * 24 + 1)]
    assert h.now() == START + 30 * DAY
    assert await run(h.client.continuous(hourly).get_state("a")) == Count(30 * 24 + 1)
    minutely_runs = [e for e in h.events_of("job.executed") if e["job_name"] == "minutely"]
    assert len(minutely_runs) == 24 * 60 + 1
    timestamps = [e["timestamp"] for e in h.events]
    assert timestamps == sorted(timestamps)
    assert timestamps[0] == "2023-11-14T22:13:20.000Z" and timestamps[-1] == "2023-12-14T22:13:20.000Z"


@pytest.mark.anyio
async def test_an_alarm_no_longer_due_runs_nothing(jobs_harness: Callable[..., JobsHarness]) -> None:
    """An alarm that waited for its instance while a call moved the schedule runs nothing and keeps the new time."""
    runs: list[int] = []

    @Effect.fn
    def execute(ctx: TaskExecuteContext[Count]) -> Gen[None, Never, Never]:
        runs.append(ctx.execute_count)
        yield from Effect.void

    @Effect.fn
    def on_event(event: Count, ctx: TaskEventContext[Count]) -> Gen[None, Never, Never]:
        yield from ctx.schedule(f"{event.n} minutes")

    job = Task.make(state_schema=Count, event_schema=Count, on_event=on_event, execute=execute)
    h = jobs_harness(create_durable_jobs({"t": job}), start_time=START)
    await run(h.client.task(job).send("a", event=Count(1)))
    await h.clock.set_time(START + MINUTE)
    await run(h.client.task(job).send("a", event=Count(60)))  # moved to an hour from now before the alarm ran

    outcome = await h.runtime.alarm("task:t:a")  # the stale alarm gets the instance after the call

    assert outcome.error is None and runs == []
    assert h.alarm_of("task:t:a") == START + MINUTE + 60 * MINUTE
    await h.advance("1 hour")
    assert runs == [1]


@pytest.mark.anyio
async def test_a_continuous_state_of_none_is_checked_by_its_schema(jobs_harness: Callable[..., JobsHarness]) -> None:
    @Effect.fn
    def clear(ctx: ContinuousContext[Count]) -> Gen[None, Never, Never]:
        yield from ctx.set_state(None)  # type: ignore[arg-type]

    job = Continuous.make(state_schema=Count, schedule=Continuous.every("1 minute"), execute=clear)
    h = jobs_harness(create_durable_jobs({"j": job}), start_time=START)

    exit_ = await Effect.run_promise_exit(h.client.continuous(job).start("a", input=Count(0)))

    assert isinstance(exit_.failure().failures()[0], ValidationError)
    assert (await run(h.client.continuous(job).status("a"))).status == "not_found"  # nothing written
