"""Calls per second of every jobs client method (and of each job type's alarm) on the in-memory backend, and the
storage operations each call costs.

Run:  .venv/bin/python benchmarks/jobs_memory.py [--calls 1000] [--rounds 3]

Everything goes through the public API: a ``JobsHarness`` (the in-memory ``MemoryStore`` on a virtual clock),
its typed ``JobsClient`` and ``Effect.run_promise`` for each call, on asyncio. Alarms are fired through the
harness's runtime, as ``advance`` does. The jobs are small on purpose, so the figures are the engine's own cost:
a continuous job incrementing a counter, a debounce job folding events into a list (``max_events`` 10 for the
``add`` that flushes inline), and a task that stores each event and schedules itself.

Each method is measured on ``calls`` fresh instances set up beforehand (the setup is not timed, and the
virtual clock then moves one second, so a trigger or a new schedule really moves the alarm), one call per
instance, sequentially. The time is the CPU time of this process (``time.process_time``), so time lost while
other processes hold the cores does not count; each figure is the best of ``rounds`` rounds. Storage operations
are the harness's per-instance counters summed over the round and divided by ``calls``: reads, writes (a
delete counts as a write) and alarm writes (an alarm set or cancelled).
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Never

import anyio

from durable_effect import Effect, Gen
from durable_effect.jobs import (
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    Task,
    TaskEventContext,
    TaskExecuteContext,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness

START = 1_700_000_000_000


@dataclass(frozen=True)
class Count:
    n: int


@dataclass(frozen=True)
class Item:
    value: int


@dataclass(frozen=True)
class Items:
    values: list[int] = field(default_factory=list)


@Effect.fn
def tick(ctx: ContinuousContext[Count]) -> Gen[None, Never, Never]:
    state = yield from ctx.state
    yield from ctx.set_state(Count(state.n + 1))


def collect(ctx: DebounceEventContext[Item, Items]) -> Effect[Items, Never, Never]:
    return Effect.succeed(Items([*(ctx.state.values if ctx.state else []), ctx.event.value]))


@Effect.fn
def deliver(ctx: DebounceExecuteContext[Items]) -> Gen[None, Never, Never]:
    yield from ctx.state


@Effect.fn
def on_item(item: Item, ctx: TaskEventContext[Count]) -> Gen[None, Never, Never]:
    yield from ctx.set_state(Count(item.value))
    yield from ctx.schedule("1 hour")


@Effect.fn
def work(ctx: TaskExecuteContext[Count]) -> Gen[None, Never, Never]:
    yield from ctx.update_state(lambda c: Count((c.n if c else 0) + 1))


ticker = Continuous.make(state_schema=Count, schedule=Continuous.every("1 hour"), execute=tick)
batcher = Debounce.make(
    event_schema=Item, state_schema=Items, on_event=collect, execute=deliver, flush_after="1 hour", max_events=10
)
worker = Task.make(state_schema=Count, event_schema=Item, on_event=on_item, execute=work)
jobs = create_durable_jobs({"ticker": ticker, "batcher": batcher, "worker": worker})

Call = Callable[[JobsHarness, str], Awaitable[Any]]


def client_call(make: Callable[[JobsHarness, str], Effect[Any, Any, Never]]) -> Call:
    async def call(h: JobsHarness, id: str) -> Any:
        return await Effect.run_promise(make(h, id))

    return call


def alarm_call(job_type: str, job_name: str) -> Call:
    async def call(h: JobsHarness, id: str) -> Any:
        return await h.runtime.alarm(f"{job_type}:{job_name}:{id}")

    return call


def times(n: int, call: Call) -> Call:
    async def repeated(h: JobsHarness, id: str) -> None:
        for _ in range(n):
            await call(h, id)

    return repeated


start = client_call(lambda h, id: h.client.continuous(ticker).start(id, input=Count(0)))
add = client_call(lambda h, id: h.client.debounce(batcher).add(id, event=Item(1)))
send = client_call(lambda h, id: h.client.task(worker).send(id, event=Item(1)))


@dataclass(frozen=True)
class Case:
    name: str
    instance: str  # "{type}:{name}" of the instances the call touches
    call: Call
    setup: Call | None = None
    note: str = ""


CASES = [
    Case("continuous.start (new: runs execute)", "continuous:ticker", start),
    Case("continuous.start (existing)", "continuous:ticker", start, start),
    Case(
        "continuous.trigger",
        "continuous:ticker",
        client_call(lambda h, id: h.client.continuous(ticker).trigger(id)),
        start,
    ),
    Case(
        "continuous.status",
        "continuous:ticker",
        client_call(lambda h, id: h.client.continuous(ticker).status(id)),
        start,
    ),
    Case(
        "continuous.get_state",
        "continuous:ticker",
        client_call(lambda h, id: h.client.continuous(ticker).get_state(id)),
        start,
    ),
    Case(
        "continuous.terminate",
        "continuous:ticker",
        client_call(lambda h, id: h.client.continuous(ticker).terminate(id)),
        start,
    ),
    Case("continuous alarm (run, re-arm)", "continuous:ticker", alarm_call("continuous", "ticker"), start),
    Case("debounce.add (first event)", "debounce:batcher", add),
    Case("debounce.add (next event)", "debounce:batcher", add, add),
    Case("debounce.add (10th: flushes inline)", "debounce:batcher", add, times(9, add)),
    Case("debounce.flush", "debounce:batcher", client_call(lambda h, id: h.client.debounce(batcher).flush(id)), add),
    Case("debounce.clear", "debounce:batcher", client_call(lambda h, id: h.client.debounce(batcher).clear(id)), add),
    Case("debounce.status", "debounce:batcher", client_call(lambda h, id: h.client.debounce(batcher).status(id)), add),
    Case(
        "debounce.get_state",
        "debounce:batcher",
        client_call(lambda h, id: h.client.debounce(batcher).get_state(id)),
        add,
    ),
    Case("debounce alarm (flush)", "debounce:batcher", alarm_call("debounce", "batcher"), add),
    Case("task.send (new)", "task:worker", send),
    Case("task.send (existing)", "task:worker", send, send),
    Case("task.trigger", "task:worker", client_call(lambda h, id: h.client.task(worker).trigger(id)), send),
    Case("task.status", "task:worker", client_call(lambda h, id: h.client.task(worker).status(id)), send),
    Case("task.get_state", "task:worker", client_call(lambda h, id: h.client.task(worker).get_state(id)), send),
    Case("task.terminate", "task:worker", client_call(lambda h, id: h.client.task(worker).terminate(id)), send),
    Case("task alarm (execute)", "task:worker", alarm_call("task", "worker"), send),
]


@dataclass
class Figure:
    calls_per_second: float
    reads: float
    writes: float
    alarm_writes: float


async def measure(case: Case, calls: int) -> Figure:
    h = JobsHarness(jobs, start_time=START)
    ids = [f"i{n}" for n in range(calls)]
    if case.setup is not None:
        for id in ids:
            await case.setup(h, id)
    await h.clock.set_time(START + 1_000)  # a second later: a trigger or a new schedule moves the alarm
    h.reset_storage_ops()
    gc.collect()
    gc.disable()
    try:
        began = time.process_time()
        for id in ids:
            await case.call(h, id)
        elapsed = time.process_time() - began
    finally:
        gc.enable()
    totals = {"reads": 0, "writes": 0, "alarm_writes": 0}
    for id in ids:
        for key, value in h.storage_ops(f"{case.instance}:{id}").items():
            totals[key] += value
    return Figure(
        calls / max(elapsed, 1e-9), totals["reads"] / calls, totals["writes"] / calls, totals["alarm_writes"] / calls
    )


async def run(calls: int, rounds: int) -> dict[str, Figure]:
    best: dict[str, Figure] = {}
    for _ in range(rounds):
        for case in CASES:  # the cases take turns, so a slow spell does not land on one case only
            figure = await measure(case, calls)
            if case.name not in best or figure.calls_per_second > best[case.name].calls_per_second:
                best[case.name] = figure
    return best


def table(figures: dict[str, Figure]) -> str:
    lines = [
        "| call | calls/s | reads/call | writes/call | alarm writes/call |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, f in figures.items():
        lines.append(f"| {name} | {f.calls_per_second:,.0f} | {f.reads:g} | {f.writes:g} | {f.alarm_writes:g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1_000, help="calls per case and round (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is kept (default 3)")
    args = parser.parse_args(argv)
    figures = anyio.run(run, args.calls, args.rounds)
    print(
        f"jobs on the in-memory backend: {args.calls} calls per case, best of {args.rounds} rounds, CPU time; "
        f"Python {platform.python_version()} on {platform.machine()}"
    )
    print()
    print(table(figures))


if __name__ == "__main__":
    main()
