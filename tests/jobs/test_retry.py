"""Retries of Continuous and Debounce executions: durable through the alarm, backoff, jitter, exhaustion."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Never

import pytest

from durable_effect import Clock, Effect, Gen, RandomService, TaggedError
from durable_effect.jobs import (
    Backoff,
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceExecuteContext,
    DurableJobs,
    RetryConfig,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness

from ._support import MINUTE, START, run


@dataclass(frozen=True)
class Counter:
    n: int


class Flaky(TaggedError):
    attempt: int


@dataclass(frozen=True)
class Attempt:
    now: int
    run_count: int
    attempt: int
    is_retry: bool


def flaky_jobs(attempts: list[Attempt], fail_when: Callable[[int, int], str | None], retry: RetryConfig) -> DurableJobs:
    """A continuous job every minute; ``fail_when(run_count, attempt)`` says "fail", "die" or None."""

    @Effect.fn
    def execute(ctx: ContinuousContext[Counter]) -> Gen[None, Flaky, Never]:
        now = yield from Clock.current_time_millis()
        attempts.append(Attempt(now, ctx.run_count, ctx.attempt, ctx.is_retry))
        yield from ctx.update_state(lambda c: Counter(c.n + 1))
        how = fail_when(ctx.run_count, ctx.attempt)
        if how == "fail":
            yield from Flaky(attempt=ctx.attempt)
        elif how == "die":
            raise ZeroDivisionError("defect on purpose")

    job = Continuous.make(state_schema=Counter, schedule=Continuous.every("1 minute"), execute=execute, retry=retry)
    return create_durable_jobs({"flaky": job})


@pytest.mark.anyio
async def test_failures_are_retried_through_the_alarm_then_the_schedule_resumes(
    jobs_harness: Callable[..., JobsHarness],
) -> None:
    attempts: list[Attempt] = []

    def fail_when(run_count: int, attempt: int) -> str | None:
        return "fail" if run_count == 2 and attempt < 3 else None

    retry = RetryConfig(max_attempts=3, delay=Backoff.constant("10 seconds"), jitter=False)
    h = jobs_harness(flaky_jobs(attempts, fail_when, retry), start_time=START)
    client = h.client.continuous("flaky")
    await run(client.start("a", input={"n": 0}))

    await h.advance("1 minute")
    assert (await run(client.status("a"))).next_run_at == START + MINUTE + 10_000  # the retry is the alarm
    await h.advance("2 minutes")

    assert [(a.now - START, a.run_count, a.attempt, a.is_retry) for a in attempts] == [
        (0, 1, 1, False),
        (MINUTE, 2, 1, False),
        (MINUTE + 10_000, 2, 2, True),
        (MINUTE + 20_000, 2, 3, True),
        (2 * MINUTE + 20_000, 3, 1, False),  # the normal schedule resumes after the success
    ]
    # Failed attempts commit nothing of their own: only the successful runs count in the state.
    assert await run(client.get_state("a")) == Counter(3)
    failed = h.events_of("job.failed")
    assert [(e["run_count"], e["attempt"], e["will_retry"]) for e in failed] == [(2, 1, True), (2, 2, True)]
    executed = h.events_of("job.executed")
    assert [(e["run_count"], e["attempt"]) for e in executed] == [(1, 1), (2, 3), (3, 1)]
    assert (await run(client.status("a"))).run_count == 3


@pytest.mark.anyio
async def test_exhaustion_terminates_the_instance(jobs_harness: Callable[..., JobsHarness]) -> None:
    attempts: list[Attempt] = []
    retry = RetryConfig(max_attempts=3, delay=Backoff.exponential("1 second"), jitter=False)
    h = jobs_harness(flaky_jobs(attempts, lambda run_count, attempt: "fail" if run_count > 1 else None, retry), START)
    client = h.client.continuous("flaky")
    await run(client.start("a", input={"n": 0}))

    await h.advance("10 minutes")

    assert [(a.now - START, a.attempt) for a in attempts] == [
        (0, 1),
        (MINUTE, 1),
        (MINUTE + 1_000, 2),
        (MINUTE + 3_000, 3),
    ]
    assert (await run(client.status("a"))).status == "not_found"
    assert h.alarm_of("continuous:flaky:a") is None
    types = [e["type"] for e in h.events]
    assert types[-3:] == ["job.failed", "job.retryExhausted", "job.terminated"]
    [exhausted] = h.events_of("job.retryExhausted")
    assert exhausted["attempts"] == 3 and exhausted["reason"].startswith("max_attempts")
    [terminated] = h.events_of("job.terminated")
    assert terminated["reason"] == "retry_exhausted" and terminated["run_count"] == 2
    assert h.events_of("job.failed")[-1]["will_retry"] is False


@pytest.mark.anyio
async def test_defects_are_retried_like_failures(jobs_harness: Callable[..., JobsHarness]) -> None:
    attempts: list[Attempt] = []
    retry = RetryConfig(max_attempts=2, delay=Backoff.constant("5 seconds"), jitter=False)
    h = jobs_harness(flaky_jobs(attempts, lambda r, a: "die" if a == 1 else None, retry), START)
    client = h.client.continuous("flaky")

    result = await run(client.start("a", input={"n": 0}))  # the first run dies: a retry is armed, start succeeds

    assert result.status == "running"
    assert (await run(client.status("a"))).next_run_at == START + 5_000
    await h.advance("5 seconds")
    assert [(a.attempt, a.is_retry) for a in attempts] == [(1, False), (2, True)]
    [failed] = h.events_of("job.failed")
    assert failed["error"]["kind"] == "defect" and "ZeroDivisionError" in failed["error"]["message"]
    assert (await run(client.status("a"))).next_run_at == START + 5_000 + MINUTE


@pytest.mark.anyio
async def test_max_duration_bounds_the_retries(jobs_harness: Callable[..., JobsHarness]) -> None:
    attempts: list[Attempt] = []
    retry = RetryConfig(max_attempts=100, delay=Backoff.constant("10 seconds"), jitter=False, max_duration="25 seconds")
    h = jobs_harness(flaky_jobs(attempts, lambda r, a: "fail", retry), START)
    client = h.client.continuous("flaky")

    await run(client.start("a", input={"n": 0}))
    await h.advance("5 minutes")

    assert [a.now - START for a in attempts] == [0, 10_000, 20_000]  # a retry at 30 s would pass 25 s
    [exhausted] = h.events_of("job.retryExhausted")
    assert exhausted["attempts"] == 3 and exhausted["reason"].startswith("max_duration")
    assert (await run(client.status("a"))).status == "not_found"


@pytest.mark.anyio
async def test_start_exhausting_at_once_reports_terminated(jobs_harness: Callable[..., JobsHarness]) -> None:
    retry = RetryConfig(max_attempts=1)
    h = jobs_harness(flaky_jobs([], lambda r, a: "fail", retry), START)
    result = await run(h.client.continuous("flaky").start("a", input={"n": 0}))
    assert result.status == "terminated"
    assert [e["type"] for e in h.events] == ["job.started", "job.failed", "job.retryExhausted", "job.terminated"]


@pytest.mark.anyio
async def test_jitter_comes_from_the_random_service(jobs_harness: Callable[..., JobsHarness]) -> None:
    async def retry_delays(seed: int) -> list[int]:
        attempts: list[Attempt] = []
        retry = RetryConfig(max_attempts=6, delay=Backoff.exponential("1 second", max="8 seconds"))
        h = jobs_harness(flaky_jobs(attempts, lambda r, a: "fail", retry), START, seed=seed)
        await run(h.client.continuous("flaky").start("a", input={"n": 0}))
        await h.advance("5 minutes")
        return [b.now - a.now for a, b in itertools.pairwise(attempts)]

    first, again, other = await retry_delays(1), await retry_delays(1), await retry_delays(2)

    assert len(first) == 5
    assert first == again  # reproducible from the seed
    assert first != other
    for delay, base in zip(first, [1_000, 2_000, 4_000, 8_000, 8_000], strict=True):
        assert 0.9 * base <= delay <= 1.1 * base
    assert first != [1_000, 2_000, 4_000, 8_000, 8_000]


def test_backoff_shapes() -> None:
    assert [Backoff.constant("2 seconds").delay_ms(n) for n in (1, 2, 3)] == [2_000, 2_000, 2_000]
    linear = Backoff.linear("1 second", "500 millis", max="2 seconds")
    assert [linear.delay_ms(n) for n in (1, 2, 3, 4)] == [1_000, 1_500, 2_000, 2_000]
    exponential = Backoff.exponential("100 millis", factor=3)
    assert [exponential.delay_ms(n) for n in (1, 2, 3)] == [100, 300, 900]
    default = RetryConfig(max_attempts=10)
    assert default.jitter is True and default.delay == Backoff.exponential("1 second", 2, "30 seconds")
    assert [default.delay.delay_ms(n) for n in range(1, 8)] == [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]
    assert Backoff.standard() == default.delay
    assert Backoff.aggressive().delay_ms(1) == 100 and Backoff.patient().delay_ms(1) == 5_000
    rng = RandomService(7)
    jittered = [RetryConfig(max_attempts=2).next_delay_ms(1, rng) for _ in range(200)]
    assert min(jittered) >= 900 and max(jittered) <= 1_100 and len(set(jittered)) > 100
    assert RetryConfig(max_attempts=2, jitter=False).next_delay_ms(3, rng) == 4_000
    with pytest.raises(ValueError):
        RetryConfig(max_attempts=0)
    with pytest.raises(ValueError):
        Backoff.exponential("1 second", factor=0.5)


@dataclass(frozen=True)
class Item:
    name: str


@pytest.mark.anyio
async def test_debounce_flush_is_retried_with_its_batch(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[tuple[int, Item, int, str, int, bool]] = []

    @Effect.fn
    def deliver(ctx: DebounceExecuteContext[Item]) -> Gen[None, Flaky, Never]:
        item = yield from ctx.state
        now = yield from Clock.current_time_millis()
        seen.append((now - START, item, ctx.event_count, ctx.flush_reason, ctx.attempt, ctx.is_retry))
        if ctx.attempt < 3:
            yield from Flaky(attempt=ctx.attempt)

    job = Debounce.make(
        event_schema=Item,
        execute=deliver,
        flush_after="10 seconds",
        max_events=2,
        retry=RetryConfig(max_attempts=3, delay=Backoff.constant("1 minute"), jitter=False),
    )
    h = jobs_harness(create_durable_jobs({"d": job}), START)
    client = h.client.debounce(job)
    await run(client.add("k", event=Item("a")))
    added = await run(client.add("k", event=Item("b")))  # max_events: the flush fails, a retry is armed

    assert added.event_count == 2
    assert (await run(client.status("k"))).status == "debouncing"
    await h.advance("5 minutes")

    assert seen == [
        (0, Item("b"), 2, "max_events", 1, False),
        (MINUTE, Item("b"), 2, "max_events", 2, True),
        (2 * MINUTE, Item("b"), 2, "max_events", 3, True),
    ]
    assert (await run(client.status("k"))).status == "not_found"
    assert [(e["event_count"], e["reason"]) for e in h.events_of("debounce.flushed")] == [(2, "max_events")]


@pytest.mark.anyio
async def test_debounce_retry_exhaustion_drops_the_batch(jobs_harness: Callable[..., JobsHarness]) -> None:
    def deliver(ctx: DebounceExecuteContext[Item]) -> Effect[None, Never, Never]:
        return Effect.die(RuntimeError("down"))

    job = Debounce.make(
        event_schema=Item,
        execute=deliver,
        flush_after="10 seconds",
        retry=RetryConfig(max_attempts=2, delay=Backoff.constant("1 second"), jitter=False),
    )
    h = jobs_harness(create_durable_jobs({"d": job}), START)
    client = h.client.debounce(job)
    await run(client.add("k", event=Item("a")))

    await h.advance("1 minute")

    assert (await run(client.status("k"))).status == "not_found"
    assert [e["type"] for e in h.events][-3:] == ["job.failed", "job.retryExhausted", "job.terminated"]
    assert (await run(client.add("k", event=Item("b")))).created is True


def sleepy_jobs(attempts: list[tuple[int, int, int]], fail_until: int, retry: RetryConfig) -> DurableJobs:
    """A continuous job every hour whose runs sleep 10 s on the clock, then fail until ``attempt > fail_until``."""

    @Effect.fn
    def execute(ctx: ContinuousContext[Counter]) -> Gen[None, Flaky, Never]:
        began = yield from Clock.current_time_millis()
        yield from Effect.sleep("10 seconds")
        ended = yield from Clock.current_time_millis()
        attempts.append((ctx.attempt, began - START, ended - START))
        if ctx.attempt <= fail_until:
            yield from Flaky(attempt=ctx.attempt)

    job = Continuous.make(state_schema=Counter, schedule=Continuous.every("1 hour"), execute=execute, retry=retry)
    return create_durable_jobs({"sleepy": job})


@pytest.mark.anyio
async def test_retry_delay_counts_from_the_failure(jobs_harness: Callable[..., JobsHarness]) -> None:
    attempts: list[tuple[int, int, int]] = []
    retry = RetryConfig(max_attempts=5, delay=Backoff.constant("5 seconds"), jitter=False)
    h = jobs_harness(sleepy_jobs(attempts, 2, retry), START)
    client = h.client.continuous("sleepy")

    await run(client.start("a", input={"n": 0}))  # the first run fails at 10 s, after its sleep
    assert (await run(client.status("a"))).next_run_at == START + 15_000
    await h.advance("1 minute")

    # Each attempt starts 5 s after the previous one failed, not 5 s after it started.
    assert attempts == [(1, 0, 10_000), (2, 15_000, 25_000), (3, 30_000, 40_000)]
    assert (await run(client.status("a"))).next_run_at == START + 40_000 + 60 * MINUTE


@pytest.mark.anyio
async def test_max_duration_counts_from_the_failures(jobs_harness: Callable[..., JobsHarness]) -> None:
    attempts: list[tuple[int, int, int]] = []
    retry = RetryConfig(max_attempts=10, delay=Backoff.constant("5 seconds"), jitter=False, max_duration="20 seconds")
    h = jobs_harness(sleepy_jobs(attempts, 10, retry), START)
    client = h.client.continuous("sleepy")

    await run(client.start("a", input={"n": 0}))
    await h.advance("1 minute")

    # First failure at 10 s; the retry after the failure at 25 s starts at 30 s, 20 s in; the next would be 35 s in.
    assert attempts == [(1, 0, 10_000), (2, 15_000, 25_000), (3, 30_000, 40_000)]
    [exhausted] = h.events_of("job.retryExhausted")
    assert exhausted["attempts"] == 3 and exhausted["reason"].startswith("max_duration")
    assert (await run(client.status("a"))).status == "not_found"


@pytest.mark.anyio
async def test_max_duration_from_a_first_failure_at_epoch_zero(jobs_harness: Callable[..., JobsHarness]) -> None:
    attempts: list[Attempt] = []
    retry = RetryConfig(max_attempts=50, delay=Backoff.constant("1 second"), jitter=False, max_duration="5 seconds")
    h = jobs_harness(flaky_jobs(attempts, lambda r, a: "fail", retry), start_time=0)
    client = h.client.continuous("flaky")

    await run(client.start("a", input={"n": 0}))  # fails at time 0: the budget runs from 0
    await h.advance("1 minute")

    assert [a.now for a in attempts] == [0, 1_000, 2_000, 3_000, 4_000, 5_000]
    [exhausted] = h.events_of("job.retryExhausted")
    assert exhausted["attempts"] == 6 and exhausted["reason"].startswith("max_duration")
