"""The jobs the host tests serve (importable by a server subprocess as ``tests.host.app:jobs``).

- ``notes`` (Debounce): collects notes; flushes an hour after the first, or at 1,000 notes.
- ``pinger`` (Task): counts events; an event with ``at`` (epoch ms) arms the alarm there; the alarm run
  records that it fired and when.
- ``ticker`` (Continuous): counts its runs, every hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Never

from durable_effect import Clock, Effect, Gen
from durable_effect.jobs import (
    Continuous,
    ContinuousContext,
    Debounce,
    DebounceEventContext,
    DebounceExecuteContext,
    Task,
    TaskEventContext,
    TaskExecuteContext,
    create_durable_jobs,
)


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Notes:
    texts: list[str] = field(default_factory=list)


def collect(ctx: DebounceEventContext[Note, Notes]) -> Effect[Notes, Never, Never]:
    notes = ctx.state or Notes()
    return Effect.succeed(Notes(texts=[*notes.texts, ctx.event.text]))


def deliver(ctx: DebounceExecuteContext[Notes]) -> Effect[None, Never, Never]:
    return Effect.succeed(None)


notes = Debounce.make(
    event_schema=Note,
    state_schema=Notes,
    on_event=collect,
    execute=deliver,
    flush_after="1 hour",
    max_events=1_000,
)


@dataclass(frozen=True)
class Ping:
    at: int | None = None


@dataclass(frozen=True)
class Pings:
    count: int = 0
    due: int | None = None
    fired: int = 0
    fired_at: int | None = None


@Effect.fn
def on_ping(event: Ping, ctx: TaskEventContext[Pings]) -> Gen[None, Never, Never]:
    pings = (yield from ctx.state) or Pings()
    pings = replace(pings, count=pings.count + 1)
    if event.at is not None:
        pings = replace(pings, due=event.at)
        yield from ctx.schedule_at(event.at)
    yield from ctx.set_state(pings)


@Effect.fn
def on_alarm(ctx: TaskExecuteContext[Pings]) -> Gen[None, Never, Never]:
    pings = (yield from ctx.state) or Pings()
    now = yield from Clock.current_time_millis()
    yield from ctx.set_state(replace(pings, fired=pings.fired + 1, fired_at=now))


pinger = Task.make(state_schema=Pings, event_schema=Ping, on_event=on_ping, execute=on_alarm)


@dataclass(frozen=True)
class Ticks:
    runs: int = 0


@Effect.fn
def tick(ctx: ContinuousContext[Ticks]) -> Gen[None, Never, Never]:
    ticks = yield from ctx.state
    yield from ctx.set_state(Ticks(runs=ticks.runs + 1))


ticker = Continuous.make(state_schema=Ticks, schedule=Continuous.every("1 hour"), execute=tick)

jobs = create_durable_jobs({"notes": notes, "pinger": pinger, "ticker": ticker})
