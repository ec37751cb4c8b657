"""Constructors: the static methods of Effect that make effects from values, thunks and awaitables."""

from __future__ import annotations

from typing import Never

import anyio
import pytest
from returns.result import Failure, Success

from durable_effect import AsyncInSyncError, Die, Effect, Fail, TaggedError, UnknownException

from ._support import failure_cause, provided


class Parsed(TaggedError):
    text: str


def test_succeed_and_fail() -> None:
    assert Effect.run_sync_exit(Effect.succeed(3)) == Success(3)
    assert Effect.run_sync_exit(Effect.fail("nope")) == Failure(Fail("nope"))


def test_die_fails_with_a_defect() -> None:
    boom = RuntimeError("boom")
    assert Effect.run_sync_exit(Effect.die(boom)) == Failure(Die(boom))


def test_void_succeeds_with_none() -> None:
    assert Effect.run_sync(Effect.void) is None


def test_sync_runs_the_thunk_on_every_run_and_not_before() -> None:
    calls: list[int] = []

    def call() -> int:
        calls.append(1)
        return len(calls)

    eff = Effect.sync(call)
    assert calls == []
    assert Effect.run_sync(eff) == 1
    assert Effect.run_sync(eff) == 2


def test_sync_exception_is_a_defect() -> None:
    def explode() -> int:
        raise ZeroDivisionError("x")

    cause = failure_cause(Effect.run_sync_exit(Effect.sync(explode)))
    assert isinstance(cause, Die) and isinstance(cause.defect, ZeroDivisionError)


def test_try_turns_an_exception_into_unknown_exception() -> None:
    boom = ValueError("bad input")

    def parse() -> int:
        raise boom

    cause = failure_cause(Effect.run_sync_exit(Effect.try_(parse)))
    assert isinstance(cause, Fail)
    assert isinstance(cause.error, UnknownException)
    assert cause.error.error is boom
    assert cause.error.__cause__ is boom
    assert Effect.run_sync(Effect.try_(lambda: 4)) == 4


def test_try_with_catch_maps_the_exception() -> None:
    def parse() -> int:
        return int("x")

    eff = Effect.try_(parse, catch=lambda exc: Parsed(text=str(exc)))
    cause = failure_cause(Effect.run_sync_exit(eff))
    assert isinstance(cause, Fail) and isinstance(cause.error, Parsed)
    assert "invalid literal" in cause.error.text


def test_try_runs_the_thunk_on_every_run() -> None:
    calls: list[int] = []
    eff = Effect.try_(lambda: calls.append(1))
    Effect.run_sync(eff)
    Effect.run_sync(eff)
    assert len(calls) == 2


def test_suspend_builds_lazily_each_run() -> None:
    built: list[int] = []

    def build() -> Effect[int, Never, Never]:
        built.append(1)
        return Effect.succeed(len(built))

    eff = Effect.suspend(build)
    assert built == []
    assert Effect.run_sync(eff) == 1
    assert Effect.run_sync(eff) == 2


def test_suspend_exception_is_a_defect() -> None:
    def build() -> Effect[int, Never, Never]:
        raise LookupError("no")

    cause = failure_cause(Effect.run_sync_exit(Effect.suspend(build)))
    assert isinstance(cause, Die) and isinstance(cause.defect, LookupError)


def test_suspend_allows_recursive_definitions() -> None:
    def countdown(n: int) -> Effect[int, Never, Never]:
        return Effect.succeed(n) if n == 0 else Effect.suspend(lambda: countdown(n - 1))

    assert Effect.run_sync(countdown(10_000)) == 0


@pytest.mark.anyio
async def test_promise_awaits_the_thunk_each_run() -> None:
    calls: list[int] = []

    async def work() -> int:
        await anyio.lowlevel.checkpoint()
        calls.append(1)
        return len(calls)

    eff = Effect.promise(work)
    assert await Effect.run_promise(eff) == 1
    assert await Effect.run_promise(eff) == 2


@pytest.mark.anyio
async def test_promise_exception_is_a_defect() -> None:
    async def work() -> int:
        raise KeyError("k")

    cause = failure_cause(await Effect.run_promise_exit(Effect.promise(work)))
    assert isinstance(cause, Die) and isinstance(cause.defect, KeyError)


@pytest.mark.anyio
async def test_try_promise_turns_an_exception_into_an_expected_error() -> None:
    boom = OSError("disk")

    async def work() -> int:
        raise boom

    cause = failure_cause(await Effect.run_promise_exit(Effect.try_promise(work)))
    assert isinstance(cause, Fail) and isinstance(cause.error, UnknownException)
    assert cause.error.error is boom

    mapped = Effect.try_promise(work, catch=lambda exc: Parsed(text=type(exc).__name__))
    assert await Effect.run_promise_exit(mapped) == Failure(Fail(Parsed(text="OSError")))


@pytest.mark.anyio
async def test_try_promise_with_a_failing_catch_is_a_defect() -> None:
    async def work() -> int:
        raise OSError("disk")

    def bad_catch(exc: Exception) -> Parsed:
        raise RuntimeError("catch broke")

    cause = failure_cause(await Effect.run_promise_exit(Effect.try_promise(work, catch=bad_catch)))
    assert isinstance(cause, Die) and isinstance(cause.defect, RuntimeError)


@pytest.mark.anyio
async def test_try_promise_succeeds_with_the_awaited_value() -> None:
    async def work() -> str:
        return "ok"

    assert await Effect.run_promise(Effect.try_promise(work)) == "ok"


def test_promise_in_run_sync_is_a_clear_defect() -> None:
    async def work() -> int:
        return 1  # pragma: no cover

    with pytest.raises(AsyncInSyncError, match="run_promise"):
        Effect.run_sync(Effect.promise(work))


@pytest.mark.anyio
async def test_never_does_not_complete_until_interrupted() -> None:
    with anyio.move_on_after(0.01) as scope:
        await Effect.run_promise(Effect.never)
    assert scope.cancelled_caught


def test_service_needs_a_provider_or_a_default() -> None:
    from durable_effect import MissingServiceError, Tag

    class Config(Tag["Config", dict[str, int]]):
        pass

    cause = failure_cause(Effect.run_sync_exit(Effect.service(Config)))  # type: ignore[arg-type]
    assert isinstance(cause, Die) and isinstance(cause.defect, MissingServiceError)
    assert "Config" in str(cause.defect) and "provide" in str(cause.defect)
    assert Effect.run_sync(provided(Effect.service(Config).provide_service(Config, {"a": 1}))) == {"a": 1}
