"""Built on returns: conversions from and to Result, IOResult, FutureResult, Maybe; returns' pointfree helpers."""

from __future__ import annotations

from typing import Never

import anyio
import pytest
from returns.future import FutureFailure, FutureResult, FutureSuccess
from returns.io import IOFailure, IOResult, IOSuccess
from returns.maybe import Maybe, Nothing, Some
from returns.pointfree import bind, lash, map_
from returns.primitives.hkt import dekind
from returns.result import Failure, Result, Success

from durable_effect import Effect, Fail, NoSuchElementException, TaggedError


class Missing(TaggedError):
    key: str


def test_from_result() -> None:
    ok: Result[int, str] = Success(1)
    bad: Result[int, str] = Failure("e")
    assert Effect.run_sync_exit(Effect.from_result(ok)) == Success(1)
    assert Effect.run_sync_exit(Effect.from_result(bad)) == Failure(Fail("e"))


def test_from_io_result() -> None:
    ok: IOResult[int, str] = IOSuccess(2)
    bad: IOResult[int, str] = IOFailure("io")
    assert Effect.run_sync(Effect.from_io_result(ok)) == 2
    assert Effect.run_sync_exit(Effect.from_io_result(bad)) == Failure(Fail("io"))


def test_from_maybe() -> None:
    some: Maybe[int] = Some(3)
    assert Effect.run_sync(Effect.from_maybe(some)) == 3
    exit_ = Effect.run_sync_exit(Effect.from_maybe(Nothing))
    assert exit_ == Failure(Fail(NoSuchElementException()))
    with pytest.raises(Missing):
        Effect.run_sync(Effect.from_maybe(Nothing, lambda: Missing(key="k")))


@pytest.mark.anyio
async def test_from_future_result() -> None:
    async def fetch() -> Result[int, str]:
        await anyio.lowlevel.checkpoint()
        return Success(4)

    assert await Effect.run_promise(Effect.from_future_result(FutureResult(fetch()))) == 4
    assert await Effect.run_promise(Effect.from_future_result(FutureSuccess(5))) == 5
    failed: FutureResult[int, str] = FutureFailure("remote")
    assert await Effect.run_promise_exit(Effect.from_future_result(failed)) == Failure(Fail("remote"))


@pytest.mark.anyio
async def test_from_future_result_awaits_the_future_once() -> None:
    calls: list[int] = []

    async def fetch() -> Result[int, str]:
        calls.append(1)
        return Success(len(calls))

    eff = Effect.from_future_result(FutureResult(fetch()))
    assert await Effect.run_promise(eff) == 1
    assert await Effect.run_promise(eff) == 1  # a FutureResult is a value: returns caches its outcome
    assert calls == [1]


def test_from_future_result_needs_run_promise() -> None:
    from durable_effect import AsyncInSyncError

    async def fetch() -> Result[int, str]:
        return Success(1)  # pragma: no cover - never awaited

    pending = fetch()
    with pytest.raises(AsyncInSyncError):
        Effect.run_sync(Effect.from_future_result(FutureResult(pending)))
    pending.close()


@pytest.mark.anyio
async def test_to_future_result() -> None:
    assert await Effect.succeed(6).to_future_result() == IOSuccess(6)
    assert await Effect.fail("nope").to_future_result() == IOFailure("nope")

    async def later() -> int:
        await anyio.lowlevel.checkpoint()
        return 7

    future = Effect.promise(later).map(lambda x: x * 2).to_future_result()
    assert await future == IOSuccess(14)


@pytest.mark.anyio
async def test_to_future_result_is_lazy_until_awaited() -> None:
    ran: list[str] = []
    future = Effect.sync(lambda: ran.append("ran")).to_future_result()
    assert ran == []
    await future
    assert ran == ["ran"]


@pytest.mark.anyio
async def test_to_future_result_raises_a_defect() -> None:
    boom = RuntimeError("bug")
    with pytest.raises(RuntimeError, match="bug"):
        await Effect.die(boom).to_future_result()


@pytest.mark.anyio
async def test_round_trip_through_future_result() -> None:
    ok: Effect[int, str, Never] = Effect.succeed(8)
    bad: Effect[int, str, Never] = Effect.fail("e")
    assert await Effect.run_promise_exit(Effect.from_future_result(ok.to_future_result())) == Success(8)
    assert await Effect.run_promise_exit(Effect.from_future_result(bad.to_future_result())) == Failure(Fail("e"))


def test_round_trip_through_either() -> None:
    for eff in (Effect.succeed(1), Effect.fail("e")):
        result = Effect.run_sync(eff.either())
        assert Effect.run_sync_exit(Effect.from_result(result)) == Effect.run_sync_exit(eff)


def test_returns_pointfree_helpers_work_on_effects() -> None:
    def increment(x: int) -> Effect[int, Never, Never]:
        return Effect.succeed(x + 1)

    def times_ten(x: int) -> int:
        return x * 10

    def recover(e: int) -> Effect[int, Never, Never]:
        return Effect.succeed(e * 100)

    bound = dekind(bind(increment)(Effect.succeed(1)))
    mapped = dekind(map_(times_ten)(bound))
    assert Effect.run_sync(mapped) == 20
    failing: Effect[int, int, Never] = Effect.fail(2)
    assert Effect.run_sync(dekind(lash(recover)(failing))) == 200


@pytest.mark.anyio
async def test_a_future_result_that_raises_is_a_defect_and_finalizers_run() -> None:
    ran: list[str] = []
    broken = FutureResult[float, Never].from_value(1).map(lambda x: x / 0)
    exit_ = await Effect.run_promise_exit(
        Effect.from_future_result(broken).ensuring(Effect.sync(lambda: ran.append("finalizer")))
    )
    assert isinstance(exit_, Failure) and isinstance(exit_.failure().defects()[0], ZeroDivisionError)
    assert ran == ["finalizer"]
