"""Stack safety: a million steps of each shape run on a shallow Python stack and in constant extra memory."""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Never

import pytest

from durable_effect import Effect, Gen

MILLION = 1_000_000
IntEffect = Effect[int, Never, Never]


@contextmanager
def shallow_python_stack(headroom: int = 120) -> Iterator[None]:
    """Only ``headroom`` more Python frames are allowed: the interpreter must not recurse per step."""
    depth = 0
    frame = sys._getframe()
    while frame.f_back is not None:
        frame = frame.f_back
        depth += 1
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + headroom)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def generator_loop(n: int) -> IntEffect:
    def body() -> Gen[int, Never, Never]:
        total = 0
        for _ in range(n):
            total += yield from Effect.succeed(1)
        return total

    return Effect.gen(body)


def generator_loop_of_composed_steps(n: int) -> IntEffect:
    """Each step is a map over a sync effect: it leaves the interpreter's fast path for generators."""

    def body() -> Gen[int, Never, Never]:
        total = 0
        for _ in range(n):
            total += yield from Effect.sync(lambda: 0).map(lambda x: x + 1)
        return total

    return Effect.gen(body)


def generator_calling_generators(n: int) -> IntEffect:
    @Effect.fn
    def one() -> Gen[int, Never, Never]:
        return (yield from Effect.succeed(1))

    def body() -> Gen[int, Never, Never]:
        total = 0
        for _ in range(n):
            total += yield from one()
        return total

    return Effect.gen(body)


def right_nested(n: int) -> IntEffect:
    """``succeed(0).flat_map(lambda x: succeed(x + 1).flat_map(...))``, built lazily as it runs."""

    def go(i: int) -> IntEffect:
        return Effect.succeed(i) if i >= n else Effect.succeed(i + 1).flat_map(go)

    return Effect.succeed(0).flat_map(go)


def left_nested(n: int) -> IntEffect:
    """``succeed(0).flat_map(inc).flat_map(inc)...``: the whole chain is built before running."""

    def inc(x: int) -> IntEffect:
        return Effect.succeed(x + 1)

    eff: IntEffect = Effect.succeed(0)
    for _ in range(n):
        eff = eff.flat_map(inc)
    return eff


def left_nested_maps(n: int) -> IntEffect:
    eff: IntEffect = Effect.succeed(0)
    for _ in range(n):
        eff = eff.map(lambda x: x + 1)
    return eff


def recursive_generator(depth: int) -> IntEffect:
    """A generator body that recurses through ``yield from`` ``depth`` levels deep."""

    @Effect.fn
    def down(n: int) -> Gen[int, Never, Never]:
        if n == 0:
            return 0
        below = yield from down(n - 1)
        return below + 1

    return down(depth)


SHAPES: dict[str, Callable[[int], IntEffect]] = {
    "yield from": generator_loop,
    "yield from composed steps": generator_loop_of_composed_steps,
    "right-nested flat_map": right_nested,
    "left-nested flat_map": left_nested,
    "left-nested map": left_nested_maps,
    "generator calling generators": generator_calling_generators,
}
MILLION_STEP_SHAPES = ["yield from", "right-nested flat_map", "left-nested flat_map"]


@pytest.mark.parametrize("shape", MILLION_STEP_SHAPES)
def test_a_million_steps_run_without_recursion(shape: str) -> None:
    eff = SHAPES[shape](MILLION)
    started = time.process_time()
    with shallow_python_stack():
        assert Effect.run_sync(eff) == MILLION
    assert time.process_time() - started < 10  # CPU time; about a microsecond a step, generous for slow machines


@pytest.mark.parametrize("shape", [shape for shape in SHAPES if shape not in MILLION_STEP_SHAPES])
def test_other_step_shapes_run_without_recursion(shape: str) -> None:
    with shallow_python_stack():
        assert Effect.run_sync(SHAPES[shape](300_000)) == 300_000


def test_recursion_through_yield_from_is_not_python_recursion() -> None:
    with shallow_python_stack():
        assert Effect.run_sync(recursive_generator(100_000)) == 100_000


def test_failure_unwinds_a_deep_chain_without_recursion() -> None:
    eff: Effect[int, str, Never] = Effect.fail("deep")
    for _ in range(300_000):
        eff = eff.flat_map(lambda x: Effect.succeed(x + 1))
    recovered = eff.catch_all(lambda e: Effect.succeed(len(e)))
    with shallow_python_stack():
        assert Effect.run_sync(recovered) == 4


@pytest.mark.anyio
async def test_run_promise_is_stack_safe_too() -> None:
    assert await Effect.run_promise(generator_loop(300_000)) == 300_000
    assert await Effect.run_promise(left_nested(300_000)) == 300_000
    assert await Effect.run_promise(right_nested(300_000)) == 300_000


# ---------------------------------------------------------------- constant memory


def extra_peak_bytes(build: Callable[[int], IntEffect], steps: int, *, prebuilt: bool) -> tuple[int, int]:
    """Traced memory the run needs beyond what exists when it starts: ``(extra peak, size of a prebuilt effect)``.

    A left-nested chain is a data structure of ``steps`` nodes; it is built before measuring (``prebuilt``) and
    its own size is returned so the interpreter's extra memory can be compared with it.
    """
    gc.collect()
    tracemalloc.start()
    try:
        before_build = tracemalloc.get_traced_memory()[0]
        eff = build(steps)
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        assert Effect.run_sync(eff) == steps
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - baseline, (baseline - before_build) if prebuilt else 0


@pytest.mark.parametrize("shape", ["yield from", "yield from composed steps", "right-nested flat_map"])
def test_sequential_steps_run_in_constant_memory(shape: str) -> None:
    small, _ = extra_peak_bytes(SHAPES[shape], 10_000, prebuilt=False)
    large, _ = extra_peak_bytes(SHAPES[shape], 100_000, prebuilt=False)
    # Ten times the steps, the same few kilobytes: nothing is kept per step.
    assert large < 16_384, large
    assert large <= small * 1.5 + 1_024, (small, large)


@pytest.mark.parametrize("shape", ["left-nested flat_map", "left-nested map"])
def test_left_nested_chain_needs_only_a_pointer_per_node_beyond_itself(shape: str) -> None:
    """Running a left-nested chain must unwind it outermost-first, so the interpreter keeps one list slot
    (8 bytes on 64-bit CPython) per pending node; nothing else grows. That is a small fraction of the chain."""
    steps = 100_000
    extra, chain = extra_peak_bytes(SHAPES[shape], steps, prebuilt=True)
    # A list of pointers: allow CPython's over-allocation and a resize briefly holding old and new buffers.
    assert extra <= steps * 8 * 2.25 + 16_384, extra
    assert extra < chain / 2, (extra, chain)
