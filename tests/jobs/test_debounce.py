"""Debounce jobs: batching, the fixed flush window, max_events, flush, clear, status and get_state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Never

import anyio
import pytest

from durable_effect import Clock, Effect, Gen
from durable_effect.jobs import (
    Backoff,
    Debounce,
    DebounceAddResult,
    DebounceClearResult,
    DebounceEventContext,
    DebounceExecuteContext,
    DebounceFlushResult,
    DebounceStatusResult,
    DurableJobs,
    ExecutionError,
    InstanceNotFoundError,
    RetryConfig,
    ValidationError,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness

from ._support import MINUTE, START, run


@dataclass(frozen=True)
class Hit:
    path: str


@dataclass(frozen=True)
class Hits:
    paths: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Flush:
    now: int
    paths: list[str]
    event_count: int
    reason: str
    started_at: int
    attempt: int
    is_retry: bool
    instance_id: str


@dataclass(frozen=True)
class Reduced:
    had_state: bool
    event_count: int
    instance_id: str


def hits_jobs(
    flushes: list[Flush],
    reduced: list[Reduced] | None = None,
    *,
    max_events: int | None = None,
    gate: anyio.Event | None = None,
    entered: anyio.Event | None = None,
) -> DurableJobs:
    def collect(ctx: DebounceEventContext[Hit, Hits]) -> Effect[Hits, Never, Never]:
        if reduced is not None:
            reduced.append(Reduced(ctx.state is not None, ctx.event_count, ctx.instance_id))
        previous = ctx.state.paths if ctx.state is not None else []
        return Effect.succeed(Hits([*previous, ctx.event.path]))

    @Effect.fn
    def deliver(ctx: DebounceExecuteContext[Hits]) -> Gen[None, Never, Never]:
        batch = yield from ctx.state
        now = yield from Clock.current_time_millis()
        if entered is not None:
            entered.set()
        if gate is not None:
            yield from Effect.promise(gate.wait)
        flushes.append(
            Flush(
                now,
                batch.paths,
                ctx.event_count,
                ctx.flush_reason,
                ctx.debounce_started_at,
                ctx.attempt,
                ctx.is_retry,
                ctx.instance_id,
            )
        )

    hits = Debounce.make(
        event_schema=Hit,
        state_schema=Hits,
        on_event=collect,
        execute=deliver,
        flush_after="10 seconds",
        max_events=max_events,
    )
    return create_durable_jobs({"hits": hits})


@pytest.mark.anyio
async def test_add_batches_events_in_a_window_fixed_from_the_first(jobs_harness: Callable[..., JobsHarness]) -> None:
    flushes: list[Flush] = []
    reduced: list[Reduced] = []
    h = jobs_harness(hits_jobs(flushes, reduced), start_time=START)
    hits = h.client.debounce("hits")

    first = await run(hits.add("k", event={"path": "/a"}))
    await h.advance("4 seconds")
    second = await run(hits.add("k", event={"path": "/b"}))
    await h.advance("4 seconds")
    third = await run(hits.add("k", event={"path": "/c"}))

    assert first == DebounceAddResult(
        created=True, event_count=1, will_flush_at=START + 10_000, instance_id="debounce:hits:k"
    )
    assert second == DebounceAddResult(False, 2, START + 10_000, "debounce:hits:k")
    assert third == DebounceAddResult(False, 3, START + 10_000, "debounce:hits:k")
    assert reduced == [
        Reduced(False, 1, "debounce:hits:k"),
        Reduced(True, 2, "debounce:hits:k"),
        Reduced(True, 3, "debounce:hits:k"),
    ]
    assert await run(hits.status("k")) == DebounceStatusResult("debouncing", 3, START + 10_000)
    assert await run(hits.get_state("k")) == Hits(["/a", "/b", "/c"])
    assert flushes == []

    await h.advance("2 seconds")

    assert flushes == [Flush(START + 10_000, ["/a", "/b", "/c"], 3, "flush_after", START, 1, False, "debounce:hits:k")]
    assert await run(hits.status("k")) == DebounceStatusResult("not_found", 0, None)
    with pytest.raises(InstanceNotFoundError):
        await run(hits.get_state("k"))
    flushed = h.events_of("debounce.flushed")
    assert [(e["event_count"], e["reason"]) for e in flushed] == [(3, "flush_after")]
    assert [e["flush_at"] for e in h.events_of("debounce.started")] == [START + 10_000]


@pytest.mark.anyio
async def test_the_next_add_after_a_flush_starts_a_new_batch(jobs_harness: Callable[..., JobsHarness]) -> None:
    flushes: list[Flush] = []
    h = jobs_harness(hits_jobs(flushes), start_time=START)
    hits = h.client.debounce("hits")
    await run(hits.add("k", event={"path": "/a"}))
    await h.advance("15 seconds")

    again = await run(hits.add("k", event={"path": "/b"}))

    assert again == DebounceAddResult(True, 1, START + 25_000, "debounce:hits:k")
    await h.advance("10 seconds")
    assert [(f.paths, f.started_at, f.now) for f in flushes] == [
        (["/a"], START, START + 10_000),
        (["/b"], START + 15_000, START + 25_000),
    ]


@pytest.mark.anyio
async def test_default_on_event_keeps_the_latest_event(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[tuple[Hit, int]] = []

    @Effect.fn
    def deliver(ctx: DebounceExecuteContext[Hit]) -> Gen[None, Never, Never]:
        latest = yield from ctx.state
        seen.append((latest, ctx.event_count))

    latest = Debounce.make(event_schema=Hit, execute=deliver, flush_after="1 second")
    h = jobs_harness(create_durable_jobs({"latest": latest}), start_time=START)
    client = h.client.debounce(latest)
    for path in ("/a", "/b", "/c"):
        await run(client.add("k", event=Hit(path)))
    assert await run(client.get_state("k")) == Hit("/c")

    await h.advance("1 second")

    assert seen == [(Hit("/c"), 3)]


@pytest.mark.anyio
async def test_max_events_flushes_inside_the_call(jobs_harness: Callable[..., JobsHarness]) -> None:
    flushes: list[Flush] = []
    h = jobs_harness(hits_jobs(flushes, max_events=3), start_time=START)
    hits = h.client.debounce("hits")

    results = [await run(hits.add("k", event={"path": f"/{i}"})) for i in range(4)]

    assert [(r.created, r.event_count, r.will_flush_at) for r in results] == [
        (True, 1, START + 10_000),
        (False, 2, START + 10_000),
        (False, 3, None),
        (True, 1, START + 10_000),
    ]
    assert [(f.paths, f.reason, f.event_count) for f in flushes] == [(["/0", "/1", "/2"], "max_events", 3)]
    assert h.alarm_of("debounce:hits:k") == START + 10_000
    await h.advance("10 seconds")
    assert [(f.paths, f.reason) for f in flushes][1:] == [(["/3"], "flush_after")]
    assert [e["reason"] for e in h.events_of("debounce.flushed")] == ["max_events", "flush_after"]


@pytest.mark.anyio
async def test_manual_flush(jobs_harness: Callable[..., JobsHarness]) -> None:
    flushes: list[Flush] = []
    h = jobs_harness(hits_jobs(flushes), start_time=START)
    hits = h.client.debounce("hits")
    await run(hits.add("k", event={"path": "/a"}))
    await run(hits.add("k", event={"path": "/b"}))
    await h.advance("3 seconds")

    assert await run(hits.flush("k")) == DebounceFlushResult(flushed=True, event_count=2)

    assert [(f.paths, f.reason, f.now) for f in flushes] == [(["/a", "/b"], "manual", START + 3_000)]
    assert h.alarm_of("debounce:hits:k") is None
    assert await run(hits.flush("k")) == DebounceFlushResult(flushed=False, event_count=0)
    assert await run(hits.flush("never")) == DebounceFlushResult(flushed=False, event_count=0)
    await h.advance("1 minute")
    assert len(flushes) == 1


@pytest.mark.anyio
async def test_clear_drops_the_batch_without_running(jobs_harness: Callable[..., JobsHarness]) -> None:
    flushes: list[Flush] = []
    h = jobs_harness(hits_jobs(flushes), start_time=START)
    hits = h.client.debounce("hits")
    await run(hits.add("k", event={"path": "/a"}))
    await run(hits.add("k", event={"path": "/b"}))

    assert await run(hits.clear("k")) == DebounceClearResult(cleared=True, discarded_events=2)

    assert h.alarm_of("debounce:hits:k") is None
    assert (await run(hits.status("k"))).status == "not_found"
    await h.advance("1 minute")
    assert flushes == []
    assert await run(hits.clear("k")) == DebounceClearResult(cleared=False, discarded_events=0)
    assert (await run(hits.add("k", event={"path": "/c"}))).created is True


@pytest.mark.anyio
async def test_created_means_a_new_batch_even_when_event_ids_keep_the_record(
    jobs_harness: Callable[..., JobsHarness],
) -> None:
    flushes: list[Flush] = []
    h = jobs_harness(hits_jobs(flushes), start_time=START)
    hits = h.client.debounce("hits")
    assert (await run(hits.add("k", event={"path": "/a"}, event_id="e1"))).created is True
    await run(hits.flush("k"))

    assert (await run(hits.status("k"))).status == "idle"  # kept to remember "e1"
    assert (await run(hits.add("k", event={"path": "/b"}, event_id="e2"))).created is True
    assert (await run(hits.add("k", event={"path": "/c"}, event_id="e3"))).created is False


@pytest.mark.anyio
async def test_invalid_event_is_rejected_and_nothing_stored(jobs_harness: Callable[..., JobsHarness]) -> None:
    flushes: list[Flush] = []
    reduced: list[Reduced] = []
    h = jobs_harness(hits_jobs(flushes, reduced), start_time=START)
    hits = h.client.debounce("hits")
    await run(hits.add("k", event={"path": "/a"}))
    h.reset_storage_ops()

    with pytest.raises(ValidationError) as info:
        await run(hits.add("k", event={"path": 42}))

    assert info.value.issues and "Hit" in info.value.schema
    assert h.storage_ops("debounce:hits:k")["writes"] == 0
    assert len(reduced) == 1
    assert await run(hits.status("k")) == DebounceStatusResult("debouncing", 1, START + 10_000)


@pytest.mark.anyio
async def test_events_added_while_a_flush_runs_land_in_the_next_batch(
    jobs_harness: Callable[..., JobsHarness],
) -> None:
    flushes: list[Flush] = []
    gate, entered = anyio.Event(), anyio.Event()
    h = jobs_harness(hits_jobs(flushes, gate=gate, entered=entered), start_time=START)
    hits = h.client.debounce("hits")
    await run(hits.add("k", event={"path": "/a"}))
    added: list[DebounceAddResult] = []

    async def flush() -> None:
        await run(hits.flush("k"))

    async def add(path: str) -> None:
        added.append(await run(hits.add("k", event={"path": path})))

    async with anyio.create_task_group() as tg:
        tg.start_soon(flush)
        await entered.wait()  # execute is running and waits on the gate
        tg.start_soon(add, "/b")
        tg.start_soon(add, "/c")
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        assert added == []  # the adds wait for the flush
        gate.set()

    assert [f.paths for f in flushes] == [["/a"]]
    assert [(r.created, r.event_count) for r in added] == [(True, 1), (False, 2)]
    assert await run(hits.get_state("k")) == Hits(["/b", "/c"])


@pytest.mark.anyio
async def test_failed_client_flush_fails_the_call_and_keeps_the_batch(
    jobs_harness: Callable[..., JobsHarness],
) -> None:
    attempts: list[int] = []

    def deliver(ctx: DebounceExecuteContext[Hit]) -> Effect[None, Never, Never]:
        attempts.append(ctx.event_count)
        return Effect.die(RuntimeError("endpoint down"))

    job = Debounce.make(event_schema=Hit, execute=deliver, flush_after="10 seconds", max_events=2)
    h = jobs_harness(create_durable_jobs({"bad": job}), start_time=START)
    client = h.client.debounce(job)
    await run(client.add("k", event=Hit("/a")))

    with pytest.raises(ExecutionError):
        await run(client.flush("k"))
    with pytest.raises(ExecutionError):
        await run(client.add("k", event=Hit("/b")))  # reaches max_events: the inline flush fails

    assert attempts == [1, 2]
    assert await run(client.status("k")) == DebounceStatusResult("debouncing", 1, START + 10_000)


@pytest.mark.anyio
async def test_failed_alarm_flush_without_retry_drops_the_batch(jobs_harness: Callable[..., JobsHarness]) -> None:
    def deliver(ctx: DebounceExecuteContext[Hit]) -> Effect[None, Never, Never]:
        return Effect.die(RuntimeError("endpoint down"))

    job = Debounce.make(event_schema=Hit, execute=deliver, flush_after="10 seconds")
    h = jobs_harness(create_durable_jobs({"bad": job}), start_time=START)
    client = h.client.debounce(job)
    await run(client.add("k", event=Hit("/a")))

    await h.advance("10 seconds")

    assert (await run(client.status("k"))).status == "not_found"
    assert h.alarm_of("debounce:bad:k") is None
    [failed] = h.events_of("job.failed")
    assert failed["will_retry"] is False and failed["error"]["kind"] == "defect"
    assert h.events_of("debounce.flushed") == []


def retrying_jobs(attempts: list[tuple[int, str]], *, fail_until: int, max_attempts: int) -> DurableJobs:
    """Debounce with ``max_events=2`` and a retry a minute after a failure; attempts up to ``fail_until`` die."""

    @Effect.fn
    def deliver(ctx: DebounceExecuteContext[Hit]) -> Gen[None, Never, Never]:
        now = yield from Clock.current_time_millis()
        attempts.append((now - START, ctx.flush_reason))
        if ctx.attempt <= fail_until:
            raise RuntimeError("endpoint down")

    retry = RetryConfig(max_attempts=max_attempts, delay=Backoff.constant("1 minute"), jitter=False)
    job = Debounce.make(event_schema=Hit, execute=deliver, flush_after="10 seconds", max_events=2, retry=retry)
    return create_durable_jobs({"retrying": job})


@pytest.mark.anyio
async def test_add_whose_flush_failed_reports_the_retry(jobs_harness: Callable[..., JobsHarness]) -> None:
    attempts: list[tuple[int, str]] = []
    h = jobs_harness(retrying_jobs(attempts, fail_until=1, max_attempts=3), start_time=START)
    client = h.client.debounce("retrying")
    await run(client.add("k", event={"path": "/a"}))

    added = await run(client.add("k", event={"path": "/b"}))  # max_events: the flush fails, a retry is armed

    assert added == DebounceAddResult(False, 2, START + MINUTE, "debounce:retrying:k")
    assert await run(client.status("k")) == DebounceStatusResult("debouncing", 2, START + MINUTE)
    await h.advance("1 minute")
    assert attempts == [(0, "max_events"), (MINUTE, "max_events")]
    assert (await run(client.status("k"))).status == "not_found"


@pytest.mark.anyio
async def test_manual_flush_that_failed_reports_not_flushed(jobs_harness: Callable[..., JobsHarness]) -> None:
    attempts: list[tuple[int, str]] = []
    h = jobs_harness(retrying_jobs(attempts, fail_until=1, max_attempts=3), start_time=START)
    client = h.client.debounce("retrying")
    await run(client.add("k", event={"path": "/a"}))

    # The flush failed and a retry is armed: the batch is still there.
    assert await run(client.flush("k")) == DebounceFlushResult(flushed=False, event_count=1)
    assert await run(client.status("k")) == DebounceStatusResult("debouncing", 1, START + MINUTE)
    assert await run(client.flush("k")) == DebounceFlushResult(flushed=True, event_count=1)  # the retry, now
    assert attempts == [(0, "manual"), (0, "manual")]
    assert (await run(client.status("k"))).status == "not_found"

    # With no retry left, the failed flush drops the batch: still not flushed.
    once: list[tuple[int, str]] = []
    h = jobs_harness(retrying_jobs(once, fail_until=1, max_attempts=1), start_time=START)
    client = h.client.debounce("retrying")
    await run(client.add("k", event={"path": "/a"}))
    assert await run(client.flush("k")) == DebounceFlushResult(flushed=False, event_count=1)
    assert once == [(0, "manual")]
    assert (await run(client.status("k"))).status == "not_found"


def test_definition_checks() -> None:
    def deliver(ctx: DebounceExecuteContext[Hit]) -> Effect[None, Never, Never]:
        return Effect.void

    with pytest.raises(ValueError):
        Debounce.make(event_schema=Hit, execute=deliver, flush_after="0 seconds")
    with pytest.raises(ValueError):
        Debounce.make(event_schema=Hit, execute=deliver, flush_after="1 second", max_events=0)


@pytest.mark.anyio
async def test_failing_on_event_fails_the_add_and_counts_nothing(jobs_harness: Callable[..., JobsHarness]) -> None:
    def picky(ctx: DebounceEventContext[Hit, Hits]) -> Effect[Hits, ValueError, Never]:
        if ctx.event.path == "/bad":
            return Effect.fail(ValueError("bad path"))
        return Effect.succeed(Hits([*(ctx.state.paths if ctx.state else []), ctx.event.path]))

    def deliver(ctx: DebounceExecuteContext[Hits]) -> Effect[None, Never, Never]:
        return Effect.void

    job = Debounce.make(event_schema=Hit, state_schema=Hits, on_event=picky, execute=deliver, flush_after="1 minute")
    h = jobs_harness(create_durable_jobs({"picky": job}), start_time=START)
    client = h.client.debounce(job)
    await run(client.add("k", event=Hit("/a")))

    with pytest.raises(ExecutionError) as info:
        await run(client.add("k", event=Hit("/bad")))

    assert "bad path" in info.value.cause
    assert await run(client.status("k")) == DebounceStatusResult("debouncing", 1, START + MINUTE)
    [failed] = h.events_of("job.failed")
    assert failed["error"]["kind"] == "ValueError" and failed["will_retry"] is False
