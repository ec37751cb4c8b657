"""all / for_each / race / timeout, with sleeps driven by TestClock (no real waiting)."""

from __future__ import annotations

from typing import Any, Never

import anyio
import pytest
from returns.result import Failure

from durable_effect import Clock, Duration, Effect, Fail, Gen, Parallel, TimeoutException
from durable_effect.testing import TestClock

from ._support import advance, failure_cause, run_with_clock, success_value


def sleep_then(ms: int, value: Any, log: list[str] | None = None) -> Effect[Any, Never, Never]:
    """Sleep ``ms`` on the clock, then succeed with ``value``; log start, end and interruption."""

    @Effect.fn
    def body() -> Gen[Any, Never, Never]:
        if log is not None:
            log.append(f"start {value}")
        try:
            yield from Effect.sleep(ms)
        except GeneratorExit:
            if log is not None:
                log.append(f"interrupted {value}")
            raise
        if log is not None:
            log.append(f"end {value}")
        return value

    return body()


def sleep_then_fail(ms: int, error: Any) -> Effect[Never, Any, Never]:
    return Effect.sleep(ms).flat_map(lambda _: Effect.fail(error))


# ---------------------------------------------------------------- all / for_each


def test_all_sequential_keeps_the_shape() -> None:
    assert Effect.run_sync(Effect.all([Effect.succeed(1), Effect.succeed(2)])) == [1, 2]
    assert Effect.run_sync(Effect.all((Effect.succeed(1), Effect.succeed("a")))) == (1, "a")
    assert Effect.run_sync(Effect.all({"x": Effect.succeed(1), "y": Effect.succeed(2)})) == {"x": 1, "y": 2}
    assert Effect.run_sync(Effect.all([])) == []
    assert Effect.run_sync(Effect.all(())) == ()
    assert Effect.run_sync(Effect.all({})) == {}


def test_all_sequential_runs_in_order_and_stops_at_the_first_failure() -> None:
    ran: list[int] = []

    def step(i: int) -> Effect[int, str, Never]:
        return Effect.sync(lambda: ran.append(i)).flat_map(
            lambda _: Effect.fail(f"fail {i}") if i == 2 else Effect.succeed(i)
        )

    assert Effect.run_sync_exit(Effect.all([step(i) for i in range(5)])) == Failure(Fail("fail 2"))
    assert ran == [0, 1, 2]


def test_all_rejects_non_effects_and_bad_concurrency() -> None:
    bad: Any = [Effect.void, 3]
    with pytest.raises(TypeError, match="expects effects"):
        Effect.all(bad)
    with pytest.raises(ValueError, match="concurrency"):
        Effect.all([Effect.void], concurrency=0)
    not_iterable: Any = 5
    with pytest.raises(TypeError):
        Effect.all(not_iterable)


def test_for_each_sequential() -> None:
    assert Effect.run_sync(Effect.for_each([1, 2, 3], lambda x: Effect.succeed(x * 2))) == [2, 4, 6]


@pytest.mark.anyio
async def test_all_concurrent_runs_side_by_side_and_keeps_order() -> None:
    clock = TestClock()
    eff = Effect.all(
        [sleep_then(300, "slow"), sleep_then(100, "fast"), sleep_then(200, "mid")], concurrency="unbounded"
    ).zip(Clock.current_time_millis())
    exit_ = await run_with_clock(eff, clock, advance("1 second"))
    assert success_value(exit_) == (["slow", "fast", "mid"], 300)


@pytest.mark.anyio
async def test_all_concurrent_dict_and_tuple_shapes() -> None:
    clock = TestClock()
    eff = Effect.all({"a": sleep_then(20, 1), "b": sleep_then(10, 2)}, concurrency=2).zip(
        Effect.all((sleep_then(5, "x"), sleep_then(5, "y")), concurrency="unbounded")
    )
    assert success_value(await run_with_clock(eff, clock, advance(100))) == ({"a": 1, "b": 2}, ("x", "y"))


@pytest.mark.anyio
async def test_all_respects_the_concurrency_limit() -> None:
    clock = TestClock()
    active = [0]
    peak = [0]

    def tracked(i: int) -> Effect[int, Never, Never]:
        def enter() -> None:
            active[0] += 1
            peak[0] = max(peak[0], active[0])

        def leave() -> None:
            active[0] -= 1

        return Effect.sync(enter).flat_map(lambda _: Effect.sleep(100)).flat_map(lambda _: Effect.sync(leave)).as_(i)

    eff = Effect.for_each(range(7), tracked, concurrency=3).zip(Clock.current_time_millis())
    values, elapsed = success_value(await run_with_clock(eff, clock, advance("1 second")))
    assert values == list(range(7))
    assert peak[0] == 3
    assert elapsed == 300  # ceil(7 / 3) rounds of 100 ms


@pytest.mark.anyio
async def test_all_concurrent_first_failure_interrupts_the_rest() -> None:
    clock = TestClock()
    log: list[str] = []
    eff = Effect.all([sleep_then(500, "a", log), sleep_then_fail(100, "boom"), sleep_then(50, "c", log)], concurrency=3)
    exit_ = await run_with_clock(eff, clock, advance("1 second"))
    assert exit_ == Failure(Fail("boom"))
    assert sorted(log) == ["end c", "interrupted a", "start a", "start c"]


@pytest.mark.anyio
async def test_all_concurrent_defect() -> None:
    clock = TestClock()
    boom = RuntimeError("bug")
    eff = Effect.all([sleep_then(100, 1), Effect.die(boom)], concurrency=2)
    cause = failure_cause(await run_with_clock(eff, clock, advance(1000)))
    assert cause.defects() == [boom]


# ---------------------------------------------------------------- race


@pytest.mark.anyio
async def test_race_first_success_wins_and_the_loser_is_interrupted() -> None:
    clock = TestClock()
    log: list[str] = []
    eff = Effect.race(sleep_then(200, "slow", log), sleep_then(100, "fast", log)).zip(Clock.current_time_millis())
    assert success_value(await run_with_clock(eff, clock, advance(1000))) == ("fast", 100)
    assert sorted(log) == ["end fast", "interrupted slow", "start fast", "start slow"]


@pytest.mark.anyio
async def test_race_a_failure_does_not_win() -> None:
    clock = TestClock()
    eff = Effect.race(sleep_then_fail(50, "early failure"), sleep_then(100, "late success"))
    assert success_value(await run_with_clock(eff, clock, advance(1000))) == "late success"


@pytest.mark.anyio
async def test_race_both_fail_and_the_cause_holds_both() -> None:
    clock = TestClock()
    eff = Effect.race(sleep_then_fail(100, "first"), sleep_then_fail(50, "second"))
    cause = failure_cause(await run_with_clock(eff, clock, advance(1000)))
    assert isinstance(cause, Parallel)
    assert sorted(cause.failures()) == ["first", "second"]


@pytest.mark.anyio
async def test_race_loser_finalizers_run_before_race_returns() -> None:
    clock = TestClock()
    order: list[str] = []
    loser = Effect.never.ensuring(Effect.sync(lambda: order.append("loser released")))
    winner = Effect.sleep(10).as_("won")
    eff = Effect.race(loser, winner).tap(lambda _: Effect.sync(lambda: order.append("race returned")))
    assert success_value(await run_with_clock(eff, clock, advance(10))) == "won"
    assert order == ["loser released", "race returned"]


@pytest.mark.anyio
async def test_interrupting_a_race_interrupts_both_sides() -> None:
    order: list[str] = []
    eff = Effect.race(
        Effect.never.ensuring(Effect.sync(lambda: order.append("a"))),
        Effect.never.ensuring(Effect.sync(lambda: order.append("b"))),
    )
    async with anyio.create_task_group() as group:
        group.start_soon(Effect.run_promise, eff)
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert sorted(order) == ["a", "b"]


# ---------------------------------------------------------------- timeout


@pytest.mark.anyio
async def test_timeout_fails_with_timeout_exception_and_interrupts_the_effect() -> None:
    clock = TestClock()
    log: list[str] = []
    eff = sleep_then(10_000, "slow", log).timeout("1 second").exit().zip(Clock.current_time_millis())
    exit_, now = success_value(await run_with_clock(eff, clock, advance("1 minute")))
    assert exit_ == Failure(Fail(TimeoutException(duration_ms=1000)))
    assert now == 1000
    assert log == ["start slow", "interrupted slow"]


@pytest.mark.anyio
async def test_timeout_returns_the_value_when_fast_enough() -> None:
    clock = TestClock()
    eff = sleep_then(999, "quick").timeout(Duration.seconds(1)).zip(Clock.current_time_millis())
    assert success_value(await run_with_clock(eff, clock, advance("1 minute"))) == ("quick", 999)


@pytest.mark.anyio
async def test_timeout_keeps_the_effects_own_failure() -> None:
    clock = TestClock()
    eff = sleep_then_fail(10, "own").timeout("1 second")
    assert await run_with_clock(eff, clock, advance("1 minute")) == Failure(Fail("own"))


@pytest.mark.anyio
async def test_timeout_can_be_caught_by_tag() -> None:
    clock = TestClock()
    eff = Effect.never.timeout("5 seconds").catch_tag(TimeoutException, lambda e: Effect.succeed(e.duration_ms))
    assert success_value(await run_with_clock(eff, clock, advance("5 seconds"))) == 5000


def test_timeout_with_a_bad_duration_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="'soon'"):
        Effect.void.timeout("soon")


@pytest.mark.anyio
async def test_timeout_interrupted_by_the_caller() -> None:
    order: list[str] = []
    eff = Effect.never.ensuring(Effect.sync(lambda: order.append("released"))).timeout("1 hour")
    clock = TestClock()
    async with anyio.create_task_group() as group:
        group.start_soon(Effect.run_promise, eff.provide_service(Clock, clock))
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert order == ["released"]


@pytest.mark.anyio
async def test_all_with_a_limit_starts_nothing_after_a_failure_and_starts_in_order() -> None:
    started: list[str] = []

    def job(name: str, then: Effect[Any, Any, Never]) -> Effect[Any, Any, Never]:
        return Effect.sync(lambda: started.append(name)).and_then(then)

    effects = [
        job("a", Effect.sleep(0).and_then(Effect.fail("first failure"))),
        job("b", Effect.never),
        job("c", Effect.void),  # queued behind the limit when "a" fails
        job("d", Effect.void),
    ]
    exit_ = await Effect.run_promise_exit(Effect.all(effects, concurrency=2))
    assert exit_ == Failure(Fail("first failure"))
    assert started == ["a", "b"]
