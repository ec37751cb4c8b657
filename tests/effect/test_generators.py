"""Generator syntax: Effect.fn / Effect.gen, how failures, defects and bad yields reach the body."""

from __future__ import annotations

from typing import Any, Never

import pytest
from returns.result import Failure

from durable_effect import Die, Effect, Fail, Gen, NonEffectYieldedError, TaggedError

from ._support import failure_cause


class Boom(TaggedError):
    pass


def test_fn_passes_arguments_and_returns_the_body_value() -> None:
    @Effect.fn
    def add(a: int, b: int, *, scale: int = 1) -> Gen[int, Never, Never]:
        x = yield from Effect.succeed(a)
        y = yield from Effect.sync(lambda: b)
        return (x + y) * scale

    assert Effect.run_sync(add(1, 2)) == 3
    assert Effect.run_sync(add(1, 2, scale=10)) == 30
    assert add.__name__ == "add"


def test_each_step_receives_the_value_of_the_yielded_effect() -> None:
    @Effect.fn
    def body() -> Gen[tuple[int, str, list[int]], Never, Never]:
        a = yield from Effect.succeed(1)
        b = yield from Effect.succeed("two").map(str.upper)
        c = yield from Effect.all([Effect.succeed(a), Effect.succeed(2)])
        return a, b, c

    assert Effect.run_sync(body()) == (1, "TWO", [1, 2])


def test_gen_takes_a_zero_argument_generator_function() -> None:
    def body() -> Gen[int, Never, Never]:
        x = yield from Effect.succeed(20)
        return x + 1

    assert Effect.run_sync(Effect.gen(body)) == 21


def test_a_fresh_generator_is_made_on_every_run() -> None:
    runs: list[int] = []

    def body() -> Gen[int, Never, Never]:
        runs.append(len(runs))
        x = yield from Effect.succeed(len(runs))
        return x

    eff = Effect.gen(body)
    assert Effect.run_sync(eff) == 1
    assert Effect.run_sync(eff) == 2
    assert runs == [0, 1]


def test_building_an_effect_does_not_run_the_body() -> None:
    started: list[str] = []

    @Effect.fn
    def body() -> Gen[None, Never, Never]:
        started.append("yes")
        yield from Effect.void

    eff = body()
    assert started == []
    Effect.run_sync(eff)
    Effect.run_sync(eff)
    assert started == ["yes", "yes"]


def test_nested_generators_compose() -> None:
    @Effect.fn
    def inner(n: int) -> Gen[int, Never, Never]:
        v = yield from Effect.succeed(n)
        return v * 2

    @Effect.fn
    def outer() -> Gen[int, Never, Never]:
        a = yield from inner(1)
        b = yield from inner(a)
        return a + b

    assert Effect.run_sync(outer()) == 6


def test_finally_runs_and_the_failure_propagates_when_a_yielded_effect_fails() -> None:
    events: list[str] = []

    @Effect.fn
    def body() -> Gen[int, Boom, Never]:
        try:
            events.append("start")
            yield from Effect.fail(Boom())
            events.append("unreachable")
            return 1
        finally:
            events.append("finally")

    assert Effect.run_sync_exit(body()) == Failure(Fail(Boom()))
    assert events == ["start", "finally"]


def test_failures_are_never_thrown_into_the_generator() -> None:
    caught: list[BaseException] = []

    @Effect.fn
    def body() -> Gen[str, Boom, Never]:
        try:
            yield from Effect.fail(Boom())
        except BaseException as exc:  # would catch GeneratorExit only
            caught.append(exc)
            raise
        return "recovered"

    assert Effect.run_sync_exit(body()) == Failure(Fail(Boom()))
    assert [type(exc) for exc in caught] == [GeneratorExit]


def test_nested_finally_blocks_run_innermost_first_on_failure() -> None:
    events: list[str] = []

    @Effect.fn
    def inner() -> Gen[None, Boom, Never]:
        try:
            yield from Effect.fail(Boom())
        finally:
            events.append("inner")

    @Effect.fn
    def outer() -> Gen[None, Boom, Never]:
        try:
            yield from inner()
        finally:
            events.append("outer")

    assert Effect.run_sync_exit(outer()) == Failure(Fail(Boom()))
    assert events == ["inner", "outer"]


def test_finally_runs_when_a_yielded_effect_dies() -> None:
    events: list[str] = []
    boom = RuntimeError("defect")

    @Effect.fn
    def body() -> Gen[None, Never, Never]:
        try:
            yield from Effect.sync(lambda: (_ for _ in ()).throw(boom))
        finally:
            events.append("finally")

    assert Effect.run_sync_exit(body()) == Failure(Die(boom))
    assert events == ["finally"]


def test_a_python_exception_in_the_body_is_a_defect() -> None:
    @Effect.fn
    def body() -> Gen[int, Never, Never]:
        x = yield from Effect.succeed(1)
        raise ValueError(f"bad {x}")

    cause = failure_cause(Effect.run_sync_exit(body()))
    assert isinstance(cause, Die)
    assert isinstance(cause.defect, ValueError)
    assert str(cause.defect) == "bad 1"
    with pytest.raises(ValueError, match="bad 1"):
        Effect.run_sync(body())


def test_an_exception_before_the_first_yield_is_a_defect() -> None:
    @Effect.fn
    def body() -> Gen[int, Never, Never]:
        raise KeyError("early")
        yield from Effect.void  # type: ignore[unreachable]

    cause = failure_cause(Effect.run_sync_exit(body()))
    assert isinstance(cause, Die) and isinstance(cause.defect, KeyError)


def test_an_attribute_error_in_the_body_is_a_plain_defect() -> None:
    @Effect.fn
    def body() -> Gen[int, Never, Never]:
        x: Any = yield from Effect.succeed(object())
        return int(x.missing)

    cause = failure_cause(Effect.run_sync_exit(body()))
    assert isinstance(cause, Die)
    assert type(cause.defect) is AttributeError


def test_a_body_that_returns_without_yielding_succeeds() -> None:
    @Effect.fn
    def body() -> Gen[int, Never, Never]:
        return 7
        yield from Effect.void  # type: ignore[unreachable]

    assert Effect.run_sync(body()) == 7


@pytest.mark.parametrize("bad", [5, "text", None, [Effect.void]])
def test_yielding_a_non_effect_is_a_clear_defect(bad: object) -> None:
    events: list[str] = []

    def body() -> Any:
        try:
            yield from Effect.succeed(1)
            yield bad
        finally:
            events.append("finally")

    cause = failure_cause(Effect.run_sync_exit(Effect.gen(body)))
    assert isinstance(cause, Die)
    assert isinstance(cause.defect, NonEffectYieldedError)
    message = str(cause.defect)
    assert repr(bad) in message
    assert "yield from" in message
    assert events == ["finally"]


def test_yielding_a_non_effect_first_is_a_clear_defect() -> None:
    def body() -> Any:
        yield 5

    with pytest.raises(NonEffectYieldedError, match="expected an Effect, got 5"):
        Effect.run_sync(Effect.gen(body))


def test_a_generator_that_catches_generator_exit_and_yields_again_is_a_defect() -> None:
    def body() -> Any:
        try:
            yield Effect.fail(Boom())
        except GeneratorExit:
            yield Effect.void

    cause = failure_cause(Effect.run_sync_exit(Effect.gen(body)))
    assert cause.failures() == [Boom()]
    assert any(isinstance(d, RuntimeError) for d in cause.defects())


def test_an_exception_in_a_finally_block_is_added_to_the_cause() -> None:
    def body() -> Any:
        try:
            yield from Effect.fail(Boom())
        finally:
            raise OSError("cleanup failed")

    cause = failure_cause(Effect.run_sync_exit(Effect.gen(body)))
    assert cause.failures() == [Boom()]
    assert [type(d) for d in cause.defects()] == [OSError]


def test_a_bare_yield_is_a_clear_defect_not_a_silent_resume() -> None:
    resumed: list[object] = []

    def body() -> Any:
        value = yield
        resumed.append(value)

    with pytest.raises(NonEffectYieldedError, match="got None"):
        Effect.run_sync(Effect.gen(body))
    assert resumed == []


def _returns_none(*_args: object) -> Any:
    return None


@pytest.mark.parametrize(
    "build",
    [
        lambda: Effect.succeed(1).flat_map(_returns_none),
        lambda: Effect.succeed(1).and_then(_returns_none),
        lambda: Effect.suspend(_returns_none),
        lambda: Effect.fail("e").catch_all(_returns_none),
        lambda: Effect.succeed(1).on_exit(_returns_none),
    ],
    ids=["flat_map", "and_then", "suspend", "catch_all", "on_exit"],
)
def test_a_function_returning_none_instead_of_an_effect_is_a_clear_defect(build: Any) -> None:
    cause = failure_cause(Effect.run_sync_exit(build()))
    assert [type(d) for d in cause.defects()] == [NonEffectYieldedError]
    assert "must return an Effect" in str(cause.defects()[0])


def test_a_function_returning_a_plain_value_instead_of_an_effect_is_a_clear_defect() -> None:
    bad: Any = lambda x: x + 1  # noqa: E731
    cause = failure_cause(Effect.run_sync_exit(Effect.succeed(1).flat_map(bad)))
    assert isinstance(cause, Die) and isinstance(cause.defect, NonEffectYieldedError)
    assert "got 2 (int)" in str(cause.defect)


def test_a_sync_step_raising_stop_iteration_is_a_defect_not_a_return() -> None:
    @Effect.fn
    def body() -> Gen[int, Never, Never]:
        yield from Effect.sync(lambda: 1)
        yield from Effect.sync(lambda: next(iter([])))  # StopIteration from the step, not from the body
        return 2

    exit_ = Effect.run_sync_exit(body())

    assert isinstance(exit_, Failure)
    assert isinstance(exit_.failure().defects()[0], StopIteration)
