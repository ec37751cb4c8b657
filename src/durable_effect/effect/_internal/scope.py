"""Scopes: where acquired resources register their release, run in reverse order when the scope closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Never, TypeVar

from returns.result import Failure as ResultFailure

from .cause import Cause, Sequential
from .context import Context, Tag, lookup_service
from .core import Effect, Exit, Failure, OnExit, Provide, ReadContext, Suspend, Sync, Uninterruptible

B = TypeVar("B")
E2 = TypeVar("E2")
R2 = TypeVar("R2")
I = TypeVar("I")  # noqa: E741


class ScopeService:
    """An open scope: finalizers added while it is open run, last first, when it closes."""

    __slots__ = ("_closed", "_finalizers")

    def __init__(self) -> None:
        self._finalizers: list[Callable[[Exit], Effect[Any, Never, Any]]] = []
        self._closed = False

    def add_finalizer(self, finalizer: Callable[[Exit], Effect[Any, Never, Any]]) -> None:
        if self._closed:
            raise RuntimeError("cannot add a finalizer to a closed scope")
        self._finalizers.append(finalizer)

    def close(self, exit_: Exit) -> Effect[None, Never, Never]:
        """Run every finalizer once, in reverse order; failures of finalizers are collected, not lost."""

        def run() -> Effect[None, Never, Never]:
            if self._closed:
                return Effect.void
            self._closed = True
            finalizers, self._finalizers = self._finalizers[::-1], []
            return Effect.gen(lambda: _run_all(finalizers, exit_))

        return Suspend(run)


def _run_all(finalizers: list[Callable[[Exit], Effect[Any, Never, Any]]], exit_: Exit) -> Any:
    failed: Cause[Any] | None = None
    for finalizer in finalizers:
        result = yield Suspend(lambda f=finalizer: f(exit_)).exit()  # type: ignore[misc]
        if isinstance(result, ResultFailure):
            failed = result.failure() if failed is None else Sequential(failed, result.failure())
    if failed is not None:
        yield Failure(failed)
    return None


class Scope(Tag["Scope", ScopeService]):
    """The scope that ``acquire_release`` registers with; ``Effect.scoped`` provides a fresh one."""


def acquire_release(
    acquire: Effect[B, E2, R2], release: Callable[[B, Exit], Effect[Any, Never, I]]
) -> Effect[B, E2, Any]:
    def register(resource: B) -> Effect[B, Never, Any]:
        def add(ctx: Context) -> Effect[B, Never, Never]:
            # The release runs with the services of the acquisition (whoever closes the scope may not have them).
            def finalizer(exit_: Exit) -> Effect[Any, Never, Any]:
                return Provide(release(resource, exit_), lambda _: ctx)

            return Sync(lambda: lookup_service(ctx, Scope).add_finalizer(finalizer)).as_(resource)

        return ReadContext(add)

    return Uninterruptible(acquire.flat_map(register))


def scoped(effect: Effect[B, E2, R2]) -> Effect[B, E2, R2]:
    def open_scope() -> Effect[B, E2, R2]:
        scope = ScopeService()
        return OnExit(Provide(effect, lambda ctx: {**ctx, Scope: scope}), scope.close)

    return Suspend(open_scope)


