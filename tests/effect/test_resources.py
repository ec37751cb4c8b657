"""Resources: acquire_release inside scoped, ensuring and on_exit, on success, failure and interruption."""

from __future__ import annotations

import asyncio
from typing import Any, Never

import anyio
import pytest
from returns.result import Failure, Success

from durable_effect import Cause, Die, Effect, Exit, Fail, Gen, Interrupt, Scope, Tag

from ._support import failure_cause, provided


class Resources:
    """Records acquisitions and releases with the exit each release saw."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.exits: dict[str, Exit[Any, Any]] = {}

    def resource(self, name: str) -> Effect[str, Never, Scope]:
        def release(value: str, exit_: Exit[Any, Any]) -> Effect[None, Never, Never]:
            def record() -> None:
                self.events.append(f"release {value}")
                self.exits[value] = exit_

            return Effect.sync(record)

        acquire = Effect.sync(lambda: self.events.append(f"acquire {name}")).as_(name)
        return Effect.acquire_release(acquire, release)

    def program(self, then: Effect[Any, Any, Never]) -> Effect[Any, Any, Never]:
        @Effect.fn
        def body() -> Gen[Any, Any, Scope]:
            a = yield from self.resource("a")
            b = yield from self.resource("b")
            c = yield from self.resource("c")
            self.events.append(f"use {a}{b}{c}")
            return (yield from then)

        return provided(Effect.scoped(body()))


def test_release_runs_once_after_use_in_reverse_order_on_success() -> None:
    res = Resources()
    assert Effect.run_sync(res.program(Effect.succeed("done"))) == "done"
    assert res.events == ["acquire a", "acquire b", "acquire c", "use abc", "release c", "release b", "release a"]
    assert all(exit_ == Success("done") for exit_ in res.exits.values())


def test_release_runs_once_in_reverse_order_on_failure() -> None:
    res = Resources()
    assert Effect.run_sync_exit(res.program(Effect.fail("boom"))) == Failure(Fail("boom"))
    assert res.events == ["acquire a", "acquire b", "acquire c", "use abc", "release c", "release b", "release a"]
    assert all(exit_ == Failure(Fail("boom")) for exit_ in res.exits.values())


def test_release_runs_once_in_reverse_order_on_defect() -> None:
    res = Resources()
    boom = RuntimeError("bug")
    assert Effect.run_sync_exit(res.program(Effect.die(boom))) == Failure(Die(boom))
    assert res.events[-3:] == ["release c", "release b", "release a"]


@pytest.mark.anyio
async def test_release_runs_once_in_reverse_order_on_interruption() -> None:
    res = Resources()
    async with anyio.create_task_group() as group:
        group.start_soon(Effect.run_promise, res.program(Effect.never))
        await anyio.wait_all_tasks_blocked()
        assert res.events[-1] == "use abc"
        group.cancel_scope.cancel()
    assert res.events == ["acquire a", "acquire b", "acquire c", "use abc", "release c", "release b", "release a"]
    assert all(exit_ == Failure(Interrupt()) for exit_ in res.exits.values())


def test_only_acquired_resources_are_released_when_an_acquire_fails() -> None:
    res = Resources()

    @Effect.fn
    def body() -> Gen[None, str, Scope]:
        yield from res.resource("a")
        yield from Effect.acquire_release(Effect.fail("cannot acquire"), lambda _r, _e: Effect.void)
        yield from res.resource("never")

    assert Effect.run_sync_exit(provided(Effect.scoped(body()))) == Failure(Fail("cannot acquire"))
    assert res.events == ["acquire a", "release a"]


def test_a_failing_release_does_not_stop_the_others_and_is_reported() -> None:
    events: list[str] = []

    @Effect.fn
    def body() -> Gen[None, Never, Scope]:
        yield from Effect.acquire_release(Effect.succeed(1), lambda _r, _e: Effect.sync(lambda: events.append("1")))
        yield from Effect.acquire_release(Effect.succeed(2), lambda _r, _e: Effect.die(OSError("release 2 broke")))
        yield from Effect.acquire_release(Effect.succeed(3), lambda _r, _e: Effect.sync(lambda: events.append("3")))

    cause = failure_cause(Effect.run_sync_exit(provided(Effect.scoped(body()))))
    assert events == ["3", "1"]
    assert [str(d) for d in cause.defects()] == ["release 2 broke"]


def test_each_scoped_region_releases_its_own_resources_when_it_ends() -> None:
    res = Resources()

    @Effect.fn
    def body() -> Gen[None, Never, Scope]:
        yield from provided(Effect.scoped(res.resource("inner")))
        res.events.append("between")
        yield from res.resource("outer")

    Effect.run_sync(provided(Effect.scoped(body())))
    assert res.events == ["acquire inner", "release inner", "between", "acquire outer", "release outer"]


@pytest.mark.anyio
async def test_acquire_is_not_interrupted() -> None:
    events: list[str] = []
    gate = anyio.Event()

    async def slow_acquire() -> str:
        await gate.wait()
        events.append("acquired")
        return "r"

    eff = Effect.acquire_release(
        Effect.promise(slow_acquire), lambda _r, _e: Effect.sync(lambda: events.append("released"))
    )
    async with anyio.create_task_group() as group:
        group.start_soon(Effect.run_promise, provided(Effect.scoped(eff.flat_map(lambda _: Effect.never))))
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
        gate.set()
    assert events == ["acquired", "released"]


# ---------------------------------------------------------------- ensuring / on_exit


def test_ensuring_runs_on_success_failure_and_defect() -> None:
    for eff in (Effect.succeed(1), Effect.fail("e"), Effect.die(RuntimeError())):
        ran: list[str] = []
        before = Effect.run_sync_exit(eff)
        after = Effect.run_sync_exit(eff.ensuring(Effect.sync(lambda: ran.append("fin"))))  # noqa: B023
        assert ran == ["fin"]
        assert after == before


def test_on_exit_sees_the_exit_and_keeps_it() -> None:
    seen: list[Exit[int, str]] = []

    def record(exit_: Exit[int, str]) -> Effect[None, Never, Never]:
        return Effect.sync(lambda: seen.append(exit_))

    ok: Effect[int, str, Never] = Effect.succeed(1)
    bad: Effect[int, str, Never] = Effect.fail("e")
    assert Effect.run_sync_exit(ok.on_exit(record)) == Success(1)
    assert Effect.run_sync_exit(bad.on_exit(record)) == Failure(Fail("e"))
    assert seen == [Success(1), Failure(Fail("e"))]


def test_a_failing_finalizer_after_success_fails_the_effect() -> None:
    boom = RuntimeError("cleanup")
    assert Effect.run_sync_exit(Effect.succeed(1).ensuring(Effect.die(boom))) == Failure(Die(boom))


def test_a_failing_finalizer_after_a_failure_keeps_both() -> None:
    boom = RuntimeError("cleanup")
    cause: Cause[str] = failure_cause(Effect.run_sync_exit(Effect.fail("e").ensuring(Effect.die(boom))))
    assert cause.failures() == ["e"]
    assert cause.defects() == [boom]


def test_finalizer_raising_a_python_exception_is_a_defect() -> None:
    def on_exit(_exit: Exit[int, Never]) -> Effect[None, Never, Never]:
        raise ValueError("finalizer function broke")

    cause = failure_cause(Effect.run_sync_exit(Effect.succeed(1).on_exit(on_exit)))
    assert isinstance(cause, Die) and isinstance(cause.defect, ValueError)


def test_nested_ensuring_runs_inner_first() -> None:
    order: list[str] = []
    eff = (
        Effect.fail("e")
        .ensuring(Effect.sync(lambda: order.append("inner")))
        .ensuring(Effect.sync(lambda: order.append("outer")))
    )
    Effect.run_sync_exit(eff)
    assert order == ["inner", "outer"]


@pytest.mark.anyio
async def test_on_interruption_a_failing_release_does_not_stop_the_others() -> None:
    events: list[str] = []

    @Effect.fn
    def body() -> Gen[None, Never, Scope]:
        yield from Effect.acquire_release(Effect.succeed(1), lambda _r, _e: Effect.sync(lambda: events.append("1")))
        yield from Effect.acquire_release(Effect.succeed(2), lambda _r, _e: Effect.die(OSError("release 2 broke")))
        yield from Effect.never

    async with anyio.create_task_group() as group:
        group.start_soon(Effect.run_promise_exit, provided(Effect.scoped(body())))
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert events == ["1"]  # the scope still collects the broken release and runs the next one


@pytest.mark.anyio
async def test_error_handlers_inside_a_finalizer_work_on_interruption() -> None:
    handled: list[str] = []
    finalizer = Effect.fail("oops").catch_all(lambda e: Effect.sync(lambda: handled.append(f"handled {e}")))
    async with anyio.create_task_group() as group:
        group.start_soon(Effect.run_promise_exit, Effect.never.ensuring(finalizer))
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert handled == ["handled oops"]


class Db(Tag["Db", str]):
    pass


def test_a_release_runs_with_the_services_of_its_acquisition() -> None:
    seen: list[str] = []

    def release(_resource: str, _exit: Exit[Any, Any]) -> Effect[None, Never, Db]:
        return Effect.service(Db).map(seen.append)

    resource = Effect.acquire_release(Effect.service(Db), release).provide_service(Db, "db of the acquisition")
    assert Effect.run_sync(Effect.scoped(resource)) == "db of the acquisition"
    assert seen == ["db of the acquisition"]  # though the scope closes where Db is not provided


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_native_cancel_during_a_finalizer_still_runs_the_others(anyio_backend: str) -> None:
    # asyncio only: a second Task.cancel() gets through a shield, cutting the running finalizer short.
    events: list[str] = []
    release_started = asyncio.Event()

    async def slow_release() -> None:
        release_started.set()
        await asyncio.Event().wait()  # until cancelled

    program = (
        Effect.never.ensuring(Effect.sync(lambda: events.append("second")))
        .ensuring(Effect.promise(slow_release))
        .ensuring(Effect.sync(lambda: events.append("third")))
    )
    # the inner ensuring runs first: "second", then the slow release, then "third"
    task = asyncio.ensure_future(Effect.run_promise_exit(program))
    await asyncio.sleep(0)
    task.cancel()  # interrupts the program: finalizers start
    await release_started.wait()
    task.cancel()  # a second native cancel cuts the slow release short
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events == ["second", "third"]
