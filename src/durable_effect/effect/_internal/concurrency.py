"""Running effects side by side: ``all``/``for_each`` with a concurrency limit, ``race`` and ``timeout``.

Children are run as fibers in an anyio task group sharing the parent's context; cancelling the group
interrupts them (their finalizers run before the group exits).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import anyio
from returns.result import Failure as ResultFailure
from returns.result import Success

from .cause import Cause, Fail, Parallel
from .clock import sleep
from .context import Context
from .core import Async, Effect, Exit, Failure, GenOp
from .duration import DurationInput, to_millis
from .errors import TimeoutException
from .runtime import run_child

B = TypeVar("B")
E2 = TypeVar("E2")
R2 = TypeVar("R2")


def _sequential(effects: list[Effect[Any, Any, Any]]) -> Any:
    values = []
    for effect in effects:
        values.append((yield effect))
    return values


def _limit(concurrency: int | str, count: int) -> int:
    if concurrency == "unbounded":
        return max(count, 1)
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int or 'unbounded', got {concurrency!r}")
    return concurrency


def all_(effects: Any, concurrency: int | str) -> Effect[Any, Any, Any]:
    if isinstance(effects, Mapping):
        keys = list(effects.keys())
        return all_(list(effects.values()), concurrency).map(lambda values: dict(zip(keys, values, strict=True)))
    if isinstance(effects, tuple):
        return all_(list(effects), concurrency).map(tuple)
    if not isinstance(effects, Iterable):
        raise TypeError(f"Effect.all expects a list, tuple or dict of effects, got {type(effects).__name__}")
    items: list[Effect[Any, Any, Any]] = list(effects)
    for item in items:
        if not isinstance(item, Effect):
            raise TypeError(f"Effect.all expects effects, got {item!r} ({type(item).__name__})")
    limit = _limit(concurrency, len(items))
    if limit == 1 or len(items) <= 1:
        return GenOp(_sequential, (items,), None)
    return Async(lambda ctx: _run_all(items, ctx, limit))


async def _run_all(effects: list[Effect[Any, Any, Any]], ctx: Context, limit: int) -> Exit:
    results: list[Any] = [None] * len(effects)
    failure: list[Cause[Any]] = []
    slots = anyio.Semaphore(limit)

    async def child(index: int, effect: Effect[Any, Any, Any], group: anyio.abc.TaskGroup) -> None:
        try:
            exit_ = await run_child(effect, ctx)
            if isinstance(exit_, Success):
                results[index] = exit_.unwrap()
            elif not failure:
                failure.append(exit_.failure())
                group.cancel_scope.cancel()
        finally:
            slots.release()  # only once settled: the next one starts knowing whether this one failed

    async with anyio.create_task_group() as group:
        for index, effect in enumerate(effects):  # started in order, each when a slot is free
            await slots.acquire()
            if failure:  # a failure interrupts the rest: nothing more starts
                break
            group.start_soon(child, index, effect, group)
    if failure:
        return ResultFailure(failure[0])
    return Success(results)


def race(first: Effect[Any, Any, Any], second: Effect[Any, Any, Any]) -> Effect[Any, Any, Any]:
    return Async(lambda ctx: _race(first, second, ctx))


async def _race(first: Effect[Any, Any, Any], second: Effect[Any, Any, Any], ctx: Context) -> Exit:
    winner: list[Exit] = []
    causes: list[Cause[Any]] = []

    async def child(effect: Effect[Any, Any, Any], group: anyio.abc.TaskGroup) -> None:
        exit_ = await run_child(effect, ctx)
        if isinstance(exit_, Success):
            if not winner:
                winner.append(exit_)
                group.cancel_scope.cancel()
        else:
            causes.append(exit_.failure())

    async with anyio.create_task_group() as group:
        group.start_soon(child, first, group)
        group.start_soon(child, second, group)
    if winner:
        return winner[0]
    return ResultFailure(Parallel(causes[0], causes[1]) if len(causes) == 2 else causes[0])


def timeout(effect: Effect[Any, Any, Any], duration: DurationInput) -> Effect[Any, Any, Any]:
    millis = to_millis(duration)
    timer = sleep(millis).flat_map(lambda _: Failure(Fail(TimeoutException(duration_ms=millis))))
    return Async(lambda ctx: _first_to_finish(effect, timer, ctx))


async def _first_to_finish(effect: Effect[Any, Any, Any], timer: Effect[Any, Any, Any], ctx: Context) -> Exit:
    """The exit of whichever finishes first (success or failure); the other is interrupted."""
    outcome: list[Exit] = []

    async def child(eff: Effect[Any, Any, Any], group: anyio.abc.TaskGroup) -> None:
        exit_ = await run_child(eff, ctx)
        if not outcome:
            outcome.append(exit_)
            group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(child, effect, group)
        group.start_soon(child, timer, group)
    return outcome[0]
