"""Idempotency: a repeated ``event_id`` fails with DuplicateEventError and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Never

import pytest

from durable_effect import Effect, Gen
from durable_effect.jobs import (
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceExecuteContext,
    DuplicateEventError,
    ExecutionError,
    Task,
    TaskEventContext,
    TaskExecuteContext,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness

from ._support import DAY, START, run


@dataclass(frozen=True)
class Count:
    n: int


@dataclass(frozen=True)
class Ev:
    value: int


runs: list[str] = []


@Effect.fn
def tick(ctx: ContinuousContext[Count]) -> Gen[None, Never, Never]:
    yield from ctx.update_state(lambda c: Count(c.n + 1))


@Effect.fn
def flush(ctx: DebounceExecuteContext[Ev]) -> Gen[None, Never, Never]:
    yield from Effect.void


@Effect.fn
def on_event(event: Ev, ctx: TaskEventContext[Count]) -> Gen[None, RuntimeError, Never]:
    if event.value < 0:
        yield from Effect.fail(RuntimeError("negative"))
    yield from ctx.update_state(lambda c: Count((c.n if c else 0) + event.value))


@Effect.fn
def execute(ctx: TaskExecuteContext[Count]) -> Gen[None, Never, Never]:
    yield from Effect.void


ticker = Continuous.make(state_schema=Count, schedule=Continuous.every("1 hour"), execute=tick)
batcher = Debounce.make(event_schema=Ev, execute=flush, flush_after="1 minute")
summer = Task.make(state_schema=Count, event_schema=Ev, on_event=on_event, execute=execute)
jobs = create_durable_jobs({"ticker": ticker, "batcher": batcher, "summer": summer})


@pytest.mark.anyio
async def test_start_with_a_repeated_event_id(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    client = h.client.continuous(ticker)
    await run(client.start("a", input=Count(0), event_id="req-1"))
    h.reset_storage_ops()

    with pytest.raises(DuplicateEventError) as info:
        await run(client.start("a", input=Count(0), event_id="req-1"))

    assert info.value.instance_id == "continuous:ticker:a" and info.value.event_id == "req-1"
    assert h.storage_ops("continuous:ticker:a") == {"reads": 1, "writes": 0, "alarm_writes": 0}
    assert (await run(client.status("a"))).run_count == 1
    # Another event id, or the same one on another instance, goes through.
    assert (await run(client.start("a", input=Count(0), event_id="req-2"))).created is False
    assert (await run(client.start("b", input=Count(0), event_id="req-1"))).created is True


@pytest.mark.anyio
async def test_add_with_a_repeated_event_id_counts_nothing(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    client = h.client.debounce(batcher)
    await run(client.add("k", event=Ev(1), event_id="e1"))
    await run(client.add("k", event=Ev(2), event_id="e2"))

    with pytest.raises(DuplicateEventError):
        await run(client.add("k", event=Ev(3), event_id="e1"))

    status = await run(client.status("k"))
    assert status.event_count == 2
    assert await run(client.get_state("k")) == Ev(2)
    # The ids outlive the batch: a client retrying after the flush is still recognised.
    await h.advance("1 minute")
    with pytest.raises(DuplicateEventError):
        await run(client.add("k", event=Ev(3), event_id="e2"))
    assert (await run(client.status("k"))).event_count == 0


@pytest.mark.anyio
async def test_send_with_a_repeated_event_id(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    client = h.client.task(summer)
    await run(client.send("t", event=Ev(5), event_id="pay-1"))

    with pytest.raises(DuplicateEventError):
        await run(client.send("t", event=Ev(5), event_id="pay-1"))

    assert (await run(client.get_state("t"))).state == Count(5)
    assert (await run(client.status("t"))).event_count == 1


@pytest.mark.anyio
async def test_a_failed_call_does_not_remember_its_event_id(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    client = h.client.task(summer)
    with pytest.raises(ExecutionError):
        await run(client.send("t", event=Ev(-1), event_id="x"))
    await run(client.send("t", event=Ev(4), event_id="x"))  # the retry of the same request is applied once
    assert (await run(client.get_state("t"))).state == Count(4)


@pytest.mark.anyio
async def test_event_ids_are_kept_for_24_hours(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    client = h.client.task(summer)
    await run(client.send("t", event=Ev(1), event_id="once"))

    await h.advance(DAY - 1)
    with pytest.raises(DuplicateEventError):
        await run(client.send("t", event=Ev(1), event_id="once"))
    await h.advance(1)
    await run(client.send("t", event=Ev(1), event_id="once"))

    assert (await run(client.get_state("t"))).state == Count(2)


@pytest.mark.anyio
async def test_the_number_of_remembered_event_ids_is_bounded(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    client = h.client.task(summer)
    for i in range(1_500):
        await run(client.send("t", event=Ev(1), event_id=f"id-{i}"))

    with pytest.raises(DuplicateEventError):
        await run(client.send("t", event=Ev(1), event_id="id-1499"))
    await run(client.send("t", event=Ev(1), event_id="id-0"))  # the oldest ids were forgotten

    assert (await run(client.get_state("t"))).state == Count(1_501)
