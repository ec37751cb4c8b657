"""The small core of primitives every effect is built from.

An :class:`Effect` is an immutable description; the interpreter in :mod:`.runtime` walks it with an explicit
stack, so neither deep ``flat_map`` chains nor long generator loops grow the Python stack. Each primitive is a
subclass with an integer ``_op`` that the interpreter dispatches on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Never, ParamSpec, TypeVar, overload

from returns.future import FutureResult
from returns.interfaces.bindable import BindableN
from returns.interfaces.lashable import LashableN
from returns.interfaces.mappable import MappableN
from returns.io import IOResult
from returns.maybe import Maybe
from returns.primitives.hkt import SupportsKind3
from returns.result import Failure as ResultFailure
from returns.result import Result
from returns.result import Success as ResultSuccess

from .cause import Cause, Die, Fail, Parallel, Sequential

if TYPE_CHECKING:
    from .context import Context, Tag
    from .duration import DurationInput
    from .errors import NoSuchElementException, TimeoutException, UnknownException
    from .layer import Context as ServiceContext
    from .layer import Layer
    from .schedule import Schedule
    from .scope import Scope

A = TypeVar("A", covariant=True)
E = TypeVar("E", covariant=True)
R = TypeVar("R", covariant=True)
B = TypeVar("B")
C = TypeVar("C")
T = TypeVar("T")
E2 = TypeVar("E2")
R2 = TypeVar("R2")
# One error/requirement variable per element of a tuple passed to ``all``, so the result is their union.
D = TypeVar("D")
E3 = TypeVar("E3")
R3 = TypeVar("R3")
E4 = TypeVar("E4")
R4 = TypeVar("R4")
E5 = TypeVar("E5")
R5 = TypeVar("R5")
X = TypeVar("X")
I = TypeVar("I")  # noqa: E741 - a service tag's identity, as in Effect-TS
S = TypeVar("S")
Out = TypeVar("Out")
P = ParamSpec("P")

# Operation codes, ordered roughly by how hot they are in the interpreter loop.
OP_SUCCEED = 0
OP_SYNC = 1
OP_FLAT_MAP = 2
OP_MAP = 3
OP_GEN = 4
OP_FAIL = 5
OP_FOLD = 6
OP_SERVICE = 7
OP_ASYNC = 8
OP_SUSPEND = 9
OP_READ_CONTEXT = 10
OP_PROVIDE = 11
OP_ON_EXIT = 12
OP_UNINTERRUPTIBLE = 13

Exit = Result[Any, Cause[Any]]

Concurrency = int | Literal["unbounded"]
"""How many effects ``all``/``for_each`` run at once: a positive number or ``"unbounded"``."""


# returns declares its interfaces with invariant type variables; Effect is immutable, so covariance is sound.
class Effect(  # type: ignore[type-var]
    SupportsKind3["Effect[Any, Any, Any]", A, E, R],
    MappableN[A, E, R],
    BindableN[A, E, R],
    LashableN[A, E, R],
):
    """A lazy, immutable description of a program that succeeds with ``A``, fails with ``E`` and needs ``R``.

    Nothing happens until it is run with :meth:`run_sync` or :meth:`run_promise`; running it twice runs it
    twice. Build effects with the static constructors, chain them with the methods or with generator syntax
    (``x = yield from eff`` inside an :meth:`fn`/:meth:`gen` body).
    """

    __slots__ = ()
    _op: int

    void: ClassVar[Effect[None, Never, Never]]
    """An effect that succeeds with ``None``."""
    never: ClassVar[Effect[Never, Never, Never]]
    """An effect that never completes (until interrupted)."""

    def __iter__(self) -> Generator[Effect[A, E, R], Any, A]:
        # ``x = yield from eff`` hands the effect to the interpreter, which sends its value back.
        return (yield self)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<Effect {type(self).__name__}>"

    # ---------------------------------------------------------------- constructors

    @staticmethod
    def succeed(value: B) -> Effect[B, Never, Never]:
        """An effect that succeeds with ``value``."""
        return Succeed(value)

    @staticmethod
    def fail(error: E2) -> Effect[Never, E2, Never]:
        """An effect that fails with the expected error ``error``."""
        return Failure(Fail(error))

    @staticmethod
    def fail_cause(cause: Cause[E2]) -> Effect[Never, E2, Never]:
        """An effect that fails with a whole :class:`Cause`."""
        return Failure(cause)

    @staticmethod
    def die(defect: BaseException) -> Effect[Never, Never, Never]:
        """An effect that fails with a defect (an unexpected exception, not part of ``E``)."""
        return Failure(Die(defect))

    @staticmethod
    def sync(thunk: Callable[[], B]) -> Effect[B, Never, Never]:
        """Run a side-effecting function when the effect runs; an exception it raises is a defect."""
        return Sync(thunk)

    @overload
    @staticmethod
    def try_(thunk: Callable[[], B]) -> Effect[B, UnknownException, Never]: ...
    @overload
    @staticmethod
    def try_(thunk: Callable[[], B], catch: Callable[[Exception], E2]) -> Effect[B, E2, Never]: ...
    @staticmethod
    def try_(thunk: Callable[[], B], catch: Callable[[Exception], Any] | None = None) -> Effect[B, Any, Never]:
        """Like :meth:`sync`, but an exception becomes an expected error (``UnknownException`` or ``catch(exc)``)."""
        from .errors import attempt

        return Suspend(lambda: attempt(thunk, catch))

    @staticmethod
    def promise(thunk: Callable[[], Awaitable[B]]) -> Effect[B, Never, Never]:
        """Await ``thunk()`` when the effect runs; an exception it raises is a defect."""
        await_promise = _runtime().await_promise
        return Async(lambda _ctx: await_promise(thunk, None, defect=True))

    @overload
    @staticmethod
    def try_promise(thunk: Callable[[], Awaitable[B]]) -> Effect[B, UnknownException, Never]: ...
    @overload
    @staticmethod
    def try_promise(
        thunk: Callable[[], Awaitable[B]], catch: Callable[[Exception], E2]
    ) -> Effect[B, E2, Never]: ...
    @staticmethod
    def try_promise(
        thunk: Callable[[], Awaitable[B]], catch: Callable[[Exception], Any] | None = None
    ) -> Effect[B, Any, Never]:
        """Like :meth:`promise`, but an exception becomes an expected error (``UnknownException`` or ``catch(exc)``)."""
        from .runtime import await_promise

        return Async(lambda _ctx: await_promise(thunk, catch, defect=False))

    @staticmethod
    def suspend(thunk: Callable[[], Effect[B, E2, R2]]) -> Effect[B, E2, R2]:
        """Build the effect lazily, each time it runs."""
        return Suspend(thunk)

    @staticmethod
    def sleep(duration: DurationInput) -> Effect[None, Never, Never]:
        """Sleep through the :class:`Clock` service (so a ``TestClock`` drives it)."""
        from .clock import sleep

        return sleep(duration)

    @staticmethod
    def service(tag: type[Tag[I, S]]) -> Effect[S, Never, I]:
        """Access the service of ``tag``; ``tag`` joins the requirements ``R``."""
        return ServiceOp(tag)

    @staticmethod
    def gen(body: Callable[[], Generator[Effect[Any, E2, R2], Any, B]]) -> Effect[B, E2, R2]:
        """An effect from a zero-argument generator function; a fresh generator is made on every run."""
        return GenOp(body, (), None)

    @staticmethod
    def fn(body: Callable[P, Generator[Effect[Any, E2, R2], Any, B]]) -> Callable[P, Effect[B, E2, R2]]:
        """Turn a generator function into a function that returns an effect (decorator)."""
        import functools

        @functools.wraps(body)
        def make(*args: P.args, **kwargs: P.kwargs) -> Effect[B, E2, R2]:
            return GenOp(body, args, kwargs or None)

        return make

    @staticmethod
    def from_result(result: Result[B, E2]) -> Effect[B, E2, Never]:
        """``Success(a)`` → succeed with ``a``; ``Failure(e)`` → fail with ``e``."""
        from .interop import from_result

        return from_result(result)

    @staticmethod
    def from_io_result(result: IOResult[B, E2]) -> Effect[B, E2, Never]:
        """Convert a ``returns`` ``IOResult``."""
        from .interop import from_io_result

        return from_io_result(result)

    @staticmethod
    def from_future_result(result: FutureResult[B, E2]) -> Effect[B, E2, Never]:
        """Convert a ``returns`` ``FutureResult`` (awaited when the effect runs)."""
        from .interop import from_future_result

        return from_future_result(result)

    @overload
    @staticmethod
    def from_maybe(maybe: Maybe[B]) -> Effect[B, NoSuchElementException, Never]: ...
    @overload
    @staticmethod
    def from_maybe(maybe: Maybe[B], on_nothing: Callable[[], E2]) -> Effect[B, E2, Never]: ...
    @staticmethod
    def from_maybe(maybe: Maybe[B], on_nothing: Callable[[], Any] | None = None) -> Effect[B, Any, Never]:
        """``Some(a)`` → succeed with ``a``; ``Nothing`` → fail with ``on_nothing()`` (``NoSuchElementException``)."""
        from .interop import from_maybe

        return from_maybe(maybe, on_nothing)

    @staticmethod
    def log(*message: object) -> Effect[None, Never, Never]:
        """Log at INFO through the :class:`Logger` service, with the current annotations and spans."""
        from .logger import LogLevel, log

        return log(LogLevel.INFO, message)

    @staticmethod
    def log_trace(*message: object) -> Effect[None, Never, Never]:
        from .logger import LogLevel, log

        return log(LogLevel.TRACE, message)

    @staticmethod
    def log_debug(*message: object) -> Effect[None, Never, Never]:
        from .logger import LogLevel, log

        return log(LogLevel.DEBUG, message)

    @staticmethod
    def log_info(*message: object) -> Effect[None, Never, Never]:
        from .logger import LogLevel, log

        return log(LogLevel.INFO, message)

    @staticmethod
    def log_warning(*message: object) -> Effect[None, Never, Never]:
        from .logger import LogLevel, log

        return log(LogLevel.WARNING, message)

    @staticmethod
    def log_error(*message: object) -> Effect[None, Never, Never]:
        from .logger import LogLevel, log

        return log(LogLevel.ERROR, message)

    @staticmethod
    def log_fatal(*message: object) -> Effect[None, Never, Never]:
        from .logger import LogLevel, log

        return log(LogLevel.FATAL, message)

    @staticmethod
    def annotate_logs(**annotations: object) -> Wrapper:
        """A wrapper adding ``annotations`` to every log line of the wrapped effect."""
        from .logger import annotate

        return Wrapper(lambda eff: annotate(eff, annotations))

    @overload
    @staticmethod
    def all(  # type: ignore[overload-overlap]
        effects: tuple[Effect[B, E2, R2], Effect[C, E3, R3]], *, concurrency: Concurrency = 1
    ) -> Effect[tuple[B, C], E2 | E3, R2 | R3]: ...
    @overload
    @staticmethod
    def all(  # type: ignore[overload-overlap]
        effects: tuple[Effect[B, E2, R2], Effect[C, E3, R3], Effect[T, E4, R4]], *, concurrency: Concurrency = 1
    ) -> Effect[tuple[B, C, T], E2 | E3 | E4, R2 | R3 | R4]: ...
    @overload
    @staticmethod
    def all(  # type: ignore[overload-overlap]
        effects: tuple[Effect[B, E2, R2], Effect[C, E3, R3], Effect[T, E4, R4], Effect[D, E5, R5]],
        *,
        concurrency: Concurrency = 1,
    ) -> Effect[tuple[B, C, T, D], E2 | E3 | E4 | E5, R2 | R3 | R4 | R5]: ...
    @overload
    @staticmethod
    def all(  # type: ignore[overload-overlap]
        effects: tuple[Effect[B, E2, R2], ...], *, concurrency: Concurrency = 1
    ) -> Effect[tuple[B, ...], E2, R2]: ...
    @overload
    @staticmethod
    def all(  # type: ignore[overload-overlap]
        effects: Mapping[T, Effect[B, E2, R2]], *, concurrency: Concurrency = 1
    ) -> Effect[dict[T, B], E2, R2]: ...
    @overload
    @staticmethod
    def all(effects: Iterable[Effect[B, E2, R2]], *, concurrency: Concurrency = 1) -> Effect[list[B], E2, R2]: ...
    @staticmethod
    def all(effects: Any, *, concurrency: Concurrency = 1) -> Effect[Any, Any, Any]:
        """Run effects and collect their values in the same shape (list, tuple or dict); the first failure wins."""
        from .concurrency import all_

        return all_(effects, concurrency)

    @staticmethod
    def for_each(
        items: Iterable[T], f: Callable[[T], Effect[B, E2, R2]], *, concurrency: Concurrency = 1
    ) -> Effect[list[B], E2, R2]:
        """Run ``f`` on every item and collect the values in order."""
        from .concurrency import all_

        return Suspend(lambda: all_([f(item) for item in items], concurrency))

    @staticmethod
    def race(first: Effect[B, E2, R2], second: Effect[C, X, I]) -> Effect[B | C, E2 | X, R2 | I]:
        """Run both; the first success wins and the other is interrupted. If both fail, the cause holds both."""
        from .concurrency import race

        return race(first, second)

    @staticmethod
    def acquire_release(
        acquire: Effect[B, E2, R2], release: Callable[[B, Exit], Effect[Any, Never, I]]
    ) -> Effect[B, E2, R2 | I | Scope]:
        """Acquire uninterruptibly and register ``release(resource, exit)`` with the enclosing :class:`Scope`."""
        from .scope import acquire_release

        return acquire_release(acquire, release)

    @staticmethod
    def scoped(effect: Effect[B, E2, R2]) -> Effect[B, E2, R2]:
        """Give ``effect`` a fresh :class:`Scope`, closed (finalizers in reverse order) when it ends."""
        from .scope import scoped

        return scoped(effect)

    @staticmethod
    def uninterruptible(effect: Effect[B, E2, R2]) -> Effect[B, E2, R2]:
        """Run ``effect`` shielded from interruption."""
        return Uninterruptible(effect)

    # ---------------------------------------------------------------- running

    @staticmethod
    def run_sync(effect: Effect[B, E2, Never]) -> B:
        """Run without an event loop and return the value; raise the failure (see :func:`run_promise`)."""
        from .runtime import run_sync

        return run_sync(effect)

    @staticmethod
    def run_sync_exit(effect: Effect[B, E2, Never]) -> Result[B, Cause[E2]]:
        """Run without an event loop and return the :data:`Exit`."""
        from .runtime import run_sync_exit

        return run_sync_exit(effect)

    @staticmethod
    async def run_promise(effect: Effect[B, E2, Never]) -> B:
        """Run under anyio (asyncio or trio) and return the value.

        A single expected error is raised as itself, a defect re-raises its exception, any other cause raises
        :class:`FiberFailure`. Cancelling the caller interrupts the effect (its finalizers run first).
        """
        result: B = await _runtime().run_promise(effect)
        return result

    @staticmethod
    async def run_promise_exit(effect: Effect[B, E2, Never]) -> Result[B, Cause[E2]]:
        """Run under anyio and return the :data:`Exit`."""
        exit_: Result[B, Cause[E2]] = await _runtime().run_promise_exit(effect)
        return exit_

    # ---------------------------------------------------------------- sequencing

    def map(self, f: Callable[[A], B]) -> Effect[B, E, R]:
        """Transform the success value."""
        return Map(self, f)

    def flat_map(self, f: Callable[[A], Effect[B, E2, R2]]) -> Effect[B, E | E2, R | R2]:
        """Continue with the effect ``f`` returns for the success value."""
        return FlatMap(self, f)

    def bind(self, f: Callable[[A], Effect[B, E2, R2]]) -> Effect[B, E | E2, R | R2]:  # type: ignore[override]
        """``returns``' name for :meth:`flat_map`."""
        return FlatMap(self, f)

    def and_then(self, next: Effect[B, E2, R2] | Callable[[A], Effect[B, E2, R2]]) -> Effect[B, E | E2, R | R2]:
        """Continue with ``next`` (an effect, or a function of the success value returning one)."""
        if isinstance(next, Effect):
            effect = next
            return FlatMap(self, lambda _: effect)
        return FlatMap(self, next)

    def tap(self, f: Callable[[A], Effect[Any, E2, R2]]) -> Effect[A, E | E2, R | R2]:
        """Run ``f(value)`` for its effects and keep the original value."""
        return FlatMap(self, lambda a: Map(f(a), lambda _: a))

    def tap_error(self, f: Callable[[E], Effect[Any, E2, R2]]) -> Effect[A, E | E2, R | R2]:
        """Run ``f(error)`` on an expected error and keep failing with it."""

        def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
            failures = cause.failures()
            if not failures or cause.is_interrupted():
                return Failure(cause)
            return FlatMap(f(failures[0]), lambda _: Failure(cause))

        return Fold(self, on_failure, None)

    def as_(self, value: B) -> Effect[B, E, R]:
        """Replace the success value."""
        return Map(self, lambda _: value)

    def zip(self, other: Effect[B, E2, R2]) -> Effect[tuple[A, B], E | E2, R | R2]:
        """Run both in order and pair the values."""
        return FlatMap(self, lambda a: Map(other, lambda b: (a, b)))

    # ---------------------------------------------------------------- errors

    def map_error(self, f: Callable[[E], E2]) -> Effect[A, E2, R]:
        """Transform the expected error."""

        def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
            return Failure(map_failures(cause, f))

        return Fold(self, on_failure, None)

    def catch_all(self, handler: Callable[[E], Effect[B, E2, R2]]) -> Effect[A | B, E2, R | R2]:
        """Recover from any expected error; defects and interruption pass through."""
        return Fold(self, _recover_first_failure(handler, _always), None)

    def lash(self, handler: Callable[[E], Effect[B, E2, R2]]) -> Effect[A | B, E2, R | R2]:  # type: ignore[override]
        """``returns``' name for :meth:`catch_all`."""
        return self.catch_all(handler)

    def catch_all_cause(self, handler: Callable[[Cause[E]], Effect[B, E2, R2]]) -> Effect[A | B, E2, R | R2]:
        """Recover from any failure, defects included (interruption still passes through)."""
        return Fold(self, handler, None)

    @overload
    def catch_tag(self, tag: type[X], handler: Callable[[X], Effect[B, E2, R2]]) -> Effect[A | B, E | E2, R | R2]: ...
    @overload
    def catch_tag(self, tag: str, handler: Callable[[E], Effect[B, E2, R2]]) -> Effect[A | B, E | E2, R | R2]: ...
    def catch_tag(
        self, tag: type[Any] | str, handler: Callable[[Any], Effect[B, E2, R2]]
    ) -> Effect[A | B, E | E2, R | R2]:
        """Recover from the error with this class (or ``_tag`` string); other errors pass through.

        With the ``durable_effect.mypy`` plugin the caught tag leaves ``E``.
        """
        from .errors import tag_matcher

        return Fold(self, _recover_first_failure(handler, tag_matcher(tag)), None)

    def catch_tags(self, **handlers: Callable[[E], Effect[B, E2, R2]]) -> Effect[A | B, E | E2, R | R2]:
        """Recover from several tagged errors at once: ``catch_tags(NotFound=h1, Timeout=h2)``."""
        from .errors import tag_matcher

        matchers = [(tag_matcher(tag), handler) for tag, handler in handlers.items()]

        def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
            failures = cause.failures()
            if failures and _recoverable(cause):
                for matches, handler in matchers:
                    if matches(failures[0]):
                        return handler(failures[0])
            return Failure(cause)

        return Fold(self, on_failure, None)

    def catch_if(
        self, predicate: Callable[[E], bool], handler: Callable[[E], Effect[B, E2, R2]]
    ) -> Effect[A | B, E | E2, R | R2]:
        """Recover from the expected errors for which ``predicate`` holds."""
        return Fold(self, _recover_first_failure(handler, predicate), None)

    def or_else(self, that: Effect[B, E2, R2] | Callable[[], Effect[B, E2, R2]]) -> Effect[A | B, E2, R | R2]:
        """On an expected error, run ``that`` instead."""
        fallback: Callable[[], Effect[B, E2, R2]] = (lambda: that) if isinstance(that, Effect) else that

        def recover(_error: object) -> Effect[B, E2, R2]:
            return fallback()

        return self.catch_all(recover)

    def either(self) -> Effect[Result[A, E], Never, R]:
        """Succeed with ``Success(a)`` or ``Failure(e)`` (a ``returns`` ``Result``); defects still fail."""
        from returns.result import Failure as ResultFailure
        from returns.result import Success as ResultSuccess

        on_failure = _recover_first_failure(lambda e: Succeed(ResultFailure(e)), _always)
        return Fold(self, on_failure, _succeed_with(ResultSuccess))

    def option(self) -> Effect[Maybe[A], Never, R]:
        """Succeed with ``Some(a)``, or ``Nothing`` on an expected error; defects still fail."""
        from returns.maybe import Nothing, Some

        return Fold(self, _recover_first_failure(lambda _: Succeed(Nothing), _always), _succeed_with(Some))

    def exit(self) -> Effect[Result[A, Cause[E]], Never, R]:
        """Succeed with this effect's :data:`Exit` (interruption still interrupts)."""
        return Fold(self, _exit_of_failure, _exit_of_success)

    def match(self, *, on_failure: Callable[[E], B], on_success: Callable[[A], C]) -> Effect[B | C, Never, R]:
        """Fold an expected error or the success value into one value."""
        return Fold(
            self,
            _recover_first_failure(lambda e: Succeed(on_failure(e)), _always),
            lambda a: Succeed(on_success(a)),
        )

    # ---------------------------------------------------------------- time and repetition

    @overload
    def retry(self, schedule: Schedule[Any, Any], *, times: int | None = None) -> Effect[A, E, R]: ...
    @overload
    def retry(self, schedule: None = None, *, times: int) -> Effect[A, E, R]: ...
    def retry(self, schedule: Schedule[Any, Any] | None = None, *, times: int | None = None) -> Effect[A, E, R]:
        """Retry on expected errors following ``schedule`` (fed with the error) and/or up to ``times`` times."""
        from .schedule import retry

        return retry(self, schedule, times)

    def repeat(self, schedule: Schedule[Out, A]) -> Effect[Out, E, R]:
        """Run again after each success following ``schedule``; succeed with the schedule's last output."""
        from .schedule import repeat

        return repeat(self, schedule)

    def timeout(self, duration: DurationInput) -> Effect[A, E | TimeoutException, R]:
        """Fail with ``TimeoutException`` (interrupting this effect) if it takes longer than ``duration``."""
        from .concurrency import timeout

        return timeout(self, duration)

    # ---------------------------------------------------------------- resources

    def ensuring(self, finalizer: Effect[Any, Never, R2]) -> Effect[A, E, R | R2]:
        """Run ``finalizer`` after this effect, whatever its outcome (also on interruption)."""
        return OnExit(self, lambda _exit: finalizer)

    def on_exit(self, f: Callable[[Result[A, Cause[E]]], Effect[Any, Never, R2]]) -> Effect[A, E, R | R2]:
        """Run ``f(exit)`` after this effect, whatever its outcome (also on interruption)."""
        return OnExit(self, f)

    # ---------------------------------------------------------------- services

    def provide_service(self, tag: type[Tag[I, S]], service: S) -> Effect[A, E, R]:
        """Provide ``service`` for ``tag``; with the mypy plugin ``tag`` leaves ``R``."""

        def extend(ctx: Context) -> Context:
            return {**ctx, tag: service}

        return Provide(self, extend)

    @overload
    def provide(self, layer: Layer[Any, E2, R2], /) -> Effect[A, E | E2, R | R2]: ...
    @overload
    def provide(self, context: ServiceContext[Any], /) -> Effect[A, E, R]: ...
    def provide(self, layer_or_context: Layer[Any, Any, Any] | ServiceContext[Any], /) -> Effect[A, Any, Any]:
        """Provide a ``Layer`` or a ``Context`` to this effect.

        A layer is built (each layer object in it once), this effect runs with its services, then its resources
        are released; a context's services are provided as they are. Anything else is a ``TypeError`` here.
        With the mypy plugin the services provided leave ``R``.
        """
        from .layer import provide_any

        return provide_any(self, layer_or_context)

    # ---------------------------------------------------------------- logging

    def with_log_span(self, name: str) -> Effect[A, E, R]:
        """Log lines inside carry ``name`` with the time elapsed since the span started."""
        from .logger import with_log_span

        return with_log_span(self, name)

    # ---------------------------------------------------------------- plumbing

    @overload
    def pipe(self, f1: Callable[[Effect[A, E, R]], B], /) -> B: ...
    @overload
    def pipe(self, f1: Callable[[Effect[A, E, R]], B], f2: Callable[[B], C], /) -> C: ...
    @overload
    def pipe(self, f1: Callable[[Effect[A, E, R]], B], f2: Callable[[B], C], f3: Callable[[C], T], /) -> T: ...
    @overload
    def pipe(
        self, f1: Callable[[Effect[A, E, R]], B], f2: Callable[[B], C], f3: Callable[[C], T], f4: Callable[[T], X], /
    ) -> X: ...
    def pipe(self, *fns: Callable[[Any], Any]) -> Any:
        """Apply functions left to right: ``eff.pipe(f, g)`` is ``g(f(eff))``."""
        result: Any = self
        for f in fns:
            result = f(result)
        return result

    def to_future_result(self: Effect[B, E2, Never]) -> FutureResult[B, E2]:
        """Convert to a ``returns`` ``FutureResult`` (for effects that need no services)."""
        from .interop import to_future_result

        return to_future_result(self)


class Wrapper:
    """A function from effect to effect that keeps the effect's type (``annotate_logs`` and friends)."""

    __slots__ = ("_apply",)

    def __init__(self, apply: Callable[[Effect[Any, Any, Any]], Effect[Any, Any, Any]]) -> None:
        self._apply = apply

    def __call__(self, effect: Effect[B, E2, R2]) -> Effect[B, E2, R2]:
        return self._apply(effect)


def _always(_error: object) -> bool:
    return True


def _exit_of_success(value: Any) -> Effect[Any, Any, Any]:
    return Succeed(ResultSuccess(value))


def _exit_of_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
    return Succeed(ResultFailure(cause))


def _succeed_with(f: Callable[[Any], Any]) -> Callable[[Any], Effect[Any, Any, Any]]:
    return lambda a: Succeed(f(a))


def _recoverable(cause: Cause[Any]) -> bool:
    """A composite cause is recovered from only when it holds no defect and no interruption (as in Effect-TS):
    handling its expected error must not hide a defect next to it."""
    return not cause.defects() and not cause.is_interrupted()


def _recover_first_failure(
    handler: Callable[[Any], Effect[Any, Any, Any]], matches: Callable[[Any], bool]
) -> Callable[[Cause[Any]], Effect[Any, Any, Any]]:
    """Handle the first expected error of a cause when it matches; pass defects and interruption on."""

    def on_failure(cause: Cause[Any]) -> Effect[Any, Any, Any]:
        if isinstance(cause, Fail):
            if matches(cause.error):
                return handler(cause.error)
            return Failure(cause)
        failures = cause.failures()
        if failures and _recoverable(cause) and matches(failures[0]):
            return handler(failures[0])
        return Failure(cause)

    return on_failure


def map_failures(cause: Cause[Any], f: Callable[[Any], Any]) -> Cause[Any]:
    """The same cause with every expected error passed through ``f``."""
    if isinstance(cause, Fail):
        return Fail(f(cause.error))
    if isinstance(cause, Sequential):
        return Sequential(map_failures(cause.left, f), map_failures(cause.right, f))
    if isinstance(cause, Parallel):
        return Parallel(map_failures(cause.left, f), map_failures(cause.right, f))
    return cause




class Succeed(Effect[A, Any, Any]):
    __slots__ = ("_value",)
    _op = OP_SUCCEED

    def __init__(self, value: A) -> None:
        self._value = value


class Failure(Effect[Any, E, Any]):
    __slots__ = ("_cause",)
    _op = OP_FAIL

    def __init__(self, cause: Cause[E]) -> None:
        self._cause = cause


class Sync(Effect[A, Any, Any]):
    __slots__ = ("_thunk",)
    _op = OP_SYNC

    def __init__(self, thunk: Callable[[], A]) -> None:
        self._thunk = thunk


class Suspend(Effect[A, E, R]):
    __slots__ = ("_thunk",)
    _op = OP_SUSPEND

    def __init__(self, thunk: Callable[[], Effect[A, E, R]]) -> None:
        self._thunk = thunk


class FlatMap(Effect[A, E, R]):
    __slots__ = ("_f", "_first")
    _op = OP_FLAT_MAP

    def __init__(self, first: Effect[Any, Any, Any], f: Callable[[Any], Effect[Any, Any, Any]]) -> None:
        self._first = first
        self._f = f


class Map(Effect[A, E, R]):
    __slots__ = ("_f", "_first")
    _op = OP_MAP

    def __init__(self, first: Effect[Any, Any, Any], f: Callable[[Any], Any]) -> None:
        self._first = first
        self._f = f


class Fold(Effect[A, E, R]):
    """Continue with ``on_failure(cause)`` or ``on_success(value)``; interruption is never caught here."""

    __slots__ = ("_first", "_on_failure", "_on_success")
    _op = OP_FOLD

    def __init__(
        self,
        first: Effect[Any, Any, Any],
        on_failure: Callable[[Cause[Any]], Effect[Any, Any, Any]],
        on_success: Callable[[Any], Effect[Any, Any, Any]] | None,
    ) -> None:
        self._first = first
        self._on_failure = on_failure
        self._on_success = on_success


class OnExit(Effect[A, E, R]):
    """Run ``finalizer(exit)`` uninterruptibly after ``first`` ends in any way, then keep ``first``'s exit."""

    __slots__ = ("_finalizer", "_first")
    _op = OP_ON_EXIT

    def __init__(
        self, first: Effect[Any, Any, Any], finalizer: Callable[[Exit], Effect[Any, Any, Any]]
    ) -> None:
        self._first = first
        self._finalizer = finalizer


class GenOp(Effect[A, E, R]):
    """A generator body: a fresh generator is made from ``factory(*args)`` on every run."""

    __slots__ = ("_args", "_factory", "_kwargs")
    _op = OP_GEN

    def __init__(self, factory: Callable[..., Generator[Any, Any, Any]], args: tuple[Any, ...], kwargs: Any) -> None:
        self._factory = factory
        self._args = args
        self._kwargs = kwargs


class Async(Effect[A, E, R]):
    """Suspend the fiber on ``run(context)``, an awaitable that yields the exit to continue with."""

    __slots__ = ("_run",)
    _op = OP_ASYNC

    def __init__(self, run: Callable[[Context], Awaitable[Exit]]) -> None:
        self._run = run


class YieldNow(Async[None, Never, Never]):
    """Let other tasks run (an anyio checkpoint). Under ``run_sync`` nothing else runs, so it does nothing."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(_cede)


async def _cede(_ctx: Context) -> Exit:
    import anyio

    await anyio.lowlevel.checkpoint()
    return _SUCCESS_NONE


class ServiceOp(Effect[A, Any, R]):
    __slots__ = ("_tag",)
    _op = OP_SERVICE

    def __init__(self, tag: Any) -> None:
        self._tag = tag


class ReadContext(Effect[A, E, R]):
    __slots__ = ("_f",)
    _op = OP_READ_CONTEXT

    def __init__(self, f: Callable[[Context], Effect[A, E, R]]) -> None:
        self._f = f


class Provide(Effect[A, E, R]):
    """Run ``first`` with the context replaced by ``f(context)``; the old context is restored after."""

    __slots__ = ("_f", "_first")
    _op = OP_PROVIDE

    def __init__(self, first: Effect[Any, Any, Any], f: Callable[[Context], Context]) -> None:
        self._first = first
        self._f = f


class Uninterruptible(Effect[A, E, R]):
    __slots__ = ("_first",)
    _op = OP_UNINTERRUPTIBLE

    def __init__(self, first: Effect[A, E, R]) -> None:
        self._first = first


Effect.void = Succeed(None)
_SUCCESS_NONE: Exit = Result.from_value(None)


async def _wait_forever(_ctx: Context) -> Exit:
    import anyio

    await anyio.sleep_forever()
    raise AssertionError("sleep_forever returned")  # pragma: no cover


Effect.never = Async(_wait_forever)

# The interpreter imports this module, so this one imports it on first use; the hot methods (running, promise)
# then reach it through this global instead of an import statement on every call.
_runtime_module: ModuleType | None = None


def _runtime() -> ModuleType:
    global _runtime_module
    if _runtime_module is None:
        from . import runtime

        _runtime_module = runtime
    return _runtime_module
