"""Laws: returns' own law checks on Effect, and monad / functor / catch_all laws checked with hypothesis.

Two effects are equal for these checks when running them gives equal exits (``Effect.run_sync_exit``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Never

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.contrib.hypothesis.laws import check_all_laws

from durable_effect import Effect, Gen

IntEffect = Effect[int, int, Never]
Kleisli = Callable[[int], IntEffect]


def same(a: Effect[Any, Any, Never], b: Effect[Any, Any, Never]) -> bool:
    """Effects are compared by what they do: run both and compare the exits."""
    return Effect.run_sync_exit(a) == Effect.run_sync_exit(b)


@pytest.fixture(autouse=True, scope="module")
def effects_compare_by_running() -> Iterator[None]:
    """returns' ``assert_equal`` compares with ``==``: for these checks only, ``==`` on effects runs them."""

    def eq(self: Effect[Any, Any, Never], other: object) -> bool:
        return isinstance(other, Effect) and same(self, other)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Effect, "__eq__", eq)
        yield


# ---------------------------------------------------------------- strategies

values = st.integers(min_value=-1_000, max_value=1_000)


def _base(value: int, kind: int) -> IntEffect:
    if kind == 0:
        return Effect.succeed(value)
    if kind == 1:
        return Effect.fail(value)
    if kind == 2:
        return Effect.sync(lambda: value)
    if kind == 3:
        return Effect.die(ValueError(value))
    return Effect.suspend(lambda: Effect.succeed(value))


@Effect.fn
def _via_generator(x: int, c: int) -> Gen[int, int, Never]:
    y = yield from Effect.succeed(x)
    if y % 3 == 0:
        yield from Effect.fail(y + c)
    z = yield from Effect.sync(lambda: y * 2)
    return z + c


def _kleisli(kind: int, c: int) -> Kleisli:
    if kind == 0:
        return lambda x: Effect.succeed(x + c)
    if kind == 1:
        return lambda x: Effect.fail(x - c)
    if kind == 2:
        return lambda x: Effect.succeed(x * c) if x % 2 else Effect.fail(c)
    if kind == 3:
        return lambda x: _via_generator(x, c)
    return lambda x: Effect.die(ArithmeticError(x + c)) if x > c else Effect.succeed(c)


base_effects: st.SearchStrategy[IntEffect] = st.builds(_base, values, st.integers(0, 4))
kleislis: st.SearchStrategy[Kleisli] = st.builds(_kleisli, st.integers(0, 4), values)
plain_functions: st.SearchStrategy[Callable[[int], int]] = st.sampled_from(
    [lambda x: x + 1, lambda x: x * 2, lambda x: -x, lambda x: x // 3, lambda x: x % 7]
)


def _extend(children: st.SearchStrategy[IntEffect]) -> st.SearchStrategy[IntEffect]:
    def flat_mapped(args: tuple[IntEffect, Kleisli]) -> IntEffect:
        return args[0].flat_map(args[1])

    def caught(args: tuple[IntEffect, Kleisli]) -> IntEffect:
        return args[0].catch_all(args[1])

    def mapped(args: tuple[IntEffect, Callable[[int], int]]) -> IntEffect:
        return args[0].map(args[1])

    def zipped(args: tuple[IntEffect, IntEffect]) -> IntEffect:
        return args[0].zip(args[1]).map(lambda pair: pair[0] - pair[1])

    def in_generator(inner: IntEffect) -> IntEffect:
        def body() -> Gen[int, int, Never]:
            value = yield from inner
            return value + 1

        return Effect.gen(body)

    return st.one_of(
        st.tuples(children, kleislis).map(flat_mapped),
        st.tuples(children, kleislis).map(caught),
        st.tuples(children, plain_functions).map(mapped),
        st.tuples(children, children).map(zipped),
        children.map(in_generator),
    )


effects: st.SearchStrategy[IntEffect] = st.recursive(base_effects, _extend, max_leaves=8)


# ---------------------------------------------------------------- returns' own law checks


def _container_strategy(_type: type) -> st.SearchStrategy[Effect[Any, Any, Never]]:
    anything = st.integers() | st.text(max_size=5) | st.none() | st.booleans()
    return st.one_of(
        anything.map(Effect.succeed),
        anything.map(Effect.fail),
        anything.map(lambda v: Effect.sync(lambda: v)),
        anything.map(lambda v: Effect.succeed(v).flat_map(Effect.succeed)),
        anything.map(lambda v: Effect.fail(v).map(lambda x: (x, x))),
    )


check_all_laws(Effect, container_strategy=_container_strategy, settings_kwargs={"deadline": None})


def test_returns_generated_the_law_checks() -> None:
    names = [name for name in globals() if name.startswith("test_effect_")]
    assert "test_effect_mappablen_identity_law" in names
    assert "test_effect_mappablen_associative_law" in names


# ---------------------------------------------------------------- monad laws for flat_map


@settings(deadline=None)
@given(values, kleislis)
def test_left_identity(a: int, f: Kleisli) -> None:
    assert same(Effect.succeed(a).flat_map(f), f(a))


@settings(deadline=None)
@given(effects)
def test_right_identity(m: IntEffect) -> None:
    assert same(m.flat_map(Effect.succeed), m)


@settings(deadline=None)
@given(effects, kleislis, kleislis)
def test_associativity(m: IntEffect, f: Kleisli, g: Kleisli) -> None:
    assert same(m.flat_map(f).flat_map(g), m.flat_map(lambda x: f(x).flat_map(g)))


@settings(deadline=None)
@given(effects, kleislis)
def test_bind_and_and_then_agree_with_flat_map(m: IntEffect, f: Kleisli) -> None:
    assert same(m.bind(f), m.flat_map(f))
    assert same(m.and_then(f), m.flat_map(f))


@settings(deadline=None)
@given(effects, kleislis)
def test_generator_syntax_agrees_with_flat_map(m: IntEffect, f: Kleisli) -> None:
    def body() -> Gen[int, int, Never]:
        x = yield from m
        return (yield from f(x))

    assert same(Effect.gen(body), m.flat_map(f))


# ---------------------------------------------------------------- functor laws for map


@settings(deadline=None)
@given(effects)
def test_map_identity(m: IntEffect) -> None:
    assert same(m.map(lambda x: x), m)


@settings(deadline=None)
@given(effects, plain_functions, plain_functions)
def test_map_composition(m: IntEffect, f: Callable[[int], int], g: Callable[[int], int]) -> None:
    assert same(m.map(f).map(g), m.map(lambda x: g(f(x))))


@settings(deadline=None)
@given(effects, plain_functions)
def test_map_is_flat_map_of_succeed(m: IntEffect, f: Callable[[int], int]) -> None:
    assert same(m.map(f), m.flat_map(lambda x: Effect.succeed(f(x))))


# ---------------------------------------------------------------- catch_all laws (the error channel's monad)


@settings(deadline=None)
@given(values, kleislis)
def test_catch_all_left_identity(e: int, h: Kleisli) -> None:
    assert same(Effect.fail(e).catch_all(h), h(e))


@settings(deadline=None)
@given(effects)
def test_catch_all_right_identity(m: IntEffect) -> None:
    assert same(m.catch_all(Effect.fail), m)


@settings(deadline=None)
@given(effects, kleislis, kleislis)
def test_catch_all_associativity(m: IntEffect, h: Kleisli, k: Kleisli) -> None:
    assert same(m.catch_all(h).catch_all(k), m.catch_all(lambda e: h(e).catch_all(k)))


@settings(deadline=None)
@given(values, kleislis)
def test_catch_all_leaves_success_alone(a: int, h: Kleisli) -> None:
    assert same(Effect.succeed(a).catch_all(h), Effect.succeed(a))


@settings(deadline=None)
@given(values, kleislis)
def test_flat_map_leaves_failure_alone(e: int, f: Kleisli) -> None:
    failing: IntEffect = Effect.fail(e)
    assert same(failing.flat_map(f), failing)


@settings(deadline=None)
@given(effects)
def test_lash_is_catch_all(m: IntEffect) -> None:
    assert same(m.lash(lambda e: Effect.succeed(e * 2)), m.catch_all(lambda e: Effect.succeed(e * 2)))


@settings(deadline=None)
@given(effects, plain_functions)
def test_map_error_is_catch_all_of_fail(m: IntEffect, f: Callable[[int], int]) -> None:
    assert same(m.map_error(f), m.catch_all(lambda e: Effect.fail(f(e))))


# ---------------------------------------------------------------- folding into values


@settings(deadline=None)
@given(effects)
def test_exit_then_back_is_the_same_effect(m: IntEffect) -> None:
    exit_ = Effect.run_sync(m.exit())
    assert exit_ == Effect.run_sync_exit(m)


@settings(deadline=None)
@given(effects)
def test_either_round_trip_keeps_expected_outcomes(m: IntEffect) -> None:
    exit_ = Effect.run_sync_exit(m.either())
    if exit_.map(lambda _: True).value_or(False):
        assert same(m.either().flat_map(Effect.from_result), m)
    else:  # a defect goes through either() untouched
        assert exit_ == Effect.run_sync_exit(m)


@settings(deadline=None)
@given(effects)
def test_running_twice_gives_the_same_exit(m: IntEffect) -> None:
    assert Effect.run_sync_exit(m) == Effect.run_sync_exit(m)
