"""The client: lazy effects, keyword arguments, typed accessors, frozen results, and ways to connect."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Never

import pytest

from durable_effect import Effect, Gen, Layer, Tag
from durable_effect.jobs import (
    Continuous,
    ContinuousContext,
    ContinuousStartResult,
    Debounce,
    DebounceExecuteContext,
    Task,
    TaskEventContext,
    TaskExecuteContext,
    TaskIdleContext,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness

from ._support import START, run


@dataclass(frozen=True)
class Count:
    n: int


@Effect.fn
def tick(ctx: ContinuousContext[Count]) -> Gen[None, Never, Never]:
    yield from ctx.update_state(lambda c: Count(c.n + 1))


@Effect.fn
def flush(ctx: DebounceExecuteContext[Count]) -> Gen[None, Never, Never]:
    yield from Effect.void


ticker = Continuous.make(state_schema=Count, schedule=Continuous.every("1 hour"), execute=tick)
batcher = Debounce.make(event_schema=Count, execute=flush, flush_after="1 minute")
jobs = create_durable_jobs({"ticker": ticker, "batcher": batcher})


@pytest.mark.anyio
async def test_client_effects_are_lazy_and_run_each_time(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    add = h.client.debounce(batcher).add("k", event=Count(1))

    assert h.storage_ops("debounce:batcher:k") == {"reads": 0, "writes": 0, "alarm_writes": 0}
    first, second = await run(add), await run(add)

    assert (first.event_count, second.event_count) == (1, 2)


@pytest.mark.anyio
async def test_arguments(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    client: Any = h.client.continuous(ticker)
    with pytest.raises(TypeError):
        client.start("a", Count(0))  # input is keyword-only
    with pytest.raises(ValueError):
        client.status("")
    with pytest.raises(ValueError, match="event_id"):
        client.start(id="a", input=Count(0), event_id="")  # an empty key would dedupe every keyless retry
    result = await run(client.start(id="a", input=Count(0), event_id="e-1"))
    assert result == ContinuousStartResult(created=True, instance_id="continuous:ticker:a", status="running")


def test_accessors_check_definitions() -> None:
    h = JobsHarness(jobs, start_time=START)
    wrong_type: Any = ticker
    stranger = Continuous.make(state_schema=Count, schedule=Continuous.every("1 hour"), execute=tick)
    with pytest.raises(ValueError):
        h.client.continuous(stranger)  # not registered with this client's jobs
    with pytest.raises(TypeError):
        h.client.debounce(wrong_type)


@pytest.mark.anyio
async def test_results_are_frozen(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(jobs, start_time=START)
    result: Any = await run(h.client.continuous(ticker).status("a"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.run_count = 3


def test_registry_checks() -> None:
    with pytest.raises(ValueError):
        create_durable_jobs({"a:b": ticker})
    with pytest.raises(TypeError):
        create_durable_jobs({"x": object()})  # type: ignore[dict-item]


@pytest.mark.anyio
async def test_memory_client_runs_due_alarms_on_the_next_call() -> None:
    client = jobs.JobsClient.memory()
    result = await run(client.continuous(ticker).start("a", input=Count(0)))
    assert result.created is True
    assert await run(client.continuous(ticker).get_state("a")) == Count(1)
    assert (await run(client.debounce(batcher).add("k", event=Count(1)))).created is True


class Greeter(Tag["Greeter", Callable[[str], str]]):
    pass


@pytest.mark.anyio
async def test_services_are_provided_by_the_definition(jobs_harness: Callable[..., JobsHarness]) -> None:
    built: list[str] = []
    greeted: list[str] = []

    def make_greeter() -> Callable[[str], str]:
        built.append("built")
        return lambda name: f"hello {name}"

    layer = Layer.effect(Greeter, Effect.sync(make_greeter))

    @Effect.fn
    def on_event(event: Count, ctx: TaskEventContext[Count]) -> Gen[None, Never, Greeter]:
        greet = yield from Effect.service(Greeter)
        greeted.append(greet(ctx.instance_id))

    @Effect.fn
    def execute(ctx: TaskExecuteContext[Count]) -> Gen[None, Never, Greeter]:
        yield from Effect.service(Greeter)

    @Effect.fn
    def on_idle(ctx: TaskIdleContext[Count]) -> Gen[None, Never, Greeter]:
        greet = yield from Effect.service(Greeter)
        greeted.append(greet("idle"))

    job = Task.make(
        state_schema=Count, event_schema=Count, on_event=on_event, execute=execute, on_idle=on_idle, services=layer
    )
    h = jobs_harness(create_durable_jobs({"greeter": job}), start_time=START)

    await run(h.client.task(job).send("x", event=Count(1)))
    await run(h.client.task(job).status("x"))

    assert greeted == ["hello task:greeter:x", "hello idle"]
    assert built == ["built"]  # built once for the call (on_event and on_idle share it), none for a status
