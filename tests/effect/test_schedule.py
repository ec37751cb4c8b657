"""Schedules: delays of every constructor and combinator, retry/repeat under TestClock, cron across DST."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, Never
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure

from durable_effect import Clock, Duration, Effect, Fail, Random, RandomService, Schedule, TaggedError
from durable_effect.testing import TestClock

from ._support import advance, run_with_clock, success_value

NEW_YORK = ZoneInfo("America/New_York")


class Flaky(TaggedError):
    attempt: int


def delays(schedule: Schedule[Any, Any], limit: int = 20, inputs: Any = None, seed: int = 0) -> list[float]:
    """Step ``schedule`` as a driver would (time moves by each delay) and collect the delays until it stops."""
    rnd = RandomService(seed)
    state = schedule.initial()
    now = 0.0
    out: list[float] = []
    for i in range(limit):
        value = inputs(i) if callable(inputs) else inputs
        state, _output, delay = schedule.step(now, value, state, rnd)
        if delay is None:
            break
        out.append(delay)
        now += delay
    return out


def outputs(schedule: Schedule[Any, Any], limit: int = 10) -> list[Any]:
    rnd = RandomService(0)
    state = schedule.initial()
    now = 0.0
    out: list[Any] = []
    for _ in range(limit):
        state, output, delay = schedule.step(now, None, state, rnd)
        out.append(output)
        if delay is None:
            break
        now += delay
    return out


# ---------------------------------------------------------------- delays of each schedule


def test_recurs() -> None:
    assert delays(Schedule.recurs(3)) == [0, 0, 0]
    assert delays(Schedule.recurs(0)) == []
    with pytest.raises(ValueError):
        Schedule.recurs(-1)


def test_spaced_and_forever() -> None:
    assert delays(Schedule.spaced("2 seconds"), limit=4) == [2000] * 4
    assert delays(Schedule.forever, limit=3) == [0, 0, 0]


def test_exponential_waits_base_then_doubles() -> None:
    assert delays(Schedule.exponential("100 millis"), limit=5) == [100, 200, 400, 800, 1600]
    assert delays(Schedule.exponential(10, factor=3), limit=4) == [10, 30, 90, 270]
    assert outputs(Schedule.exponential(100), limit=3) == [Duration(100), Duration(200), Duration(400)]


def test_fibonacci() -> None:
    assert delays(Schedule.fibonacci("1 second"), limit=7) == [1000, 1000, 2000, 3000, 5000, 8000, 13000]


def test_fixed_keeps_a_grid_from_the_first_step() -> None:
    assert delays(Schedule.fixed(1000), limit=3) == [1000, 1000, 1000]
    rnd = RandomService(0)
    sched = Schedule.fixed(1000)
    state = sched.initial()
    state, _, d0 = sched.step(0, None, state, rnd)  # first step at t=0: next slot 1000
    state, _, d1 = sched.step(1300, None, state, rnd)  # the run took 300 ms: wait for slot 2000
    state, _, d2 = sched.step(4500, None, state, rnd)  # overran by more than an interval: go again at once
    state, _, d3 = sched.step(4600, None, state, rnd)  # back on the grid: slot 5000
    assert [d0, d1, d2, d3] == [1000, 700, 0, 400]
    with pytest.raises(ValueError):
        Schedule.fixed(0)


def test_jittered_stays_within_bounds_and_is_seeded() -> None:
    base = Schedule.spaced(1000).jittered()
    first = delays(base, limit=50, seed=1)
    assert all(800 <= d < 1200 for d in first)
    assert len(set(first)) > 1
    assert delays(base, limit=50, seed=1) == first
    assert delays(base, limit=50, seed=2) != first
    assert all(500 <= d < 600 for d in delays(Schedule.spaced(1000).jittered(0.5, 0.6), limit=20))


def test_intersect_recurs_while_both_do_with_the_longer_delay() -> None:
    assert delays(Schedule.spaced(100) & Schedule.recurs(3)) == [100, 100, 100]
    assert delays(Schedule.exponential(100).intersect(Schedule.spaced(300)), limit=4) == [300, 300, 400, 800]


def test_union_recurs_while_either_does_with_the_shorter_delay() -> None:
    assert delays(Schedule.recurs(2) | Schedule.spaced(500), limit=4) == [0, 0, 500, 500]
    assert delays(Schedule.exponential(100).union(Schedule.spaced(300)), limit=4) == [100, 200, 300, 300]
    assert delays(Schedule.recurs(1).union(Schedule.recurs(2))) == [0, 0]


def test_up_to_stops_once_the_time_budget_is_spent() -> None:
    assert delays(Schedule.spaced("1 second").up_to("5 seconds")) == [1000] * 5
    assert delays(Schedule.exponential(1000).up_to("10 seconds")) == [1000, 2000, 4000]


def test_while_input_stops_on_the_first_input_failing_the_predicate() -> None:
    sched = Schedule.spaced(10).while_input(lambda n: isinstance(n, int) and n < 3)
    assert delays(sched, inputs=lambda i: i) == [10, 10, 10]


def test_compose_feeds_outputs_forward() -> None:
    sched = Schedule.recurs(10).compose(
        Schedule.spaced(50).while_input(lambda count: isinstance(count, int) and count <= 3)
    )
    assert delays(sched) == [50, 50, 50, 50]  # recurs outputs 0, 1, 2, 3, then 4 stops it


def test_map_transforms_outputs() -> None:
    assert outputs(Schedule.recurs(2).map(lambda n: f"#{n}")) == ["#0", "#1", "#2"]


# ---------------------------------------------------------------- properties


@settings(deadline=None)
@given(st.integers(1, 10_000), st.floats(1.0, 4.0), st.integers(1, 12))
def test_exponential_delays_property(base: int, factor: float, n: int) -> None:
    got = delays(Schedule.exponential(base, factor=factor), limit=n)
    assert got == pytest.approx([base * factor**i for i in range(n)])


@settings(deadline=None)
@given(st.integers(1, 10_000), st.integers(3, 20))
def test_fibonacci_delays_property(base: int, n: int) -> None:
    got = delays(Schedule.fibonacci(base), limit=n)
    assert got[:2] == [base, base]
    assert all(got[i + 2] == got[i] + got[i + 1] for i in range(n - 2))


@settings(deadline=None)
@given(st.integers(0, 2**32), st.floats(0.1, 1.0), st.floats(1.0, 3.0), st.integers(1, 100_000))
def test_jitter_bounds_property(seed: int, low: float, high: float, base: int) -> None:
    for d in delays(Schedule.spaced(base).jittered(low, high), limit=20, seed=seed):
        assert base * low <= d <= base * high


@settings(deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10))
def test_intersect_and_union_of_spaced_property(a: int, b: int, n: int) -> None:
    both = delays(Schedule.spaced(a) & Schedule.spaced(b) & Schedule.recurs(n))
    either = delays((Schedule.spaced(a) | Schedule.spaced(b)) & Schedule.recurs(n))
    assert both == [max(a, b)] * n
    assert either == [min(a, b)] * n


@settings(deadline=None)
@given(st.integers(0, 50), st.integers(1, 5_000))
def test_recurs_with_spaced_counts_property(n: int, gap: int) -> None:
    assert delays(Schedule.recurs(n) & Schedule.spaced(gap), limit=100) == [gap] * n


# ---------------------------------------------------------------- retry and repeat under TestClock


def flaky(clock_log: list[int], fail_times: int) -> Effect[str, Flaky, Never]:
    """Fails ``fail_times`` times (recording the clock at each attempt), then succeeds."""

    def attempt(now: int) -> Effect[str, Flaky, Never]:
        clock_log.append(now)
        n = len(clock_log)
        return Effect.fail(Flaky(attempt=n)) if n <= fail_times else Effect.succeed(f"ok after {n}")

    return Clock.current_time_millis().flat_map(attempt)


@pytest.mark.anyio
async def test_retry_exponential_until_success() -> None:
    clock = TestClock()
    attempts: list[int] = []
    eff = flaky(attempts, fail_times=3).retry(Schedule.exponential("1 second"))
    assert success_value(await run_with_clock(eff, clock, advance("1 hour"))) == "ok after 4"
    assert attempts == [0, 1000, 3000, 7000]


@pytest.mark.anyio
async def test_retry_gives_up_with_the_last_error() -> None:
    clock = TestClock()
    attempts: list[int] = []
    eff = flaky(attempts, fail_times=100).retry(Schedule.spaced("10 seconds"), times=2)
    assert await run_with_clock(eff, clock, advance("1 hour")) == Failure(Fail(Flaky(attempt=3)))
    assert attempts == [0, 10_000, 20_000]


@pytest.mark.anyio
async def test_retry_with_jitter_uses_the_random_service() -> None:
    def run_attempts(seed: int) -> Any:
        async def go() -> list[int]:
            clock = TestClock()
            attempts: list[int] = []
            eff = flaky(attempts, fail_times=5).retry(Schedule.exponential(1000).jittered())
            await run_with_clock(eff.provide_service(Random, Random.seeded(seed)), clock, advance("1 day"))
            return attempts

        return go()

    first = await run_attempts(42)
    assert first == await run_attempts(42)
    gaps = [b - a for a, b in itertools.pairwise(first)]
    assert all(0.8 * 1000 * 2**i <= gap <= 1.2 * 1000 * 2**i + 1 for i, gap in enumerate(gaps))


def test_retry_times_without_a_schedule_runs_synchronously() -> None:
    attempts: list[int] = []

    def attempt() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("flaky")
        return len(attempts)

    assert Effect.run_sync(Effect.try_(attempt).retry(times=5)) == 3
    attempts.clear()
    exit_ = Effect.run_sync_exit(Effect.try_(attempt).retry(times=1))
    assert len(attempts) == 2 and isinstance(exit_, Failure)


def test_retry_does_not_retry_defects() -> None:
    calls: list[int] = []

    def boom() -> int:
        calls.append(1)
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        Effect.run_sync(Effect.sync(boom).retry(times=5))
    assert calls == [1]


def test_retry_needs_a_schedule_or_times() -> None:
    with pytest.raises(ValueError):
        Effect.fail("e").retry()  # type: ignore[call-overload]


@pytest.mark.anyio
async def test_retry_with_a_schedule_and_times() -> None:
    clock = TestClock()
    attempts: list[int] = []
    eff = flaky(attempts, fail_times=100).retry(Schedule.fibonacci(100), times=4)
    assert isinstance(await run_with_clock(eff, clock, advance("1 hour")), Failure)
    assert attempts == [0, 100, 200, 400, 700]


@pytest.mark.anyio
async def test_repeat_spaced_runs_again_after_each_success() -> None:
    clock = TestClock()
    runs: list[int] = []
    eff = Clock.current_time_millis().map(runs.append).repeat(Schedule.spaced("1 minute") & Schedule.recurs(3))
    await run_with_clock(eff, clock, advance("1 hour"))
    assert runs == [0, 60_000, 120_000, 180_000]


@pytest.mark.anyio
async def test_repeat_fixed_absorbs_the_time_each_run_takes() -> None:
    clock = TestClock()
    runs: list[int] = []
    work = Clock.current_time_millis().map(runs.append).flat_map(lambda _: Effect.sleep(300))
    eff = work.repeat(Schedule.fixed("1 second") & Schedule.recurs(3))
    await run_with_clock(eff, clock, advance("1 hour"))
    assert runs == [0, 1300, 2300, 3300]


@pytest.mark.anyio
async def test_repeat_stops_at_the_first_failure() -> None:
    clock = TestClock()
    attempts: list[int] = []

    def step(now: int) -> Effect[int, str, Never]:
        attempts.append(now)
        return Effect.fail("stop") if len(attempts) == 3 else Effect.succeed(now)

    eff = Clock.current_time_millis().flat_map(step).repeat(Schedule.spaced(100))
    assert await run_with_clock(eff, clock, advance("1 hour")) == Failure(Fail("stop"))
    assert attempts == [0, 100, 200]


def test_repeat_recurs_returns_the_last_output_synchronously() -> None:
    runs: list[int] = []
    eff = Effect.sync(lambda: runs.append(1)).repeat(Schedule.recurs(3))
    assert Effect.run_sync(eff) == 3  # the repetitions, as in Effect-TS
    assert len(runs) == 4


def test_repeat_while_input_stops_on_a_value() -> None:
    counter = [0]

    def bump() -> int:
        counter[0] += 1
        return counter[0]

    eff = Effect.sync(bump).repeat(Schedule.forever.while_input(lambda n: isinstance(n, int) and n < 5))
    Effect.run_sync(eff)
    assert counter[0] == 5


@pytest.mark.anyio
async def test_repeat_cron_runs_at_matching_times() -> None:
    start = int(dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC).timestamp() * 1000)
    clock = TestClock(start=start)
    runs: list[int] = []
    eff = Clock.current_time_millis().map(runs.append).repeat(Schedule.cron("0 9 * * *") & Schedule.recurs(2))
    await run_with_clock(eff, clock, advance("3 days"))
    assert [dt.datetime.fromtimestamp(r / 1000, dt.UTC).strftime("%d %H:%M") for r in runs] == [
        "05 08:00",
        "05 09:00",
        "06 09:00",
    ]


# ---------------------------------------------------------------- cron and time zones


def cron_times(expr: str, tz: str | None, start: dt.datetime, n: int) -> list[dt.datetime]:
    """The next ``n`` run times after ``start`` (as aware datetimes in the schedule's zone)."""
    zone = ZoneInfo(tz) if tz else dt.UTC
    sched = Schedule.cron(expr, tz)
    rnd = RandomService(0)
    state = sched.initial()
    now = start.timestamp() * 1000
    out: list[dt.datetime] = []
    for _ in range(n):
        state, at, delay = sched.step(now, None, state, rnd)
        assert delay is not None and delay > 0
        assert at == now + delay
        out.append(dt.datetime.fromtimestamp(at / 1000, zone))
        now = at
    return out


def iso(times: list[dt.datetime]) -> list[str]:
    return [t.isoformat() for t in times]


def test_cron_utc_by_default_and_with_seconds_field() -> None:
    start = dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert iso(cron_times("*/15 * * * *", None, start, 3)) == [
        "2026-01-01T00:15:00+00:00",
        "2026-01-01T00:30:00+00:00",
        "2026-01-01T00:45:00+00:00",
    ]
    assert iso(cron_times("30 * * * * *", None, start, 2)) == [
        "2026-01-01T00:00:30+00:00",
        "2026-01-01T00:01:30+00:00",
    ]


def test_cron_daily_in_a_zone_keeps_local_time_across_spring_forward() -> None:
    start = dt.datetime(2026, 3, 6, 12, 0, tzinfo=NEW_YORK)
    times = cron_times("0 9 * * *", "America/New_York", start, 4)
    assert iso(times) == [
        "2026-03-07T09:00:00-05:00",
        "2026-03-08T09:00:00-04:00",
        "2026-03-09T09:00:00-04:00",
        "2026-03-10T09:00:00-04:00",
    ]
    gaps = [(b.timestamp() - a.timestamp()) / 3600 for a, b in itertools.pairwise(times)]
    assert gaps == [23, 24, 24]  # the day the clocks go forward is 23 hours long


def test_cron_daily_in_a_zone_keeps_local_time_across_fall_back() -> None:
    start = dt.datetime(2026, 10, 30, 12, 0, tzinfo=NEW_YORK)
    times = cron_times("0 9 * * *", "America/New_York", start, 3)
    assert iso(times) == ["2026-10-31T09:00:00-04:00", "2026-11-01T09:00:00-05:00", "2026-11-02T09:00:00-05:00"]
    gaps = [(b.timestamp() - a.timestamp()) / 3600 for a, b in itertools.pairwise(times)]
    assert gaps == [25, 24]


def test_cron_time_in_the_skipped_hour_runs_once_right_after_the_change() -> None:
    start = dt.datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)
    assert iso(cron_times("30 2 * * *", "America/New_York", start, 3)) == [
        "2026-03-08T03:00:00-04:00",  # 02:30 does not exist that night
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
    ]


def test_cron_time_in_the_repeated_hour_runs_once() -> None:
    start = dt.datetime(2026, 10, 31, 12, 0, tzinfo=NEW_YORK)
    assert iso(cron_times("30 1 * * *", "America/New_York", start, 3)) == [
        "2026-11-01T01:30:00-04:00",  # 01:30 happens twice; a daily job runs at the first
        "2026-11-02T01:30:00-05:00",
        "2026-11-03T01:30:00-05:00",
    ]


def test_cron_hourly_follows_real_hours_across_both_changes() -> None:
    spring = cron_times("0 * * * *", "America/New_York", dt.datetime(2026, 3, 8, 0, 30, tzinfo=NEW_YORK), 4)
    assert iso(spring) == [
        "2026-03-08T01:00:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-08T04:00:00-04:00",
        "2026-03-08T05:00:00-04:00",
    ]
    fall = cron_times("0 * * * *", "America/New_York", dt.datetime(2026, 11, 1, 0, 30, tzinfo=NEW_YORK), 4)
    assert iso(fall) == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",  # the repeated hour is a real hour: an hourly job runs in it
        "2026-11-01T02:00:00-05:00",
        "2026-11-01T03:00:00-05:00",
    ]
    for times in (spring, fall):
        gaps = {b.timestamp() - a.timestamp() for a, b in itertools.pairwise(times)}
        assert gaps == {3600}


def test_cron_every_15_minutes_in_the_repeated_hour_runs_in_both() -> None:
    start = dt.datetime(2026, 11, 1, 0, 50, tzinfo=NEW_YORK)
    times = cron_times("*/15 1 * * *", "America/New_York", start, 9)
    assert len({t.timestamp() for t in times}) == 9
    assert all(t.hour == 1 for t in times[:8])
    assert times[8].isoformat() == "2026-11-02T01:00:00-05:00"


def test_cron_in_other_zones() -> None:
    start = dt.datetime(2026, 3, 27, 12, 0, tzinfo=dt.UTC)
    times = cron_times("0 9 * * *", "Europe/London", start, 3)
    assert [t.astimezone(dt.UTC).hour for t in times] == [9, 8, 8]  # BST starts 2026-03-29
    tokyo = cron_times("0 0 1 * *", "Asia/Tokyo", dt.datetime(2026, 1, 15, tzinfo=dt.UTC), 2)
    assert iso(tokyo) == ["2026-02-01T00:00:00+09:00", "2026-03-01T00:00:00+09:00"]


@pytest.mark.parametrize("expr", ["", "* * *", "61 * * * *", "* * * * * * *", "0 25 * * *", "not cron"])
def test_invalid_cron_expression_is_a_value_error_naming_it(expr: str) -> None:
    with pytest.raises(ValueError) as info:
        Schedule.cron(expr)
    assert repr(expr) in str(info.value)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "EST5EDT6"])
def test_invalid_cron_zone_is_a_value_error_naming_it(zone: str) -> None:
    with pytest.raises(ValueError) as info:
        Schedule.cron("0 9 * * *", zone)
    assert repr(zone) in str(info.value)


@settings(deadline=None)
@given(
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 1, 1)),
    st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", "UTC"]),
    st.sampled_from(["0 9 * * *", "30 2 * * *", "*/20 * * * *", "0 0 * * 1", "45 1 * * *"]),
)
def test_cron_times_increase_and_match_local_fields_property(start: dt.datetime, zone: str, expr: str) -> None:
    aware = start.replace(tzinfo=dt.UTC)
    times = cron_times(expr, zone, aware, 5)
    stamps = [t.timestamp() for t in times]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    minute_field = expr.split()[0]
    for t in times:
        if minute_field.isdigit():
            # a fixed minute always matches, except a time pushed to the end of a skipped hour
            assert t.minute == int(minute_field) or t.minute == 0


def test_duration_inputs_everywhere_in_schedules() -> None:
    assert delays(Schedule.spaced(Duration.seconds(1)), limit=1) == [1000]
    assert delays(Schedule.spaced(dt.timedelta(seconds=2)), limit=1) == [2000]
    with pytest.raises(ValueError, match="'sometimes'"):
        Schedule.spaced("sometimes")
