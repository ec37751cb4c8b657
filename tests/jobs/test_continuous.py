"""Continuous jobs: start, alarms (every / cron), trigger, terminate, status and get_state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Never

import pytest

from durable_effect import Clock, Effect, Gen
from durable_effect.jobs import (
    Continuous,
    ContinuousContext,
    ContinuousSchedule,
    ContinuousStartResult,
    ContinuousStatusResult,
    DurableJobs,
    ExecutionError,
    InstanceNotFoundError,
    TerminateResult,
    TriggerResult,
    ValidationError,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness

from ._support import HOUR, MINUTE, START, run, utc_ms


@dataclass(frozen=True)
class Counter:
    n: int
    stop_at: int = 0


@dataclass(frozen=True)
class Seen:
    now: int
    run_count: int
    attempt: int
    is_retry: bool
    instance_id: str
    job_name: str
    n: int


def ticker_jobs(
    seen: list[Seen],
    *,
    schedule: ContinuousSchedule | None = None,
    start_immediately: bool = True,
    sleep_ms: int = 0,
) -> DurableJobs:
    @Effect.fn
    def tick(ctx: ContinuousContext[Counter]) -> Gen[None, Never, Never]:
        state = yield from ctx.state
        now = yield from Clock.current_time_millis()
        seen.append(Seen(now, ctx.run_count, ctx.attempt, ctx.is_retry, ctx.instance_id, ctx.job_name, state.n))
        if sleep_ms:
            yield from Effect.sleep(sleep_ms)
        yield from ctx.set_state(replace(state, n=state.n + 1))
        if state.stop_at and state.n + 1 >= state.stop_at:
            yield from ctx.terminate("reached stop_at")

    ticker = Continuous.make(
        state_schema=Counter,
        schedule=schedule or Continuous.every("1 minute"),
        execute=tick,
        start_immediately=start_immediately,
    )
    return create_durable_jobs({"ticker": ticker})


def client_of(h: JobsHarness) -> Any:
    return h.client.continuous("ticker")


@pytest.mark.anyio
async def test_start_runs_at_once_and_arms_the_next_run(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    h = jobs_harness(ticker_jobs(seen), start_time=START)
    ticker = client_of(h)

    result = await run(ticker.start("a", input={"n": 0}))

    assert result == ContinuousStartResult(created=True, instance_id="continuous:ticker:a", status="running")
    assert [s.run_count for s in seen] == [1]
    assert seen[0] == Seen(START, 1, 1, False, "continuous:ticker:a", "ticker", 0)
    status = await run(ticker.status("a"))
    assert status == ContinuousStatusResult(status="running", run_count=1, next_run_at=START + MINUTE)
    assert await run(ticker.get_state("a")) == Counter(n=1)


@pytest.mark.anyio
async def test_start_on_a_running_instance_changes_nothing(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    h = jobs_harness(ticker_jobs(seen), start_time=START)
    ticker = client_of(h)
    await run(ticker.start("a", input={"n": 0}))
    await h.advance("30 seconds")

    again = await run(ticker.start("a", input={"n": 100}))

    assert again == ContinuousStartResult(created=False, instance_id="continuous:ticker:a", status="running")
    assert len(seen) == 1
    assert await run(ticker.get_state("a")) == Counter(n=1)
    assert (await run(ticker.status("a"))).next_run_at == START + MINUTE


@pytest.mark.anyio
async def test_alarm_runs_and_rearms(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    h = jobs_harness(ticker_jobs(seen), start_time=START)
    ticker = client_of(h)
    await run(ticker.start("a", input={"n": 0}))

    await h.advance("3 minutes")

    assert [(s.now - START, s.run_count, s.n) for s in seen] == [
        (0, 1, 0),
        (MINUTE, 2, 1),
        (2 * MINUTE, 3, 2),
        (3 * MINUTE, 4, 3),
    ]
    assert all(not s.is_retry and s.attempt == 1 for s in seen)
    assert await run(ticker.status("a")) == ContinuousStatusResult("running", 4, START + 4 * MINUTE)
    assert h.now() == START + 3 * MINUTE


@pytest.mark.anyio
async def test_every_counts_from_the_end_of_the_run(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    h = jobs_harness(ticker_jobs(seen, sleep_ms=10_000), start_time=START)
    ticker = client_of(h)

    await run(ticker.start("a", input={"n": 0}))

    # The run slept 10 s on the clock: the next run is one minute after it ended.
    assert h.now() == START + 10_000
    assert (await run(ticker.status("a"))).next_run_at == START + 10_000 + MINUTE
    await h.advance("2 minutes")
    assert [s.now - START for s in seen] == [0, 70_000]
    assert (await run(ticker.status("a"))).next_run_at == START + 2 * 70_000


@pytest.mark.anyio
async def test_cron_in_a_time_zone_across_a_dst_change(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    daily = Continuous.cron("0 9 * * *", tz="Europe/Berlin")  # 09:00 Berlin: 08:00Z in CET, 07:00Z in CEST
    start = utc_ms(2024, 3, 29, 12)
    h = jobs_harness(ticker_jobs(seen, schedule=daily, start_immediately=False), start_time=start)
    ticker = client_of(h)

    await run(ticker.start("a", input={"n": 0}))
    assert (await run(ticker.status("a"))).next_run_at == utc_ms(2024, 3, 30, 8)

    await h.advance("4 days")

    assert [s.now for s in seen] == [
        utc_ms(2024, 3, 30, 8),  # Saturday, CET
        utc_ms(2024, 3, 31, 7),  # Sunday: clocks went forward at 02:00, the day had 23 hours
        utc_ms(2024, 4, 1, 7),
        utc_ms(2024, 4, 2, 7),
    ]
    assert (await run(ticker.status("a"))).next_run_at == utc_ms(2024, 4, 3, 7)


@pytest.mark.anyio
async def test_cron_with_seconds_field(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    every_15s = Continuous.cron("*/15 * * * * *")
    h = jobs_harness(ticker_jobs(seen, schedule=every_15s, start_immediately=False), start_time=START)
    await run(client_of(h).start("a", input={"n": 0}))
    await h.advance("1 minute")
    assert len(seen) == 4
    assert all(s.now % 15_000 == 0 for s in seen)


def test_invalid_cron_or_zone_fails_at_definition_time() -> None:
    with pytest.raises(ValueError):
        Continuous.cron("not a cron")
    with pytest.raises(ValueError):
        Continuous.cron("0 9 * * *", tz="Mars/Olympus_Mons")
    with pytest.raises(ValueError):
        Continuous.every("0 seconds")


def test_every_needs_at_least_a_millisecond() -> None:
    # Alarms are whole milliseconds: a shorter interval would re-arm at the same instant forever.
    for interval in ("500 micros", "0.999 millis", "infinity"):
        with pytest.raises(ValueError, match="at least 1 millisecond"):
            Continuous.every(interval)
    assert Continuous.every("1 millis").interval_ms == 1


@pytest.mark.anyio
async def test_fractional_interval_rounds_the_next_run_up(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    h = jobs_harness(ticker_jobs(seen, schedule=Continuous.every("1.5 millis")), start_time=START)
    ticker = client_of(h)

    await run(ticker.start("a", input={"n": 0}))
    assert (await run(ticker.status("a"))).next_run_at == START + 2
    await h.advance("6 millis")

    assert [s.now - START for s in seen] == [0, 2, 4, 6]


@pytest.mark.anyio
async def test_trigger_runs_now_and_rebases_the_schedule(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    h = jobs_harness(ticker_jobs(seen), start_time=START)
    ticker = client_of(h)
    await run(ticker.start("a", input={"n": 0}))
    await h.advance("40 seconds")

    assert await run(ticker.trigger("a")) == TriggerResult(triggered=True)

    assert [s.now - START for s in seen] == [0, 40_000]
    assert await run(ticker.status("a")) == ContinuousStatusResult("running", 2, START + 40_000 + MINUTE)
    await h.advance("1 minute")
    assert [s.now - START for s in seen] == [0, 40_000, 100_000]
    assert await run(ticker.trigger("missing")) == TriggerResult(triggered=False)


@pytest.mark.anyio
async def test_client_terminate_cancels_the_alarm_and_deletes_everything(
    jobs_harness: Callable[..., JobsHarness],
) -> None:
    seen: list[Seen] = []
    h = jobs_harness(ticker_jobs(seen), start_time=START)
    ticker = client_of(h)
    await run(ticker.start("a", input={"n": 0}))

    assert await run(ticker.terminate("a", reason="user left")) == TerminateResult(terminated=True, reason="user left")

    assert h.alarm_of("continuous:ticker:a") is None
    assert await run(ticker.status("a")) == ContinuousStatusResult("not_found", 0, None)
    with pytest.raises(InstanceNotFoundError) as info:
        await run(ticker.get_state("a"))
    assert info.value.instance_id == "continuous:ticker:a"
    await h.advance("10 minutes")
    assert len(seen) == 1
    terminated = h.events_of("job.terminated")
    assert [(e["reason"], e["run_count"]) for e in terminated] == [("user left", 1)]

    # The id can be started again, from scratch.
    assert (await run(ticker.start("a", input={"n": 50}))).created is True
    assert seen[-1].run_count == 1 and seen[-1].n == 50


@pytest.mark.anyio
async def test_terminate_of_a_missing_instance(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(ticker_jobs([]), start_time=START)
    result = await run(client_of(h).terminate("nobody"))
    assert result == TerminateResult(terminated=False, reason="not_found")
    assert h.events_of("job.terminated") == []


@pytest.mark.anyio
async def test_ctx_terminate_ends_the_instance_from_an_alarm(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    h = jobs_harness(ticker_jobs(seen), start_time=START)
    ticker = client_of(h)
    await run(ticker.start("a", input={"n": 0, "stop_at": 3}))

    await h.advance("10 minutes")

    assert [s.run_count for s in seen] == [1, 2, 3]
    assert (await run(ticker.status("a"))).status == "not_found"
    assert h.alarm_of("continuous:ticker:a") is None
    [terminated] = h.events_of("job.terminated")
    assert terminated["reason"] == "reached stop_at" and terminated["run_count"] == 3


@pytest.mark.anyio
async def test_start_whose_first_run_terminates(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    h = jobs_harness(ticker_jobs(seen), start_time=START)
    ticker = client_of(h)

    result = await run(ticker.start("a", input={"n": 0, "stop_at": 1}))

    assert result == ContinuousStartResult(created=True, instance_id="continuous:ticker:a", status="terminated")
    assert (await run(ticker.status("a"))).status == "not_found"
    assert h.alarm_of("continuous:ticker:a") is None
    assert [e["type"] for e in h.events] == ["job.started", "job.executed", "job.terminated"]


@pytest.mark.anyio
async def test_start_immediately_false_waits_for_the_schedule(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    h = jobs_harness(ticker_jobs(seen, start_immediately=False), start_time=START)
    ticker = client_of(h)

    result = await run(ticker.start("a", input={"n": 7}))

    assert result.created is True and result.status == "running"
    assert seen == []
    assert await run(ticker.status("a")) == ContinuousStatusResult("running", 0, START + MINUTE)
    assert await run(ticker.get_state("a")) == Counter(n=7)
    await h.advance("1 minute")
    assert [(s.now - START, s.run_count, s.n) for s in seen] == [(MINUTE, 1, 7)]


@pytest.mark.anyio
async def test_invalid_input_is_rejected_and_nothing_is_written(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[Seen] = []
    h = jobs_harness(ticker_jobs(seen), start_time=START)
    ticker = client_of(h)

    with pytest.raises(ValidationError) as info:
        await run(ticker.start("a", input={"n": "seven"}))

    assert "Counter" in info.value.schema and info.value.issues
    assert seen == []
    assert h.storage_ops("continuous:ticker:a")["writes"] == 0
    assert (await run(ticker.status("a"))).status == "not_found"
    assert h.events == []


@pytest.mark.anyio
async def test_update_state_and_typed_get_state(jobs_harness: Callable[..., JobsHarness]) -> None:
    @Effect.fn
    def double(ctx: ContinuousContext[Counter]) -> Gen[None, Never, Never]:
        yield from ctx.update_state(lambda c: replace(c, n=c.n * 2))
        state = yield from ctx.state  # reflects update_state earlier in the same run
        assert state.n % 2 == 0

    doubler = Continuous.make(state_schema=Counter, schedule=Continuous.every("1 hour"), execute=double)
    jobs = create_durable_jobs({"doubler": doubler})
    h = jobs_harness(jobs, start_time=START)
    client = h.client.continuous(doubler)  # typed by the definition

    await run(client.start("x", input=Counter(n=3)))
    await h.advance("2 hours")

    state: Counter = await run(client.get_state("x"))
    assert state == Counter(n=24)
    assert (await run(client.status("x"))).next_run_at == START + 3 * HOUR


class Boom(Exception):
    pass


@pytest.mark.anyio
async def test_failed_start_run_fails_the_call_and_commits_nothing(jobs_harness: Callable[..., JobsHarness]) -> None:
    def explode(ctx: ContinuousContext[Counter]) -> Effect[None, Never, Never]:
        return Effect.die(Boom("no"))

    job = Continuous.make(state_schema=Counter, schedule=Continuous.every("1 minute"), execute=explode)
    h = jobs_harness(create_durable_jobs({"bad": job}), start_time=START)
    client = h.client.continuous(job)

    with pytest.raises(ExecutionError) as info:
        await run(client.start("x", input=Counter(n=1)))

    assert info.value.instance_id == "continuous:bad:x"
    assert "Boom" in info.value.cause
    assert (await run(client.status("x"))).status == "not_found"
    assert h.alarm_of("continuous:bad:x") is None
    assert [e["type"] for e in h.events] == ["job.started", "job.failed"]


@pytest.mark.anyio
async def test_failed_alarm_run_without_retry_keeps_the_schedule(jobs_harness: Callable[..., JobsHarness]) -> None:
    runs: list[int] = []

    @Effect.fn
    def flaky(ctx: ContinuousContext[Counter]) -> Gen[None, Boom, Never]:
        runs.append(ctx.run_count)
        yield from ctx.set_state(Counter(n=ctx.run_count))
        if ctx.run_count == 2:
            yield from Effect.fail(Boom("second run fails"))

    job = Continuous.make(state_schema=Counter, schedule=Continuous.every("1 minute"), execute=flaky)
    h = jobs_harness(create_durable_jobs({"flaky": job}), start_time=START)
    client = h.client.continuous(job)
    await run(client.start("x", input=Counter(n=0)))

    await h.advance("1 minute")  # run 2 fails: its state change is dropped, the schedule continues
    assert await run(client.get_state("x")) == Counter(n=1)
    assert (await run(client.status("x"))).next_run_at == START + 2 * MINUTE
    await h.advance("1 minute")

    assert runs == [1, 2, 3]
    assert await run(client.get_state("x")) == Counter(n=3)
    [failed] = h.events_of("job.failed")
    assert failed["will_retry"] is False and failed["run_count"] == 2
    assert failed["error"]["kind"] == "Boom"
