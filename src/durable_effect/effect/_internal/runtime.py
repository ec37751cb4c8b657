"""The interpreter: a loop over an explicit continuation stack, shared by ``run_sync`` and ``run_promise``.

The loop is one ``async`` function. ``run_sync`` drives it with a single ``send(None)``: it never awaits
unless it reaches an asynchronous primitive, which in sync mode becomes a defect instead. Generator bodies are
stepped in place (their frames sit on the stack), so a million ``yield from`` steps or a million nested
``flat_map``s use constant Python stack.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from types import GeneratorType
from typing import Any, TypeVar

import anyio
from returns.result import Failure as ResultFailure
from returns.result import Result, Success

from .cause import Cause, Die, Fail, Interrupt, Sequential
from .context import Context, lookup_service
from .core import (
    OP_ASYNC,
    OP_FAIL,
    OP_FLAT_MAP,
    OP_FOLD,
    OP_GEN,
    OP_MAP,
    OP_ON_EXIT,
    OP_PROVIDE,
    OP_READ_CONTEXT,
    OP_SERVICE,
    OP_SUCCEED,
    OP_SUSPEND,
    OP_SYNC,
    OP_UNINTERRUPTIBLE,
    Effect,
    Exit,
    FlatMap,
    Succeed,
    YieldNow,
)
from .errors import FiberFailure, UnknownException

B = TypeVar("B")
E2 = TypeVar("E2")


class AsyncInSyncError(RuntimeError):
    """``run_sync`` reached an effect that must suspend (sleep, promise, concurrency)."""


class NonEffectYieldedError(TypeError):
    """A generator body yielded something that is not an effect."""


# Internal continuation frames carry an ``_op`` too (outside the effect codes), so delivering an exit dispatches
# on one attribute read for every kind of frame but generators.
_OP_RESTORE_CONTEXT = 100
_OP_AFTER_FINALIZER = 101
_OP_END_UNINTERRUPTIBLE = 102


class _RestoreContext:
    __slots__ = ("ctx",)
    _op = _OP_RESTORE_CONTEXT

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx


class _AfterFinalizer:
    """Re-emit the exit that triggered a finalizer once the finalizer is done."""

    __slots__ = ("cancelled", "ok", "value")
    _op = _OP_AFTER_FINALIZER

    def __init__(self, ok: bool, value: Any, cancelled: BaseException | None) -> None:
        self.ok = ok
        self.value = value
        self.cancelled = cancelled  # the interruption the finalizer ran under, resumed after it


class _EndUninterruptible:
    __slots__ = ()
    _op = _OP_END_UNINTERRUPTIBLE


_END_UNINTERRUPTIBLE = _EndUninterruptible()


def _non_effect(value: object) -> Die:
    return Die(
        NonEffectYieldedError(
            f"expected an Effect, got {value!r} ({type(value).__name__}): a generator body must "
            f"`yield from effect` (not `yield value`), and functions given to flat_map, catch_*, match, "
            f"suspend or on_exit must return an Effect"
        )
    )


async def run_loop(effect: Effect[Any, Any, Any], ctx: Context, sync: bool) -> Exit:
    """Run ``effect`` to its exit. In async mode a caller's cancellation interrupts it: finalizers run, then
    the cancellation is re-raised (the exit is ``Interrupt``)."""
    stack: list[Any] = []
    cur: Any = effect
    value: Any = None
    ok = True
    shield = 0  # > 0 while running finalizers or uninterruptible regions
    cancelled: BaseException | None = None
    cancel_exc: type[BaseException] | None = None  # looked up when first needed: costly on every await
    suspended = False  # whether an async step ran (only then can a cancellation be pending)
    gen_type = GeneratorType
    while True:
        # ---- evaluate ``cur`` until it produces an exit (ok, value) ----
        if cur is not None:
            try:
                op = cur._op
            except AttributeError:
                ok, value, cur = False, _non_effect(cur), None
                continue
            if op == OP_SUCCEED:
                ok, value, cur = True, cur._value, None
            elif op == OP_SYNC:
                try:
                    ok, value = True, cur._thunk()
                except Exception as exc:
                    ok, value = False, Die(exc)
                cur = None
            elif op == OP_FLAT_MAP:
                first = cur._first
                if first._op == OP_SUCCEED:
                    # ``succeed(x).flat_map(f)``: call ``f(x)`` now instead of a round trip through the stack.
                    try:
                        cur = cur._f(first._value)
                    except Exception as exc:
                        ok, value, cur = False, Die(exc), None
                    else:
                        if cur is None:
                            ok, value = False, _non_effect(None)
                else:
                    stack.append(cur)
                    # A left-nested chain (``eff.flat_map(f).flat_map(g)...``): push its links in one go.
                    while first.__class__ is FlatMap:
                        stack.append(first)
                        first = first._first
                    cur = first
            elif op == OP_MAP or op == OP_FOLD:
                stack.append(cur)
                cur = cur._first
            elif op == OP_GEN:
                try:
                    gen = cur._factory(*cur._args, **cur._kwargs) if cur._kwargs else cur._factory(*cur._args)
                    cur = gen.send(None)
                    stack.append(gen)
                    if cur is None:
                        ok, value = False, _non_effect(None)
                except StopIteration as stop:
                    ok, value, cur = True, stop.value, None
                except Exception as exc:
                    ok, value, cur = False, Die(exc), None
            elif op == OP_FAIL:
                ok, value, cur = False, cur._cause, None
            elif op == OP_SERVICE:
                try:
                    ok, value = True, lookup_service(ctx, cur._tag)
                except Exception as exc:  # missing, or its tag's default() failed
                    ok, value = False, Die(exc)
                cur = None
            elif op == OP_ASYNC:
                if sync:
                    if cur.__class__ is YieldNow:  # nothing else to let run: a zero-length sleep is a no-op
                        ok, value, cur = True, None, None
                        continue
                    ok, value, cur = False, Die(
                        AsyncInSyncError(
                            "run_sync cannot run an effect that suspends (sleep, promise, concurrency, timeout); "
                            "use `await Effect.run_promise(...)` instead"
                        )
                    ), None
                    continue
                suspended = True
                run = cur._run
                cur = None
                try:
                    if shield:
                        with anyio.CancelScope(shield=True):
                            exit_ = await run(ctx)
                    else:
                        exit_ = await run(ctx)
                except Exception as exc:  # a primitive is meant to return its exit; what it raises is a defect
                    ok, value = False, Die(exc)
                    continue
                except BaseException as exc:
                    if cancel_exc is None:
                        cancel_exc = anyio.get_cancelled_exc_class()
                    if not isinstance(exc, cancel_exc):
                        raise
                    # Interrupted: unwind with Interrupt, run finalizers shielded, re-raise at the end. (While
                    # shielded, only a native asyncio Task.cancel() gets here: the step it cut short fails with
                    # Interrupt and the remaining finalizers still run.)
                    if cancelled is None:
                        cancelled = exc
                    if not shield:
                        shield += 1
                    ok, value = False, Interrupt()
                    continue
                if isinstance(exit_, Success):
                    ok, value = True, exit_._inner_value
                else:
                    ok, value = False, exit_._inner_value
            elif op == OP_SUSPEND:
                try:
                    cur = cur._thunk()
                    if cur is None:
                        ok, value = False, _non_effect(None)
                except Exception as exc:
                    ok, value, cur = False, Die(exc), None
            elif op == OP_READ_CONTEXT:
                try:
                    cur = cur._f(ctx)
                    if cur is None:
                        ok, value = False, _non_effect(None)
                except Exception as exc:
                    ok, value, cur = False, Die(exc), None
            elif op == OP_PROVIDE:
                stack.append(_RestoreContext(ctx))
                try:
                    ctx = cur._f(ctx)
                    cur = cur._first
                except Exception as exc:
                    ok, value, cur = False, Die(exc), None
            elif op == OP_ON_EXIT:
                stack.append(cur)
                cur = cur._first
            elif op == OP_UNINTERRUPTIBLE:
                shield += 1
                stack.append(_END_UNINTERRUPTIBLE)
                cur = cur._first
            else:  # pragma: no cover - every primitive is handled above
                ok, value, cur = False, Die(AssertionError(f"unknown effect op {op}")), None
            continue

        # ---- deliver the exit to the top frame ----
        if not stack:
            break
        frame = stack[-1]
        if frame.__class__ is gen_type:
            if ok:
                try:
                    cur = frame.send(value)
                    # Fast path: a synchronous step goes straight back into the generator.
                    while True:
                        op = cur._op
                        if op == OP_SUCCEED:
                            cur = frame.send(cur._value)
                        elif op == OP_SYNC:
                            # The thunk runs outside the generator: its StopIteration is a defect, not a return.
                            try:
                                result = cur._thunk()
                            except Exception as exc:
                                ok, value, cur = False, Die(exc), None
                                break
                            cur = frame.send(result)
                        elif op == OP_SERVICE:
                            try:
                                result = lookup_service(ctx, cur._tag)
                            except Exception as exc:  # missing, or its tag's default() failed
                                ok, value, cur = False, Die(exc), None
                                break
                            cur = frame.send(result)
                        else:
                            break
                except StopIteration as stop:
                    stack.pop()
                    value, cur = stop.value, None
                except AttributeError as exc:
                    # Either the body yielded a non-effect (``cur._op`` failed, ``None`` included) or its own
                    # code raised; the failure is delivered to this frame next, which closes the generator
                    # (running its ``finally`` blocks).
                    bad = exc.name == "_op" and exc.obj is cur
                    ok, value, cur = False, (_non_effect(cur) if bad else Die(exc)), None
                except Exception as exc:
                    ok, value, cur = False, Die(exc), None
            else:
                stack.pop()
                try:
                    frame.close()
                except Exception as exc:
                    value = Sequential(value, Die(exc))
            continue
        stack.pop()
        op = frame._op
        if op == OP_FLAT_MAP:
            if ok:
                try:
                    cur = frame._f(value)
                except Exception as exc:
                    ok, value = False, Die(exc)
                else:
                    if cur.__class__ is Succeed:  # the common ``lambda x: succeed(...)``: deliver it right away
                        value, cur = cur._value, None
                    elif cur is None:
                        ok, value = False, _non_effect(None)
        elif op == OP_MAP:
            if ok:
                try:
                    value = frame._f(value)
                except Exception as exc:
                    ok, value = False, Die(exc)
        elif op == OP_FOLD:
            if ok:
                if frame._on_success is not None:
                    try:
                        cur = frame._on_success(value)
                        if cur is None:
                            ok, value = False, _non_effect(None)
                    except Exception as exc:
                        ok, value = False, Die(exc)
            elif cancelled is None:
                try:
                    cur = frame._on_failure(value)
                    if cur is None:
                        value = Sequential(value, _non_effect(None))
                except Exception as exc:
                    value = Sequential(value, Die(exc))
        elif op == OP_ON_EXIT:
            exit_value: Exit = Success(value) if ok else ResultFailure(value)
            stack.append(_AfterFinalizer(ok, value, cancelled))
            # A finalizer is not interrupted (it runs shielded): inside it, error handlers work as anywhere.
            cancelled = None
            shield += 1
            try:
                cur = frame._finalizer(exit_value)
                if cur is None:
                    ok, value = False, _non_effect(None)
            except Exception as exc:
                ok, value = False, Die(exc)
        elif op == _OP_RESTORE_CONTEXT:
            ctx = frame.ctx
        else:  # _OP_AFTER_FINALIZER or _OP_END_UNINTERRUPTIBLE
            shield -= 1
            if op == _OP_AFTER_FINALIZER:
                if ok:
                    ok, value = frame.ok, frame.value
                elif not frame.ok:
                    value = Sequential(frame.value, value)
                if frame.cancelled is not None:
                    cancelled = frame.cancelled
            if not shield and suspended and cancelled is None:
                # Leaving a shielded region: a cancellation that arrived meanwhile was held back; deliver it now
                # rather than letting the rest of the effect run on as if nothing happened.
                if cancel_exc is None:
                    cancel_exc = anyio.get_cancelled_exc_class()
                try:
                    await anyio.lowlevel.checkpoint_if_cancelled()
                except cancel_exc as exc:
                    cancelled = exc
                    shield += 1
                    ok, value = False, (Interrupt() if ok else Sequential(value, Interrupt()))
    if cancelled is not None:
        raise cancelled
    return Success(value) if ok else ResultFailure(value)


def _drive_sync(coro: Coroutine[Any, Any, Exit]) -> Exit:
    try:
        coro.send(None)
    except StopIteration as stop:
        result: Exit = stop.value
        return result
    coro.close()  # pragma: no cover - sync mode never awaits
    raise AssertionError("the interpreter suspended in sync mode")  # pragma: no cover


def run_sync_exit(effect: Effect[B, E2, Any]) -> Result[B, Cause[E2]]:
    return _drive_sync(run_loop(effect, {}, True))


def run_sync(effect: Effect[B, E2, Any]) -> B:
    return unwrap_exit(run_sync_exit(effect))


async def run_promise_exit(effect: Effect[B, E2, Any]) -> Result[B, Cause[E2]]:
    return await run_loop(effect, {}, False)


async def run_promise(effect: Effect[B, E2, Any]) -> B:
    exit_: Result[B, Cause[E2]] = await run_loop(effect, {}, False)
    return unwrap_exit(exit_)


def unwrap_exit(exit_: Result[B, Cause[Any]]) -> B:
    """The success value, or raise: a lone expected error as itself, a lone defect as its exception,
    anything else as :class:`FiberFailure`."""
    if isinstance(exit_, Success):
        value: B = exit_.unwrap()
        return value
    cause: Cause[Any] = exit_.failure()
    if isinstance(cause, Fail) and isinstance(cause.error, BaseException):
        raise cause.error
    if isinstance(cause, Die):
        raise cause.defect
    raise FiberFailure(cause)


async def await_promise(
    thunk: Callable[[], Awaitable[Any]], catch: Callable[[Exception], Any] | None, *, defect: bool
) -> Exit:
    """Await a user coroutine, turning its exception into a defect or an expected error."""
    try:
        return Success(await thunk())
    except Exception as exc:
        if defect:
            return ResultFailure(Die(exc))
        if catch is None:
            return ResultFailure(Fail(UnknownException(error=exc)))
        try:
            return ResultFailure(Fail(catch(exc)))
        except Exception as catch_exc:
            return ResultFailure(Die(catch_exc))


async def run_child(effect: Effect[Any, Any, Any], ctx: Context) -> Exit:
    """Run ``effect`` as a child fiber sharing ``ctx`` (used by concurrency operators)."""
    return await run_loop(effect, ctx, False)
