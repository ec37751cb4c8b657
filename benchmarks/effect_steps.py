"""Per-step cost of the effect interpreter against a bare generator trampoline and ``returns`` binds.

Run it with::

    .venv/bin/python benchmarks/effect_steps.py            # default: 200,000 steps, best of 9
    .venv/bin/python benchmarks/effect_steps.py --steps 1000000 --repeats 9 --check

Each case runs ``steps`` sequential steps; the figure kept is the fastest of ``repeats`` runs (machines are
noisy: the minimum is the run least disturbed), divided by ``steps``. Runs are timed in CPU time of this
process (``time.process_time_ns``), so time spent waiting while other processes hold the cores does not count;
the cases take turns, so a slow spell does not land on one case only. The garbage collector is paused while a
run is timed, as ``timeit`` does. A step includes building the effect it runs, in every case.

Cases:

- ``bare trampoline``: the reference. A minimal interpreter, ``while True: eff = gen.send(value);
  value = run(eff)``, over a generator body with the same shape as an effect body
  (``total += yield from Step(1)``, where ``Step.__iter__`` is ``return (yield self)``).
- ``bare trampoline, plain yield``: the same loop with ``total += yield Step(1)`` (no ``yield from``
  delegation): the floor of any generator-based design, shown for information.
- ``Effect: yield from``: ``total += yield from Effect.succeed(1)`` in an ``Effect.gen`` body, ``run_sync``.
- ``Effect: right-nested flat_map``: ``succeed(i).flat_map(lambda i: succeed(i + 1).flat_map(...))``.
- ``Effect: left-nested flat_map``: ``succeed(0).flat_map(inc).flat_map(inc)...`` built, then run.
- ``returns: Result.bind``: ``result = result.bind(inc)`` (eager: no interpreter at all).
- ``returns: FutureResult.bind``: chains of 100 ``bind``s awaited under asyncio (a longer chain of
  nested awaits would overflow the Python stack), repeated to make up ``steps``.

The target (the performance contract in EFFECT_API.md) is at most 2x the bare trampoline per step.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Never

from returns.future import FutureResult
from returns.result import Result, Success
from returns.unsafe import unsafe_perform_io

from durable_effect import Effect, Gen

TARGET = 2.0
FUTURE_CHAIN = 100


# ---------------------------------------------------------------- the reference: a bare trampoline


class Step:
    """The smallest possible effect: a value, delivered by the trampoline."""

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    def __iter__(self) -> Generator[Step, Any, Any]:
        return (yield self)


def run_step(step: Step) -> int:
    return step.value


def trampoline(body: Callable[[], Generator[Step, Any, int]]) -> int:
    gen = body()
    value: Any = None
    try:
        while True:
            eff = gen.send(value)
            value = run_step(eff)
    except StopIteration as stop:
        result: int = stop.value
        return result


def bare_yield_from(steps: int) -> int:
    def body() -> Generator[Step, Any, int]:
        total = 0
        for _ in range(steps):
            total += yield from Step(1)
        return total

    return trampoline(body)


def bare_plain_yield(steps: int) -> int:
    def body() -> Generator[Step, Any, int]:
        total = 0
        for _ in range(steps):
            total += yield Step(1)
        return total

    return trampoline(body)


# ---------------------------------------------------------------- the effect interpreter


def effect_yield_from(steps: int) -> int:
    def body() -> Gen[int, Never, Never]:
        total = 0
        for _ in range(steps):
            total += yield from Effect.succeed(1)
        return total

    return Effect.run_sync(Effect.gen(body))


def effect_right_nested(steps: int) -> int:
    def go(i: int) -> Effect[int, Never, Never]:
        return Effect.succeed(i) if i >= steps else Effect.succeed(i + 1).flat_map(go)

    return Effect.run_sync(Effect.succeed(0).flat_map(go))


def effect_left_nested(steps: int) -> int:
    def inc(x: int) -> Effect[int, Never, Never]:
        return Effect.succeed(x + 1)

    eff: Effect[int, Never, Never] = Effect.succeed(0)
    for _ in range(steps):
        eff = eff.flat_map(inc)
    return Effect.run_sync(eff)


# ---------------------------------------------------------------- returns


def result_bind(steps: int) -> int:
    def inc(x: int) -> Result[int, Never]:
        return Success(x + 1)

    result: Result[int, Never] = Success(0)
    for _ in range(steps):
        result = result.bind(inc)
    value: int = result.unwrap()
    return value


def future_result_bind(steps: int) -> int:
    def inc(x: int) -> FutureResult[int, Never]:
        return FutureResult.from_value(x + 1)

    async def run() -> int:
        total = 0
        for _ in range(steps // FUTURE_CHAIN):
            future: FutureResult[int, Never] = FutureResult.from_value(0)
            for _ in range(FUTURE_CHAIN):
                future = future.bind(inc)
            io_result = await future
            total += unsafe_perform_io(io_result.value_or(0))
        return total

    return asyncio.run(run())


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[int], int]
    expected: Callable[[int], int] = lambda steps: steps


CASES = [
    Case("bare trampoline (`yield from`)", bare_yield_from),
    Case("bare trampoline, plain `yield`", bare_plain_yield),
    Case("Effect: `yield from`", effect_yield_from),
    Case("Effect: right-nested `flat_map`", effect_right_nested),
    Case("Effect: left-nested `flat_map`", effect_left_nested),
    Case("returns: `Result.bind`", result_bind),
    Case("returns: `FutureResult.bind`", future_result_bind, lambda steps: steps // FUTURE_CHAIN * FUTURE_CHAIN),
]
REFERENCE = CASES[0].name
EFFECT_CASES = [case.name for case in CASES if case.name.startswith("Effect")]


def seconds_per_step(case: Case, steps: int) -> float:
    counted = case.expected(steps)
    gc.collect()
    gc.disable()
    try:
        started = time.process_time_ns()
        value = case.run(steps)
        elapsed = time.process_time_ns() - started
    finally:
        gc.enable()
    if value != counted:
        raise AssertionError(f"{case.name}: expected {counted}, got {value}")
    return elapsed / counted / 1e9


def measure(steps: int, repeats: int) -> dict[str, float]:
    """The fastest run of each case, the cases taking turns."""
    best: dict[str, float] = {case.name: float("inf") for case in CASES}
    for _ in range(repeats):
        for case in CASES:
            best[case.name] = min(best[case.name], seconds_per_step(case, steps))
    return best


def table(best: dict[str, float]) -> str:
    reference = best[REFERENCE]
    result = best["returns: `Result.bind`"]
    future = best["returns: `FutureResult.bind`"]
    lines = [
        "| case | ns/step | vs bare trampoline | vs `Result.bind` | vs `FutureResult.bind` |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, seconds in best.items():
        lines.append(
            f"| {name} | {seconds * 1e9:.0f} | {seconds / reference:.2f}x | {seconds / result:.2f}x "
            f"| {seconds / future:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=200_000, help="steps per run (default 200000)")
    parser.add_argument("--repeats", type=int, default=9, help="runs per case; the fastest is kept (default 9)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 if an Effect case is over {TARGET}x")
    args = parser.parse_args(argv)

    best = measure(args.steps, args.repeats)
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.machine()}, "
        f"{args.steps:,} steps, best of {args.repeats}\n"
    )
    print(table(best))
    reference = best[REFERENCE]
    over = [name for name in EFFECT_CASES if best[name] / reference > TARGET]
    print()
    verdict = "met" if not over else "missed by " + ", ".join(over)
    print(f"Target: at most {TARGET:g}x the bare trampoline per step: {verdict}.")
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
