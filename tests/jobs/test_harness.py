"""The testing harness: the pytest plugin, virtual time, recorded events, storage counters, faults."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Never

import anyio
import pytest
from examples.demo_jobs import Order, OrderEvent, Tokens, WebhookEvent
from examples.demo_jobs import jobs as demo_jobs

from durable_effect import Clock, Effect, Gen
from durable_effect.jobs import (
    Continuous,
    ContinuousContext,
    StorageError,
    Task,
    TaskEventContext,
    TaskExecuteContext,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness

from ._support import MINUTE, START, run


@dataclass(frozen=True)
class Count:
    n: int


def test_the_fixture_comes_from_the_pytest11_entry_point() -> None:
    plugins = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert plugins["durable_effect"] == "durable_effect.testing._pytest_plugin"


def stamping_jobs(seen: list[tuple[str, int]]) -> object:
    @Effect.fn
    def stamp(ctx: ContinuousContext[Count]) -> Gen[None, Never, Never]:
        now = yield from Clock.current_time_millis()
        seen.append((ctx.instance_id, now - START))

    every_2 = Continuous.make(state_schema=Count, schedule=Continuous.every("2 minutes"), execute=stamp)
    every_3 = Continuous.make(state_schema=Count, schedule=Continuous.every("3 minutes"), execute=stamp)
    return create_durable_jobs({"two": every_2, "three": every_3})


@pytest.mark.anyio
async def test_advance_fires_alarms_in_due_time_order(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[tuple[str, int]] = []
    h = jobs_harness(stamping_jobs(seen), start_time=START)
    await run(h.client.continuous("two").start("a", input={"n": 0}))
    await run(h.client.continuous("three").start("b", input={"n": 0}))
    seen.clear()

    await h.advance("7 minutes")

    # Alarms armed by runs inside the advance fire in the same advance, each at its own time.
    assert seen == [
        ("continuous:two:a", 2 * MINUTE),
        ("continuous:three:b", 3 * MINUTE),
        ("continuous:two:a", 4 * MINUTE),
        ("continuous:three:b", 6 * MINUTE),  # alarms due at the same time fire in instance-name order
        ("continuous:two:a", 6 * MINUTE),
    ]
    assert h.now() == START + 7 * MINUTE
    assert h.alarm_of("continuous:two:a") == START + 8 * MINUTE


@pytest.mark.anyio
async def test_default_start_time_and_numeric_durations() -> None:
    seen: list[tuple[str, int]] = []
    h = JobsHarness(stamping_jobs(seen))  # type: ignore[arg-type]
    assert h.now() == 0
    await h.advance(1_500)
    assert h.now() == 1_500


@pytest.mark.anyio
async def test_storage_ops_count_reads_writes_and_alarm_writes(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(stamping_jobs([]), start_time=START)
    client = h.client.continuous("two")
    await run(client.start("a", input={"n": 0}))
    assert h.storage_ops("continuous:two:a") == {"reads": 1, "writes": 1, "alarm_writes": 1}

    h.reset_storage_ops()
    await run(client.terminate("a"))  # a delete is a write; cancelling the alarm is an alarm write
    assert h.storage_ops("continuous:two:a") == {"reads": 1, "writes": 1, "alarm_writes": 1}
    assert h.storage_ops("continuous:two:elsewhere") == {"reads": 0, "writes": 0, "alarm_writes": 0}


@pytest.mark.anyio
async def test_fail_storage_times(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(stamping_jobs([]), start_time=START)
    client = h.client.continuous("two")
    h.fail_storage(operation="put", times=2)
    for _ in range(2):
        with pytest.raises(StorageError):
            await run(client.start("a", input={"n": 0}))
    assert (await run(client.start("a", input={"n": 0}))).created is True
    with pytest.raises(ValueError):
        h.fail_storage(operation="rename")


@pytest.mark.anyio
async def test_a_handler_sleeping_on_the_clock_takes_virtual_time(jobs_harness: Callable[..., JobsHarness]) -> None:
    @Effect.fn
    def on_event(event: Count, ctx: TaskEventContext[Count]) -> Gen[None, Never, Never]:
        yield from Effect.sleep("90 seconds")
        yield from ctx.schedule("1 minute")

    @Effect.fn
    def execute(ctx: TaskExecuteContext[Count]) -> Gen[None, Never, Never]:
        yield from Effect.sleep(5_000)
        now = yield from Clock.current_time_millis()
        yield from ctx.set_state(Count(now - START - 5_000))  # when execute started

    job = Task.make(state_schema=Count, event_schema=Count, on_event=on_event, execute=execute)
    h = jobs_harness(create_durable_jobs({"t": job}), start_time=START)

    sent = await run(h.client.task(job).send("x", event=Count(0)))

    assert h.now() == START + 90_000 and sent.scheduled_at == START + 150_000
    await h.advance("10 minutes")
    assert (await run(h.client.task(job).get_state("x"))).state == Count(150_000)
    assert h.now() == START + 90_000 + 10 * MINUTE


@pytest.mark.anyio
async def test_an_advance_while_a_handler_sleeps_on_the_clock(jobs_harness: Callable[..., JobsHarness]) -> None:
    @Effect.fn
    def on_event(event: Count, ctx: TaskEventContext[Count]) -> Gen[None, Never, Never]:
        yield from Effect.sleep("30 seconds")
        now = yield from Clock.current_time_millis()
        yield from ctx.set_state(Count(now - START))

    job = Task.make(state_schema=Count, event_schema=Count, on_event=on_event, execute=lambda ctx: Effect.void)
    h = jobs_harness(create_durable_jobs({"t": job}), start_time=START)

    with anyio.fail_after(10):  # a guard: the two once waited on each other forever
        async with anyio.create_task_group() as group:
            group.start_soon(run, h.client.task(job).send("x", event=Count(0)))
            await anyio.lowlevel.checkpoint()  # the handler goes to sleep on the clock
            group.start_soon(h.advance, "1 minute")
    assert (await run(h.client.task(job).get_state("x"))).state == Count(30_000)  # woke at its own time
    assert h.now() >= START + MINUTE


@pytest.mark.anyio
async def test_the_example_jobs(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(demo_jobs, start_time=START)
    client = h.client

    await run(client.continuous("token_refresher").start("user-1", input=Tokens("", "refresh-1")))
    await h.advance("1 hour")
    tokens = await run(client.continuous("token_refresher").get_state("user-1"))
    assert tokens.access_token.startswith("at-") and tokens.expires_at == START + 2 * 30 * MINUTE + 3_600_000

    for kind in ("a", "b", "c"):
        await run(client.debounce("webhook_batcher").add("endpoint-1", event=WebhookEvent(kind)))
    await h.advance("10 seconds")
    assert (await run(client.debounce("webhook_batcher").status("endpoint-1"))).status == "not_found"

    await run(client.task("order_processor").send("o-1", event=OrderEvent("placed", 1_000)))
    await run(client.task("order_processor").send("o-2", event=OrderEvent("placed", 2_000)))
    await run(client.task("order_processor").send("o-2", event=OrderEvent("paid")))
    await h.advance("15 minutes")
    cancelled = await run(client.task("order_processor").get_state("o-1"))
    paid = await run(client.task("order_processor").get_state("o-2"))
    assert cancelled.state == Order("cancelled", 1_000) and paid.state == Order("paid", 2_000)
    await run(client.task("order_processor").send("o-2", event=OrderEvent("shipped")))
    assert (await run(client.task("order_processor").status("o-2"))).status == "not_found"
    assert {e["type"] for e in h.events} >= {"job.executed", "debounce.flushed", "task.scheduled", "job.terminated"}


@pytest.mark.anyio
async def test_concurrent_sleeping_handlers_wake_in_due_time_order(jobs_harness: Callable[..., JobsHarness]) -> None:
    woke: list[tuple[str, int]] = []

    @Effect.fn
    def on_event(event: Count, ctx: TaskEventContext[Count]) -> Gen[None, Never, Never]:
        # The loser of the race is interrupted: its sleep must not move the clock later.
        yield from Effect.race(Effect.sleep(event.n), Effect.sleep(event.n * 100))
        now = yield from Clock.current_time_millis()
        woke.append((ctx.instance_id, now - START))

    @Effect.fn
    def execute(ctx: TaskExecuteContext[Count]) -> Gen[None, Never, Never]:
        yield from Effect.void

    job = Task.make(state_schema=Count, event_schema=Count, on_event=on_event, execute=execute)
    h = jobs_harness(create_durable_jobs({"t": job}), start_time=START)

    async def send(id: str, ms: int) -> None:
        await run(h.client.task(job).send(id, event=Count(ms)))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(send, "slow", 3_000)
            tg.start_soon(send, "fast", 1_000)
            tg.start_soon(send, "slow", 2_000)  # waits for the first call on its instance
        await send("later", 500)

    assert woke == [("task:t:fast", 1_000), ("task:t:slow", 3_000), ("task:t:slow", 5_000), ("task:t:later", 5_500)]
    assert h.now() == START + 5_500 and h.clock.pending_sleepers == 0


@pytest.mark.anyio
async def test_an_alarm_failing_every_time_fails_the_advance(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(stamping_jobs([]), start_time=START)
    await run(h.client.continuous("two").start("a", input={"n": 0}))
    h.fail_storage("put", times=1_000)

    with pytest.raises(RuntimeError, match="continuous:two:a failed 100 times"):
        await h.advance("5 minutes")
