"""What handlers see: typed contexts whose storage members are effects and whose facts are attributes.

A context works on the run's *draft* (state, schedule, termination); the engine commits the draft only when
the handler succeeds, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Never, TypeVar

from ..effect import Clock, Duration, DurationInput, Effect

S = TypeVar("S")
I = TypeVar("I")  # noqa: E741
E = TypeVar("E")

FlushReason = Literal["max_events", "flush_after", "manual"]
RunSource = Literal["on_event", "execute"]

class Draft:
    """The mutable working copy of one run: state, schedule and termination, committed on success."""

    __slots__ = ("now", "schedule", "state", "terminate_reason", "terminated")

    def __init__(self, state: Any, schedule: int | None, now: int) -> None:
        self.state = state
        self.schedule = schedule
        self.terminated = False
        self.terminate_reason: str | None = None
        self.now = now


class _StateAccess(Generic[S]):
    _draft: Draft

    def set_state(self, state: S) -> Effect[None, Never, Never]:
        """Replace the state (written when the run succeeds)."""

        def write() -> None:
            self._draft.state = state

        return Effect.sync(write)

    def update_state(self, f: Callable[[S], S]) -> Effect[None, Never, Never]:
        """Replace the state with ``f(state)``."""

        def write() -> None:
            self._draft.state = f(self._draft.state)

        return Effect.sync(write)

    def terminate(self, reason: str | None = None) -> Effect[None, Never, Never]:
        """End the instance when this run finishes: its alarm is cancelled and its storage deleted."""

        def mark() -> None:
            self._draft.terminated = True
            self._draft.terminate_reason = reason

        return Effect.sync(mark)


class ContinuousContext(_StateAccess[S]):
    """Context of a continuous job's ``execute``."""

    def __init__(
        self, draft: Draft, *, instance_id: str, job_name: str, run_count: int, attempt: int, is_retry: bool
    ) -> None:
        self._draft = draft
        self.instance_id = instance_id
        self.job_name = job_name
        self.run_count = run_count
        self.attempt = attempt
        self.is_retry = is_retry

    @property
    def state(self) -> Effect[S, Never, Never]:
        """The current state (reflects ``set_state`` earlier in this run)."""
        return Effect.sync(lambda: self._draft.state)


@dataclass(frozen=True, slots=True)
class DebounceEventContext(Generic[I, S]):
    """Context of a debounce ``on_event``: it returns the new batch state."""

    event: I
    state: S | None
    event_count: int
    instance_id: str


class DebounceExecuteContext(Generic[S]):
    """Context of a debounce ``execute`` (the flush)."""

    def __init__(
        self,
        state: S,
        *,
        event_count: int,
        flush_reason: FlushReason,
        debounce_started_at: int,
        attempt: int,
        is_retry: bool,
        instance_id: str,
        job_name: str,
    ) -> None:
        self._state = state
        self.event_count = event_count
        self.flush_reason = flush_reason
        self.debounce_started_at = debounce_started_at
        self.attempt = attempt
        self.is_retry = is_retry
        self.instance_id = instance_id
        self.job_name = job_name

    @property
    def state(self) -> Effect[S, Never, Never]:
        """The batch state built by ``on_event``."""
        return Effect.succeed(self._state)


class _TaskContext(_StateAccess[S]):
    def __init__(
        self,
        draft: Draft,
        *,
        instance_id: str,
        job_name: str,
        event_count: int,
        execute_count: int,
        created_at: int,
        is_first_event: bool,
    ) -> None:
        self._draft = draft
        self.instance_id = instance_id
        self.job_name = job_name
        self.event_count = event_count
        self.execute_count = execute_count
        self.created_at = created_at
        self.is_first_event = is_first_event

    @property
    def state(self) -> Effect[S | None, Never, Never]:
        """The current state, ``None`` until first set (reflects ``set_state`` earlier in this run)."""
        return Effect.sync(lambda: self._draft.state)

    @property
    def scheduled_time(self) -> int | None:
        """When ``execute`` is due (epoch ms), as this run has left it so far."""
        return self._draft.schedule

    def schedule(self, when: DurationInput | _dt.datetime) -> Effect[None, Never, Never]:
        """Schedule ``execute``: a duration from now or an aware ``datetime`` (replaces any schedule)."""
        if isinstance(when, _dt.datetime):
            if when.tzinfo is None:
                raise ValueError(f"schedule({when!r}): a datetime must be timezone-aware")
            at = int(when.timestamp() * 1_000)
            return self.schedule_at(at)
        delay = Duration.decode(when).to_millis()

        def write(now: int) -> None:
            self._draft.schedule = _alarm_time(int(now + delay), f"schedule({when!r})")

        return Clock.current_time_millis().map(write)  # from the time of the call (a run may have slept)

    def schedule_at(self, epoch_ms: int) -> Effect[None, Never, Never]:
        """Schedule ``execute`` at an absolute epoch time in milliseconds."""
        at = _alarm_time(int(epoch_ms), f"schedule_at({epoch_ms!r})")

        def write() -> None:
            self._draft.schedule = at

        return Effect.sync(write)

    def cancel_schedule(self) -> Effect[None, Never, Never]:
        """Remove the schedule, if any."""

        def write() -> None:
            self._draft.schedule = None

        return Effect.sync(write)


MAX_ALARM_MS = 9_223_372_036_854
"""The latest alarm time (epoch ms, 2262-04-11): a Cloudflare alarm is held as int64 nanoseconds, and every
backend must be able to arm what a handler schedules."""


def _alarm_time(epoch_ms: int, what: str) -> int:
    if not -MAX_ALARM_MS <= epoch_ms <= MAX_ALARM_MS:
        raise ValueError(f"{what}: {epoch_ms} ms is beyond the alarm range (±{MAX_ALARM_MS} ms from the epoch)")
    return epoch_ms


class TaskEventContext(_TaskContext[S]):
    """Context of a task's ``on_event``."""


class TaskExecuteContext(_TaskContext[S]):
    """Context of a task's ``execute``."""


class TaskIdleContext(_TaskContext[S]):
    """Context of a task's ``on_idle``, run when a run leaves nothing scheduled."""

    idle_reason: RunSource


class TaskErrorContext(_TaskContext[S], Generic[S, E]):
    """Context of a task's ``on_error``: ``error_source`` says which handler failed."""

    error_source: RunSource
