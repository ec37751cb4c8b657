"""The effect system: typed, lazy, composable programs in the style of Effect-TS.

``Effect[A, E, R]`` succeeds with ``A``, fails with one of the errors in ``E`` and needs the services in ``R``.
Write programs as generator bodies (``x = yield from eff``) decorated with :meth:`Effect.fn`, handle errors
by tag, provide services with layers, and run with :meth:`Effect.run_sync` or :meth:`Effect.run_promise`.
"""

from collections.abc import Generator
from typing import Any, TypeVar

from returns.result import Result
from typing_extensions import TypeAliasType

from ._internal.cause import Cause, Die, Fail, Interrupt, Parallel, Sequential
from ._internal.clock import Clock, ClockService, RealClock
from ._internal.context import MissingServiceError, Tag
from ._internal.core import Concurrency, Effect, Wrapper
from ._internal.duration import Duration, DurationInput
from ._internal.errors import (
    FiberFailure,
    NoSuchElementException,
    TaggedError,
    TimeoutException,
    UnknownException,
)
from ._internal.layer import Context, Layer
from ._internal.logger import Logger, LoggerService, LogLevel, StdlibLogger
from ._internal.random import Random, RandomService
from ._internal.runtime import AsyncInSyncError, NonEffectYieldedError
from ._internal.schedule import Schedule
from ._internal.scope import Scope, ScopeService

_A = TypeVar("_A")
_E = TypeVar("_E")
_R = TypeVar("_R")

Gen = TypeAliasType("Gen", Generator[Effect[Any, _E, _R], Any, _A], type_params=(_A, _E, _R))
"""The return annotation of a generator body: ``def f() -> Gen[A, E, R]``."""

Exit = TypeAliasType("Exit", Result[_A, Cause[_E]], type_params=(_A, _E))
"""How an effect ended: ``Success(value)`` or ``Failure(cause)`` (a ``returns`` ``Result``)."""

__all__ = [
    "AsyncInSyncError",
    "Cause",
    "Clock",
    "ClockService",
    "Concurrency",
    "Context",
    "Die",
    "Duration",
    "DurationInput",
    "Effect",
    "Exit",
    "Fail",
    "FiberFailure",
    "Gen",
    "Interrupt",
    "Layer",
    "LogLevel",
    "Logger",
    "LoggerService",
    "MissingServiceError",
    "NoSuchElementException",
    "NonEffectYieldedError",
    "Parallel",
    "Random",
    "RandomService",
    "RealClock",
    "Schedule",
    "Scope",
    "ScopeService",
    "Sequential",
    "StdlibLogger",
    "Tag",
    "TaggedError",
    "TimeoutException",
    "UnknownException",
    "Wrapper",
]
