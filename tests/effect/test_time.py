"""Time: Duration decoding and arithmetic, Effect.sleep, and TestClock driving sleepers in order."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Never

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durable_effect import Clock, Duration, DurationInput, Effect, Gen, RealClock
from durable_effect.testing import TestClock

from ._support import advance, run_with_clock, success_value

UNITS: dict[str, float] = {
    "milli": 1,
    "millis": 1,
    "millisecond": 1,
    "milliseconds": 1,
    "second": 1_000,
    "seconds": 1_000,
    "minute": 60_000,
    "minutes": 60_000,
    "hour": 3_600_000,
    "hours": 3_600_000,
    "day": 86_400_000,
    "days": 86_400_000,
    "week": 604_800_000,
    "weeks": 604_800_000,
}


# ---------------------------------------------------------------- Duration


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("30 minutes", 1_800_000),
        ("5 seconds", 5_000),
        ("1 hour", 3_600_000),
        ("250 millis", 250),
        ("2 days", 172_800_000),
        ("1 week", 604_800_000),
        ("1 second", 1_000),
        ("1.5 seconds", 1_500),
        ("0 millis", 0),
    ],
)
def test_decode_strings(text: str, millis: float) -> None:
    assert Duration.decode(text).to_millis() == millis


def test_decode_other_inputs() -> None:
    d = Duration.seconds(2)
    assert Duration.decode(d) is d
    assert Duration.decode(dt.timedelta(minutes=1, milliseconds=5)) == Duration.millis(60_005)
    assert Duration.decode(1500) == Duration.millis(1500)
    assert Duration.decode(2.5) == Duration.millis(2.5)


@pytest.mark.parametrize(
    "bad",
    ["5 secnds", "five seconds", "5seconds", "5  seconds", "-5 seconds", "", "seconds", "5 seconds ago", "1e3 millis"],
)
def test_malformed_strings_raise_value_error_naming_the_input(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        Duration.decode(bad)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", [-1, float("nan"), True, None, [1]])
def test_bad_non_string_inputs_raise_value_error(bad: Any) -> None:
    with pytest.raises(ValueError) as info:
        Duration.decode(bad)
    assert repr(bad) in str(info.value)


def test_sleep_with_a_malformed_duration_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="'10 parsecs'"):
        Effect.sleep("10 parsecs")


def test_constructors_and_conversions() -> None:
    assert Duration.millis(5).to_millis() == 5
    assert Duration.seconds(2).to_millis() == 2_000
    assert Duration.minutes(2).to_millis() == 120_000
    assert Duration.hours(1).to_millis() == 3_600_000
    assert Duration.days(1).to_millis() == 86_400_000
    assert Duration.weeks(1).to_millis() == 604_800_000
    assert Duration.minutes(90).to_timedelta() == dt.timedelta(hours=1, minutes=30)
    assert Duration.seconds(1.5).to_seconds() == 1.5


def test_arithmetic_and_comparison() -> None:
    a, b = Duration.seconds(3), Duration.seconds(1)
    assert a + b == Duration.seconds(4)
    assert a - b == Duration.seconds(2)
    assert b - a == Duration.zero  # durations are never negative
    assert a * 2 == Duration.seconds(6)
    assert 2 * a == Duration.seconds(6)
    assert a / 3 == Duration.seconds(1)
    assert b < a and a > b and a >= a and b <= a
    assert sorted([a, b, Duration.zero]) == [Duration.zero, b, a]
    assert Duration.infinity > Duration.weeks(10_000)
    assert Duration.infinity.is_infinite()
    assert len({Duration.seconds(1), Duration.millis(1000)}) == 1


def test_arithmetic_and_comparison_take_any_duration_input() -> None:
    second = Duration.seconds(1)
    assert second + "1 second" == "1 second" + second == Duration.seconds(2)
    assert second - 250 == Duration.millis(750) and second + dt.timedelta(seconds=1) == Duration.seconds(2)
    assert second < "2 seconds" and second > 5 and second <= dt.timedelta(seconds=1) and second >= 1000
    bad: Any = [1]
    with pytest.raises(TypeError):
        second + bad
    with pytest.raises(TypeError):
        assert second < bad
    with pytest.raises(ValueError, match="soon"):
        second + "soon"


def test_negative_or_nan_duration_is_rejected() -> None:
    with pytest.raises(ValueError):
        Duration.millis(-1)
    with pytest.raises(ValueError):
        Duration(math.nan)


def test_str_and_repr_are_readable() -> None:
    assert str(Duration.seconds(90)) == "1 minute 30 seconds"
    assert str(Duration.zero) == "0 millis"
    assert "ms" in repr(Duration.millis(5))


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(sorted(UNITS)))
def test_decode_number_and_unit_round_trip(amount: int, unit: str) -> None:
    assert Duration.decode(f"{amount} {unit}").to_millis() == amount * UNITS[unit]


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=10**15))
def test_decode_millis_round_trip(millis: int) -> None:
    d = Duration.millis(millis)
    assert Duration.decode(d.to_millis()) == d
    assert Duration.decode(d) == d


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=10**12))
def test_decode_timedelta_round_trip(micros: int) -> None:
    d = Duration.millis(micros / 1000)
    assert Duration.decode(d.to_timedelta()) == d
    assert d.to_timedelta() == dt.timedelta(microseconds=micros)


@settings(deadline=None)
@given(st.text(max_size=20))
def test_decode_any_text_either_works_or_names_the_input(text: str) -> None:
    try:
        d = Duration.decode(text)
    except ValueError as exc:
        assert repr(text) in str(exc)
    else:
        assert d.to_millis() >= 0


@settings(deadline=None)
@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_arithmetic_matches_millis(a: int, b: int) -> None:
    da, db = Duration.millis(a), Duration.millis(b)
    assert (da + db).to_millis() == a + b
    assert (da - db).to_millis() == max(0, a - b)
    assert (da < db) == (a < b)
    assert (da == db) == (a == b)


def test_duration_input_alias_accepts_every_form() -> None:
    inputs: list[DurationInput] = [Duration.zero, dt.timedelta(seconds=1), 5, 2.5, "1 hour"]
    assert [Duration.decode(i).to_millis() for i in inputs] == [0, 1_000, 5, 2.5, 3_600_000]


# ---------------------------------------------------------------- sleep and clocks


def test_sleep_zero_runs_without_an_event_loop() -> None:
    assert Effect.run_sync(Effect.sleep(0).as_("done")) == "done"


@pytest.mark.anyio
async def test_sleep_waits_on_the_test_clock() -> None:
    clock = TestClock()
    eff = Effect.sleep("5 minutes").flat_map(lambda _: Clock.current_time_millis())
    woke: list[int] = []

    async def runner() -> None:
        woke.append(await Effect.run_promise(eff.provide_service(Clock, clock)))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(runner)
            await clock.adjust("4 minutes")
            assert woke == []
            assert clock.pending_sleepers == 1
            assert clock.next_wake_time() == 300_000
            await clock.adjust("1 minute")
            assert woke == [300_000]
    assert clock.current_time_millis() == 300_000


@pytest.mark.anyio
async def test_test_clock_wakes_sleepers_in_due_order_each_at_its_own_time() -> None:
    clock = TestClock()
    seen: list[tuple[str, int]] = []

    def sleeper(name: str, ms: int) -> Effect[None, Never, Never]:
        return Effect.sleep(ms).flat_map(
            lambda _: Clock.current_time_millis().map(lambda now: seen.append((name, now)))
        )

    eff = Effect.all([sleeper("c", 300), sleeper("a", 100), sleeper("b", 200), sleeper("a2", 150)], concurrency=4)
    await run_with_clock(eff, clock, advance("1 second"))
    assert seen == [("a", 100), ("a2", 150), ("b", 200), ("c", 300)]
    assert clock.current_time_millis() == 1000


@pytest.mark.anyio
async def test_a_woken_sleeper_runs_until_it_blocks_before_the_next_wakes() -> None:
    clock = TestClock()
    seen: list[tuple[str, int]] = []

    @Effect.fn
    def ticker(name: str, every: int, times: int) -> Gen[None, Never, Never]:
        for _ in range(times):
            yield from Effect.sleep(every)
            now = yield from Clock.current_time_millis()
            seen.append((name, now))

    eff = Effect.all([ticker("fast", 100, 5), ticker("slow", 250, 2)], concurrency=2)
    await run_with_clock(eff, clock, advance(10_000))
    assert seen == [
        ("fast", 100),
        ("fast", 200),
        ("slow", 250),
        ("fast", 300),
        ("fast", 400),
        ("slow", 500),  # same due time: the sleeper that started waiting first wakes first
        ("fast", 500),
    ]


@pytest.mark.anyio
async def test_set_time_moves_to_an_absolute_time_and_never_backwards() -> None:
    clock = TestClock(start=1_000)
    eff = Effect.sleep(500).flat_map(lambda _: Clock.current_time_millis())

    async def drive(c: TestClock) -> None:
        await c.set_time(1_499)
        assert c.pending_sleepers == 1
        await c.set_time(2_000)
        await c.set_time(10)  # earlier: ignored
        assert c.current_time_millis() == 2_000

    assert success_value(await run_with_clock(eff, clock, drive)) == 1_500


@pytest.mark.anyio
async def test_adjust_accepts_every_duration_input() -> None:
    clock = TestClock()
    await clock.adjust(Duration.seconds(1))
    await clock.adjust(dt.timedelta(seconds=1))
    await clock.adjust("1 second")
    await clock.adjust(1000)
    assert clock.current_time_millis() == 4_000


@pytest.mark.anyio
async def test_real_clock_is_the_default() -> None:
    before = RealClock().current_time_millis()
    now = await Effect.run_promise(Clock.current_time_millis())
    assert before <= now <= RealClock().current_time_millis()
    assert abs(now - dt.datetime.now(dt.UTC).timestamp() * 1000) < 60_000
    await Effect.run_promise(Effect.sleep(1))  # one real millisecond


@pytest.mark.anyio
async def test_an_interrupted_sleep_leaves_the_test_clock() -> None:
    clock = TestClock()
    eff = Effect.sleep("1 hour").timeout("10 seconds").provide_service(Clock, clock)
    async with anyio.create_task_group() as group:
        group.start_soon(Effect.run_promise_exit, eff)
        await anyio.wait_all_tasks_blocked()
        assert clock.pending_sleepers == 2  # the sleep and the timeout's timer
        await clock.adjust("10 seconds")
    assert clock.pending_sleepers == 0 and clock.next_wake_time() is None
