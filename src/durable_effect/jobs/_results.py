"""The results of client calls: frozen, typed, snake_case; times are epoch milliseconds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class ContinuousStartResult:
    created: bool
    instance_id: str
    status: Literal["running", "terminated"]


@dataclass(frozen=True, slots=True)
class TriggerResult:
    triggered: bool


@dataclass(frozen=True, slots=True)
class ContinuousStatusResult:
    status: Literal["running", "not_found"]
    run_count: int
    next_run_at: int | None


@dataclass(frozen=True, slots=True)
class TerminateResult:
    terminated: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class DebounceAddResult:
    created: bool
    event_count: int
    will_flush_at: int | None
    instance_id: str


@dataclass(frozen=True, slots=True)
class DebounceFlushResult:
    flushed: bool
    event_count: int


@dataclass(frozen=True, slots=True)
class DebounceClearResult:
    cleared: bool
    discarded_events: int


@dataclass(frozen=True, slots=True)
class DebounceStatusResult:
    status: Literal["debouncing", "idle", "not_found"]
    event_count: int
    will_flush_at: int | None


@dataclass(frozen=True, slots=True)
class TaskSendResult:
    created: bool
    instance_id: str
    scheduled_at: int | None


@dataclass(frozen=True, slots=True)
class TaskStatusResult:
    status: Literal["active", "idle", "not_found"]
    scheduled_at: int | None
    event_count: int
    execute_count: int


@dataclass(frozen=True, slots=True)
class TaskStateResult(Generic[S]):
    state: S | None
    scheduled_at: int | None
