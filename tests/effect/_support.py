"""Small helpers shared by the effect tests (public API only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Never, TypeVar

import anyio
from returns.result import Failure, Result, Success

from durable_effect import Cause, Clock, Effect, Exit
from durable_effect.testing import TestClock

A = TypeVar("A")
E = TypeVar("E")


def provided(effect: Effect[A, E, Any]) -> Effect[A, E, Never]:
    """``effect`` with its requirements marked as satisfied, for running it.

    Without the ``durable_effect.mypy`` plugin, ``provide``/``provide_service`` keep their tags in ``R`` (sound,
    nothing removed), so ``run_*`` would reject effects that are in fact fully provided at run time.
    """
    return effect


def failure_cause(exit_: Result[Any, Cause[Any]]) -> Cause[Any]:
    """The cause of a failed exit (fails the test on success)."""
    assert isinstance(exit_, Failure), f"expected a failure, got {exit_!r}"
    cause: Cause[Any] = exit_.failure()
    return cause


def success_value(exit_: Result[Any, Cause[Any]]) -> Any:
    """The value of a successful exit (fails the test with the cause otherwise)."""
    assert isinstance(exit_, Success), f"expected a success, got {exit_!r}"
    return exit_.unwrap()


async def run_with_clock(
    effect: Effect[Any, Any, Any],
    clock: TestClock,
    drive: Callable[[TestClock], Awaitable[None]],
) -> Exit[Any, Any]:
    """Run ``effect`` with ``clock`` in a task group while ``drive(clock)`` moves time from the test.

    ``anyio.fail_after`` guards against a hang: virtual time never needs real waiting.
    """
    exits: list[Exit[Any, Any]] = []

    async def runner() -> None:
        exits.append(await Effect.run_promise_exit(effect.provide_service(Clock, clock)))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(runner)
            await drive(clock)
    assert exits, "the effect did not finish once the driver was done"
    return exits[0]


def advance(duration: Any) -> Callable[[TestClock], Awaitable[None]]:
    """A driver that moves the clock forward by ``duration`` once."""

    async def drive(clock: TestClock) -> None:
        await clock.adjust(duration)

    return drive
