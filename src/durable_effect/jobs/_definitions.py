"""Job definitions: ``Continuous.make``, ``Debounce.make`` and ``Task.make`` and what they hold."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Never, TypeVar, overload

from ..effect import Duration, DurationInput, Effect, Layer, LogLevel
from ..effect._internal.schedule import cron_next
from ..schema import Schema, to_schema
from ._contexts import (
    ContinuousContext,
    DebounceEventContext,
    DebounceExecuteContext,
    TaskErrorContext,
    TaskEventContext,
    TaskExecuteContext,
    TaskIdleContext,
)
from ._retry import RetryConfig

S = TypeVar("S")
I = TypeVar("I")  # noqa: E741
E = TypeVar("E")
R = TypeVar("R")

JobType = Literal["continuous", "debounce", "task"]
LoggingOption = bool | LogLevel


def log_level(option: LoggingOption) -> LogLevel:
    """``False`` → errors only, ``True`` → debug, a ``LogLevel`` as is."""
    if option is True:
        return LogLevel.DEBUG
    if option is False:
        return LogLevel.ERROR
    if isinstance(option, LogLevel):
        return option
    raise TypeError(f"logging must be True, False or a LogLevel, got {option!r}")


@dataclass(frozen=True, slots=True)
class ContinuousSchedule:
    """When a continuous job runs: every fixed interval (from the end of the previous run) or on a cron."""

    kind: Literal["every", "cron"]
    interval_ms: float = 0
    expression: str = ""
    tz: str | None = None

    def next_run_after(self, now_ms: int) -> int:
        if self.kind == "every":
            return math.ceil(now_ms + self.interval_ms)  # up: a fractional interval still moves past now
        return int(cron_next(self.expression, self.tz)(now_ms))

    def describe(self) -> str:
        if self.kind == "every":
            return f"every {Duration(self.interval_ms)}"
        return f"cron {self.expression!r}" + (f" ({self.tz})" if self.tz else "")


@dataclass(frozen=True, slots=True, eq=False)
class ContinuousDefinition(Generic[S, E]):
    """A recurring job; ``S`` is its state, ``E`` the errors its ``execute`` may fail with."""

    state_schema: Schema[S]
    schedule: ContinuousSchedule
    execute: Callable[[ContinuousContext[S]], Effect[Any, E, Any]]
    start_immediately: bool
    retry: RetryConfig | None
    logging: LogLevel
    services: Layer[Any, Any, Any] | None
    job_type: Literal["continuous"] = "continuous"


@dataclass(frozen=True, slots=True, eq=False)
class DebounceDefinition(Generic[I, S, E]):
    """Batches events per key; ``I`` is the event, ``S`` the batch state."""

    event_schema: Schema[I]
    state_schema: Schema[S]
    execute: Callable[[DebounceExecuteContext[S]], Effect[Any, E, Any]]
    on_event: Callable[[DebounceEventContext[I, S]], Effect[S, E, Any]] | None
    flush_after_ms: float
    max_events: int | None
    retry: RetryConfig | None
    logging: LogLevel
    services: Layer[Any, Any, Any] | None
    job_type: Literal["debounce"] = "debounce"


@dataclass(frozen=True, slots=True, eq=False)
class TaskDefinition(Generic[S, I, E]):
    """A per-key state machine driven by events and its own alarm."""

    state_schema: Schema[S]
    event_schema: Schema[I]
    on_event: Callable[[I, TaskEventContext[S]], Effect[Any, E, Any]]
    execute: Callable[[TaskExecuteContext[S]], Effect[Any, E, Any]]
    on_idle: Callable[[TaskIdleContext[S]], Effect[Any, E, Any]] | None
    on_error: Callable[[Any, TaskErrorContext[S, E]], Effect[Any, Any, Any]] | None
    logging: LogLevel
    services: Layer[Any, Any, Any] | None
    job_type: Literal["task"] = "task"


JobDefinition = ContinuousDefinition[Any, Any] | DebounceDefinition[Any, Any, Any] | TaskDefinition[Any, Any, Any]


class Continuous:
    """Recurring jobs: on an interval (``every``) or a cron expression (``cron``)."""

    @overload
    @staticmethod
    def make(
        *,
        state_schema: Schema[S] | type[S],
        schedule: ContinuousSchedule,
        execute: Callable[[ContinuousContext[S]], Effect[Any, E, Never]],
        start_immediately: bool = True,
        retry: RetryConfig | None = None,
        logging: LoggingOption = False,
        services: None = None,
    ) -> ContinuousDefinition[S, E]: ...
    @overload
    @staticmethod
    def make(
        *,
        state_schema: Schema[S] | type[S],
        schedule: ContinuousSchedule,
        execute: Callable[[ContinuousContext[S]], Effect[Any, E, R]],
        start_immediately: bool = True,
        retry: RetryConfig | None = None,
        logging: LoggingOption = False,
        services: Layer[R, Any, Never],
    ) -> ContinuousDefinition[S, E]: ...
    @staticmethod
    def make(
        *,
        state_schema: Schema[S] | type[S],
        schedule: ContinuousSchedule,
        execute: Callable[[ContinuousContext[S]], Effect[Any, E, Any]],
        start_immediately: bool = True,
        retry: RetryConfig | None = None,
        logging: LoggingOption = False,
        services: Layer[Any, Any, Never] | None = None,
    ) -> ContinuousDefinition[S, E]:
        """A continuous job. Handlers need nothing (``R = Never``) unless ``services`` provides what they need."""
        if not isinstance(schedule, ContinuousSchedule):
            raise TypeError("schedule must come from Continuous.every(...) or Continuous.cron(...)")
        return ContinuousDefinition(
            state_schema=to_schema(state_schema),
            schedule=schedule,
            execute=execute,
            start_immediately=start_immediately,
            retry=retry,
            logging=log_level(logging),
            services=services,
        )

    @staticmethod
    def every(interval: DurationInput) -> ContinuousSchedule:
        """Run every ``interval`` (at least 1 millisecond), measured from the end of the previous run."""
        ms = Duration.decode(interval).to_millis()
        if not 1 <= ms < math.inf:  # alarms are in whole milliseconds: a shorter interval would not move on
            raise ValueError(f"Continuous.every needs a finite interval of at least 1 millisecond, got {interval!r}")
        return ContinuousSchedule("every", interval_ms=ms)

    @staticmethod
    def cron(expression: str, tz: str | None = None) -> ContinuousSchedule:
        """Run at the times matching ``expression`` (5 fields, or 6 with seconds first) in the IANA zone ``tz``."""
        cron_next(expression, tz)  # validate now: a bad expression or zone fails at definition time
        return ContinuousSchedule("cron", expression=expression, tz=tz)


class Debounce:
    """Collect events per key and flush them as one batch after a delay or ``max_events`` events."""

    @overload
    @staticmethod
    def make(
        *,
        event_schema: Schema[I] | type[I],
        execute: Callable[[DebounceExecuteContext[S]], Effect[Any, E, Never]],
        flush_after: DurationInput,
        max_events: int | None = None,
        state_schema: Schema[S] | type[S] | None = None,
        on_event: Callable[[DebounceEventContext[I, S]], Effect[S, E, Never]] | None = None,
        retry: RetryConfig | None = None,
        logging: LoggingOption = False,
        services: None = None,
    ) -> DebounceDefinition[I, S, E]: ...
    @overload
    @staticmethod
    def make(
        *,
        event_schema: Schema[I] | type[I],
        execute: Callable[[DebounceExecuteContext[S]], Effect[Any, E, R]],
        flush_after: DurationInput,
        max_events: int | None = None,
        state_schema: Schema[S] | type[S] | None = None,
        on_event: Callable[[DebounceEventContext[I, S]], Effect[S, E, R]] | None = None,
        retry: RetryConfig | None = None,
        logging: LoggingOption = False,
        services: Layer[R, Any, Never],
    ) -> DebounceDefinition[I, S, E]: ...
    @staticmethod
    def make(
        *,
        event_schema: Schema[I] | type[I],
        execute: Callable[[DebounceExecuteContext[S]], Effect[Any, E, Any]],
        flush_after: DurationInput,
        max_events: int | None = None,
        state_schema: Schema[S] | type[S] | None = None,
        on_event: Callable[[DebounceEventContext[I, S]], Effect[S, E, Any]] | None = None,
        retry: RetryConfig | None = None,
        logging: LoggingOption = False,
        services: Layer[Any, Any, Never] | None = None,
    ) -> DebounceDefinition[I, S, E]:
        """A debounce job. Handlers need nothing (``R = Never``) unless ``services`` provides what they need."""
        flush_ms = Duration.decode(flush_after).to_millis()
        if flush_ms <= 0:
            raise ValueError(f"Debounce flush_after must be positive, got {flush_after!r}")
        if max_events is not None and max_events < 1:
            raise ValueError(f"Debounce max_events must be at least 1, got {max_events}")
        events: Schema[I] = to_schema(event_schema)
        state: Schema[Any] = events if state_schema is None else to_schema(state_schema)
        return DebounceDefinition(
            event_schema=events,
            state_schema=state,
            execute=execute,
            on_event=on_event,
            flush_after_ms=flush_ms,
            max_events=max_events,
            retry=retry,
            logging=log_level(logging),
            services=services,
        )


class Task:
    """A per-key state machine: events go to ``on_event``; ``execute`` runs when its own alarm fires."""

    @overload
    @staticmethod
    def make(
        *,
        state_schema: Schema[S] | type[S],
        event_schema: Schema[I] | type[I],
        on_event: Callable[[I, TaskEventContext[S]], Effect[Any, E, Never]],
        execute: Callable[[TaskExecuteContext[S]], Effect[Any, E, Never]],
        on_idle: Callable[[TaskIdleContext[S]], Effect[Any, E, Never]] | None = None,
        on_error: Callable[[E, TaskErrorContext[S, E]], Effect[Any, Any, Never]] | None = None,
        logging: LoggingOption = False,
        services: None = None,
    ) -> TaskDefinition[S, I, E]: ...
    @overload
    @staticmethod
    def make(
        *,
        state_schema: Schema[S] | type[S],
        event_schema: Schema[I] | type[I],
        on_event: Callable[[I, TaskEventContext[S]], Effect[Any, E, R]],
        execute: Callable[[TaskExecuteContext[S]], Effect[Any, E, R]],
        on_idle: Callable[[TaskIdleContext[S]], Effect[Any, E, R]] | None = None,
        on_error: Callable[[E, TaskErrorContext[S, E]], Effect[Any, Any, R]] | None = None,
        logging: LoggingOption = False,
        services: Layer[R, Any, Never],
    ) -> TaskDefinition[S, I, E]: ...
    @staticmethod
    def make(
        *,
        state_schema: Schema[S] | type[S],
        event_schema: Schema[I] | type[I],
        on_event: Callable[[I, TaskEventContext[S]], Effect[Any, E, Any]],
        execute: Callable[[TaskExecuteContext[S]], Effect[Any, E, Any]],
        on_idle: Callable[[TaskIdleContext[S]], Effect[Any, E, Any]] | None = None,
        on_error: Callable[[E, TaskErrorContext[S, E]], Effect[Any, Any, Any]] | None = None,
        logging: LoggingOption = False,
        services: Layer[Any, Any, Never] | None = None,
    ) -> TaskDefinition[S, I, E]:
        """A task job. Handlers need nothing (``R = Never``) unless ``services`` provides what they need."""
        return TaskDefinition(
            state_schema=to_schema(state_schema),
            event_schema=to_schema(event_schema),
            on_event=on_event,
            execute=execute,
            on_idle=on_idle,
            on_error=on_error,
            logging=log_level(logging),
            services=services,
        )
