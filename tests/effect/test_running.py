"""Running: run_sync / run_promise, what they raise, and interruption by the caller's cancellation."""

from __future__ import annotations

import asyncio
from typing import Any, Never

import anyio
import pytest
from returns.result import Failure, Success

from durable_effect import (
    AsyncInSyncError,
    Cause,
    Die,
    Effect,
    Exit,
    Fail,
    FiberFailure,
    Gen,
    Interrupt,
    Parallel,
    Sequential,
    TaggedError,
)

from ._support import failure_cause


class JobNotFound(TaggedError):
    id: str


# ---------------------------------------------------------------- run_sync


def test_run_sync_returns_the_value() -> None:
    assert Effect.run_sync(Effect.succeed("v")) == "v"


def test_run_sync_raises_a_single_expected_error_as_itself() -> None:
    with pytest.raises(JobNotFound) as info:
        Effect.run_sync(Effect.fail(JobNotFound(id="j")))
    assert info.value == JobNotFound(id="j")


def test_run_sync_reraises_a_defect_exception() -> None:
    boom = KeyError("k")
    with pytest.raises(KeyError) as info:
        Effect.run_sync(Effect.die(boom))
    assert info.value is boom


def test_run_sync_raises_fiber_failure_for_a_composite_cause() -> None:
    eff = Effect.fail(JobNotFound(id="a")).ensuring(Effect.die(RuntimeError("finalizer")))
    with pytest.raises(FiberFailure) as info:
        Effect.run_sync(eff)
    cause = info.value.cause
    assert isinstance(cause, Sequential)
    assert cause.failures() == [JobNotFound(id="a")]
    assert "JobNotFound" in str(info.value) and "finalizer" in str(info.value)


def test_run_sync_raises_fiber_failure_for_an_error_that_is_not_an_exception() -> None:
    with pytest.raises(FiberFailure) as info:
        Effect.run_sync(Effect.fail("just a string"))
    assert info.value.cause == Fail("just a string")


def test_run_sync_exit_never_raises() -> None:
    boom = ValueError("v")
    assert Effect.run_sync_exit(Effect.succeed(1)) == Success(1)
    assert Effect.run_sync_exit(Effect.fail(JobNotFound(id="x"))) == Failure(Fail(JobNotFound(id="x")))
    assert Effect.run_sync_exit(Effect.die(boom)) == Failure(Die(boom))


def test_run_sync_does_not_create_an_event_loop() -> None:
    def inside() -> str:
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()
        return "no loop"

    assert Effect.run_sync(Effect.sync(inside)) == "no loop"


@pytest.mark.anyio
async def test_run_sync_works_inside_async_code_without_touching_the_loop() -> None:
    assert Effect.run_sync(Effect.succeed(1).map(lambda x: x + 1)) == 2


@pytest.mark.parametrize(
    "build",
    [
        lambda: Effect.sleep("1 second"),
        lambda: Effect.promise(lambda: asyncio.sleep(0)),
        lambda: Effect.never,
        lambda: Effect.all([Effect.void, Effect.void], concurrency=2),
        lambda: Effect.succeed(1).timeout("1 second"),
        lambda: Effect.race(Effect.succeed(1), Effect.succeed(2)),
    ],
    ids=["sleep", "promise", "never", "all", "timeout", "race"],
)
def test_run_sync_on_an_async_effect_is_a_clear_defect(build: Any) -> None:
    with pytest.raises(AsyncInSyncError, match=r"run_promise"):
        Effect.run_sync(build())
    cause = failure_cause(Effect.run_sync_exit(build()))
    assert isinstance(cause, Die) and isinstance(cause.defect, AsyncInSyncError)


def test_run_sync_on_an_async_effect_still_runs_finalizers() -> None:
    events: list[str] = []

    @Effect.fn
    def body() -> Gen[None, Never, Never]:
        try:
            yield from Effect.sleep(10)
        finally:
            events.append("finally")

    eff = body().ensuring(Effect.sync(lambda: events.append("ensuring")))
    with pytest.raises(AsyncInSyncError):
        Effect.run_sync(eff)
    assert events == ["finally", "ensuring"]


# ---------------------------------------------------------------- run_promise


@pytest.mark.anyio
async def test_run_promise_returns_the_value() -> None:
    async def work() -> int:
        await anyio.lowlevel.checkpoint()
        return 41

    assert await Effect.run_promise(Effect.promise(work).map(lambda x: x + 1)) == 42


@pytest.mark.anyio
async def test_run_promise_raises_like_run_sync() -> None:
    with pytest.raises(JobNotFound):
        await Effect.run_promise(Effect.fail(JobNotFound(id="j")))
    boom = OSError("io")
    with pytest.raises(OSError) as info:
        await Effect.run_promise(Effect.die(boom))
    assert info.value is boom
    with pytest.raises(FiberFailure) as failure:
        await Effect.run_promise(Effect.fail(1).ensuring(Effect.fail(2).catch_all(lambda _: Effect.die(OSError()))))
    assert isinstance(failure.value.cause, Sequential)


@pytest.mark.anyio
async def test_run_promise_exit() -> None:
    assert await Effect.run_promise_exit(Effect.succeed(1)) == Success(1)
    assert await Effect.run_promise_exit(Effect.fail("e")) == Failure(Fail("e"))


@pytest.mark.anyio
async def test_run_promise_raises_fiber_failure_for_parallel_failures() -> None:
    async def fail_later(error: str) -> int:
        await anyio.lowlevel.checkpoint()
        raise ValueError(error)

    both = Effect.race(
        Effect.try_promise(lambda: fail_later("a"), catch=lambda e: str(e)),
        Effect.try_promise(lambda: fail_later("b"), catch=lambda e: str(e)),
    )
    with pytest.raises(FiberFailure) as info:
        await Effect.run_promise(both)
    assert isinstance(info.value.cause, Parallel)
    assert sorted(info.value.cause.failures()) == ["a", "b"]


# ---------------------------------------------------------------- interruption


def _interruptible(events: list[object]) -> Effect[None, Never, Never]:
    @Effect.fn
    def body() -> Gen[None, Never, Never]:
        try:
            events.append("started")
            yield from Effect.never
        finally:
            events.append("generator finally")

    def on_exit(exit_: Exit[None, Never]) -> Effect[None, Never, Never]:
        return Effect.sync(lambda: events.append(exit_))

    return body().on_exit(on_exit).ensuring(Effect.sync(lambda: events.append("ensuring")))


@pytest.mark.anyio
async def test_cancelling_the_caller_interrupts_the_effect_and_runs_finalizers() -> None:
    events: list[object] = []
    async with anyio.create_task_group() as group:
        group.start_soon(Effect.run_promise, _interruptible(events))
        await anyio.wait_all_tasks_blocked()
        assert events == ["started"]
        group.cancel_scope.cancel()
    assert events == ["started", "generator finally", Failure(Interrupt()), "ensuring"]


@pytest.mark.anyio
async def test_move_on_after_interrupts_the_effect_and_runs_finalizers() -> None:
    events: list[object] = []
    with anyio.fail_after(5):
        with anyio.move_on_after(0.02) as scope:
            await Effect.run_promise(_interruptible(events))
    assert scope.cancelled_caught
    assert events == ["started", "generator finally", Failure(Interrupt()), "ensuring"]


@pytest.mark.anyio
async def test_interruption_reraises_the_cancellation_to_the_caller() -> None:
    events: list[object] = []
    cancelled = anyio.get_cancelled_exc_class()
    reached: list[str] = []

    async def caller() -> None:
        try:
            await Effect.run_promise_exit(_interruptible(events))
        except cancelled:
            reached.append("cancelled")
            raise
        reached.append("returned")  # pragma: no cover

    async with anyio.create_task_group() as group:
        group.start_soon(caller)
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert reached == ["cancelled"]


@pytest.mark.anyio
async def test_error_handlers_do_not_run_on_interruption() -> None:
    handled: list[Cause[Any]] = []

    def handler(cause: Cause[Never]) -> Effect[int, Never, Never]:
        handled.append(cause)
        return Effect.succeed(0)

    eff = Effect.never.catch_all_cause(handler)
    with anyio.move_on_after(0.01):
        await Effect.run_promise(eff)
    assert handled == []


@pytest.mark.anyio
async def test_finalizers_may_suspend_while_the_fiber_is_interrupted() -> None:
    events: list[str] = []

    async def slow_cleanup() -> None:
        await anyio.lowlevel.checkpoint()
        events.append("async cleanup done")

    eff = Effect.never.ensuring(Effect.promise(slow_cleanup))
    async with anyio.create_task_group() as group:
        group.start_soon(Effect.run_promise, eff)
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert events == ["async cleanup done"]


@pytest.mark.anyio
async def test_uninterruptible_region_finishes_before_the_interruption_lands() -> None:
    events: list[str] = []
    gate = anyio.Event()

    async def protected() -> None:
        await gate.wait()
        events.append("protected finished")

    eff = Effect.uninterruptible(Effect.promise(protected)).flat_map(
        lambda _: Effect.sync(lambda: events.append("after region"))
    )
    async with anyio.create_task_group() as group:
        group.start_soon(Effect.run_promise, eff)
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
        gate.set()
    assert events == ["protected finished"]


@pytest.mark.anyio
async def test_interrupting_concurrent_all_interrupts_every_child() -> None:
    released: list[int] = []

    def child(i: int) -> Effect[None, Never, Never]:
        return Effect.never.ensuring(Effect.sync(lambda: released.append(i)))

    async with anyio.create_task_group() as group:
        group.start_soon(Effect.run_promise, Effect.all([child(i) for i in range(3)], concurrency="unbounded"))
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert sorted(released) == [0, 1, 2]
