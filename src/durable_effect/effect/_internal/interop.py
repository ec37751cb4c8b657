"""Conversions between effects and ``returns`` containers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Never, TypeVar

from returns.future import FutureResult
from returns.io import IOFailure, IOResult
from returns.maybe import Maybe, Some
from returns.result import Failure as ResultFailure
from returns.result import Result, Success
from returns.unsafe import unsafe_perform_io

from .cause import Fail
from .context import Context
from .core import Async, Effect, Exit, Failure, Succeed
from .errors import NoSuchElementException

B = TypeVar("B")
E2 = TypeVar("E2")


def from_result(result: Result[B, E2]) -> Effect[B, E2, Never]:
    if isinstance(result, Success):
        return Succeed(result.unwrap())
    return Failure(Fail(result.failure()))


def from_io_result(result: IOResult[B, E2]) -> Effect[B, E2, Never]:
    if isinstance(result, IOFailure):
        return Failure(Fail(unsafe_perform_io(result.failure())))
    return Succeed(unsafe_perform_io(result.unwrap()))


async def _await_future_result(result: FutureResult[Any, Any], _ctx: Context) -> Exit:
    io_result = await result.awaitable()
    if isinstance(io_result, IOFailure):
        return ResultFailure(Fail(unsafe_perform_io(io_result.failure())))
    return Success(unsafe_perform_io(io_result.unwrap()))


def from_future_result(result: FutureResult[B, E2]) -> Effect[B, E2, Never]:
    return Async(lambda ctx: _await_future_result(result, ctx))


def from_maybe(maybe: Maybe[B], on_nothing: Callable[[], Any] | None) -> Effect[B, Any, Never]:
    if isinstance(maybe, Some):
        return Succeed(maybe.unwrap())
    return Failure(Fail(NoSuchElementException() if on_nothing is None else on_nothing()))


def to_future_result(effect: Effect[B, E2, Any]) -> FutureResult[B, E2]:
    from .runtime import run_promise_exit, unwrap_exit

    async def run() -> Result[B, E2]:
        exit_ = await run_promise_exit(effect)
        if isinstance(exit_, Success):
            return Success(exit_.unwrap())
        cause = exit_.failure()
        if isinstance(cause, Fail):
            return ResultFailure(cause.error)
        unwrap_exit(exit_)  # a defect or interruption has no place in a Result: raise it
        raise AssertionError("unreachable")  # pragma: no cover

    return FutureResult(run())
