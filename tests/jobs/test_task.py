"""Task jobs: events, the self-scheduled alarm, on_idle, on_error, trigger, terminate, status and get_state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal, Never

import pytest
from pydantic import BaseModel

from durable_effect import Clock, Effect, Gen, TaggedError
from durable_effect.jobs import (
    MAX_ALARM_MS,
    DurableJobs,
    ExecutionError,
    InstanceNotFoundError,
    Task,
    TaskErrorContext,
    TaskEventContext,
    TaskExecuteContext,
    TaskIdleContext,
    TaskSendResult,
    TaskStateResult,
    TaskStatusResult,
    TerminateResult,
    TriggerResult,
    ValidationError,
    create_durable_jobs,
)
from durable_effect.testing import JobsHarness

from ._support import MINUTE, START, run


class Cmd(BaseModel):
    kind: Literal["schedule", "schedule_at", "schedule_dt", "cancel", "fail", "die", "stop", "note"]
    delay_ms: int = 0


class Note(BaseModel):
    notes: list[str] = []


class Refused(TaggedError):
    why: str


def log_line(trace: list[str], text: str) -> Effect[None, Never, Never]:
    return Effect.sync(lambda: trace.append(text))


def task_jobs(
    trace: list[str],
    *,
    with_idle: bool = False,
    with_error: bool = False,
    execute_reschedules: bool = False,
    idle_schedules: bool = False,
) -> DurableJobs:
    @Effect.fn
    def on_event(cmd: Cmd, ctx: TaskEventContext[Note]) -> Gen[None, Refused, Never]:
        state = yield from ctx.state
        yield from log_line(
            trace,
            f"event {cmd.kind} first={ctx.is_first_event} events={ctx.event_count} "
            f"executes={ctx.execute_count} state={None if state is None else state.notes}",
        )
        notes = [] if state is None else state.notes
        yield from ctx.set_state(Note(notes=[*notes, cmd.kind]))
        after = yield from ctx.state
        assert after is not None and after.notes[-1] == cmd.kind  # state reflects set_state in the same run
        now = yield from Clock.current_time_millis()
        if cmd.kind == "schedule":
            yield from ctx.schedule(cmd.delay_ms)
        elif cmd.kind == "schedule_at":
            yield from ctx.schedule_at(now + cmd.delay_ms)
        elif cmd.kind == "schedule_dt":
            yield from ctx.schedule(dt.datetime.fromtimestamp((now + cmd.delay_ms) / 1000, tz=dt.UTC))
        elif cmd.kind == "cancel":
            yield from ctx.cancel_schedule()
        elif cmd.kind == "fail":
            yield from ctx.schedule("1 hour")
            yield from Refused(why="fail requested")
        elif cmd.kind == "die":
            raise RuntimeError("handler crashed")
        elif cmd.kind == "stop":
            yield from ctx.terminate()
        yield from log_line(trace, f"scheduled_time={ctx.scheduled_time}")

    @Effect.fn
    def execute(ctx: TaskExecuteContext[Note]) -> Gen[None, Never, Never]:
        state = yield from ctx.state
        now = yield from Clock.current_time_millis()
        yield from log_line(
            trace,
            f"execute at={now - START} scheduled_time={ctx.scheduled_time} executes={ctx.execute_count} "
            f"state={None if state is None else state.notes}",
        )
        yield from ctx.update_state(lambda s: Note(notes=[*s.notes, "executed"]))
        if execute_reschedules:
            yield from ctx.schedule("5 minutes")

    @Effect.fn
    def on_idle(ctx: TaskIdleContext[Note]) -> Gen[None, Never, Never]:
        state = yield from ctx.state
        yield from log_line(trace, f"idle reason={ctx.idle_reason} state={None if state is None else state.notes}")
        if idle_schedules:
            yield from ctx.schedule("1 minute")

    @Effect.fn
    def on_error(error: Refused, ctx: TaskErrorContext[Note, Refused]) -> Gen[None, Never, Never]:
        state = yield from ctx.state
        yield from log_line(
            trace,
            f"error source={ctx.error_source} error={type(error).__name__} "
            f"state={None if state is None else state.notes} scheduled_time={ctx.scheduled_time}",
        )
        yield from ctx.set_state(Note(notes=["recovered"]))

    job = Task.make(
        state_schema=Note,
        event_schema=Cmd,
        on_event=on_event,
        execute=execute,
        on_idle=on_idle if with_idle else None,
        on_error=on_error if with_error else None,
    )
    return create_durable_jobs({"orders": job})


def client_of(h: JobsHarness) -> Any:
    return h.client.task("orders")


@pytest.mark.anyio
async def test_send_creates_and_schedules(jobs_harness: Callable[..., JobsHarness]) -> None:
    trace: list[str] = []
    h = jobs_harness(task_jobs(trace), start_time=START)
    orders = client_of(h)

    first = await run(orders.send("o1", event={"kind": "note"}))
    second = await run(orders.send("o1", event={"kind": "schedule", "delay_ms": 5 * MINUTE}))

    assert first == TaskSendResult(created=True, instance_id="task:orders:o1", scheduled_at=None)
    assert second == TaskSendResult(created=False, instance_id="task:orders:o1", scheduled_at=START + 5 * MINUTE)
    assert trace == [
        "event note first=True events=1 executes=0 state=None",
        "scheduled_time=None",
        "event schedule first=False events=2 executes=0 state=['note']",
        f"scheduled_time={START + 5 * MINUTE}",
    ]
    assert await run(orders.status("o1")) == TaskStatusResult("active", START + 5 * MINUTE, 2, 0)
    state = await run(orders.get_state("o1"))
    assert state == TaskStateResult(state=Note(notes=["note", "schedule"]), scheduled_at=START + 5 * MINUTE)
    [scheduled] = h.events_of("task.scheduled")
    assert scheduled["scheduled_at"] == START + 5 * MINUTE and scheduled["trigger"] == "event"
    assert [e["type"] for e in h.events] == ["job.started", "task.scheduled"]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["schedule", "schedule_at", "schedule_dt"])
async def test_schedule_forms(jobs_harness: Callable[..., JobsHarness], kind: str) -> None:
    h = jobs_harness(task_jobs([]), start_time=START)
    result = await run(client_of(h).send("o1", event={"kind": kind, "delay_ms": 90_000}))
    assert result.scheduled_at == START + 90_000
    assert h.alarm_of("task:orders:o1") == START + 90_000


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["schedule", "schedule_at"])
async def test_a_schedule_beyond_the_alarm_range_fails_the_handler(
    jobs_harness: Callable[..., JobsHarness], kind: str
) -> None:
    h = jobs_harness(task_jobs([]), start_time=START)
    orders = client_of(h)
    with pytest.raises(ExecutionError) as info:  # the job's own code asked for it: not a storage failure
        await run(orders.send("o1", event={"kind": kind, "delay_ms": 10**19}))
    assert "beyond the alarm range" in info.value.cause
    assert (await run(orders.status("o1"))).status == "not_found" and h.alarm_of("task:orders:o1") is None
    fine = await run(orders.send("o1", event={"kind": kind, "delay_ms": MAX_ALARM_MS - START}))
    assert fine.scheduled_at == MAX_ALARM_MS


@pytest.mark.anyio
async def test_alarm_clears_the_schedule_before_execute(jobs_harness: Callable[..., JobsHarness]) -> None:
    trace: list[str] = []
    h = jobs_harness(task_jobs(trace), start_time=START)
    orders = client_of(h)
    await run(orders.send("o1", event={"kind": "schedule", "delay_ms": MINUTE}))
    trace.clear()

    await h.advance("1 minute")

    assert trace == [f"execute at={MINUTE} scheduled_time=None executes=1 state=['schedule']"]
    assert await run(orders.status("o1")) == TaskStatusResult("idle", None, 1, 1)
    assert await run(orders.get_state("o1")) == TaskStateResult(Note(notes=["schedule", "executed"]), None)
    [executed] = h.events_of("job.executed")
    assert executed["run_count"] == 1 and executed["attempt"] == 1
    await h.advance("1 hour")
    assert len(trace) == 1


@pytest.mark.anyio
async def test_execute_may_schedule_again(jobs_harness: Callable[..., JobsHarness]) -> None:
    trace: list[str] = []
    h = jobs_harness(task_jobs(trace, execute_reschedules=True), start_time=START)
    orders = client_of(h)
    await run(orders.send("o1", event={"kind": "schedule", "delay_ms": MINUTE}))

    await h.advance("12 minutes")

    assert [line.split()[1] for line in trace if line.startswith("execute")] == [
        f"at={MINUTE}",
        f"at={6 * MINUTE}",
        f"at={11 * MINUTE}",
    ]
    assert await run(orders.status("o1")) == TaskStatusResult("active", START + 16 * MINUTE, 1, 3)
    assert [e["trigger"] for e in h.events_of("task.scheduled")] == ["event", "execute", "execute", "execute"]


@pytest.mark.anyio
async def test_cancel_schedule(jobs_harness: Callable[..., JobsHarness]) -> None:
    trace: list[str] = []
    h = jobs_harness(task_jobs(trace), start_time=START)
    orders = client_of(h)
    await run(orders.send("o1", event={"kind": "schedule", "delay_ms": MINUTE}))

    result = await run(orders.send("o1", event={"kind": "cancel"}))

    assert result.scheduled_at is None
    assert h.alarm_of("task:orders:o1") is None
    await h.advance("1 hour")
    assert not any(line.startswith("execute") for line in trace)
    assert (await run(orders.status("o1"))).status == "idle"


@pytest.mark.anyio
async def test_on_idle_runs_after_every_run_that_leaves_nothing_scheduled(
    jobs_harness: Callable[..., JobsHarness],
) -> None:
    trace: list[str] = []
    h = jobs_harness(task_jobs(trace, with_idle=True), start_time=START)
    orders = client_of(h)

    await run(orders.send("o1", event={"kind": "note"}))
    await run(orders.send("o1", event={"kind": "schedule", "delay_ms": MINUTE}))  # scheduled: no on_idle
    await h.advance("1 minute")

    idle = [line for line in trace if line.startswith("idle")]
    assert idle == [
        "idle reason=on_event state=['note']",
        "idle reason=execute state=['note', 'schedule', 'executed']",
    ]


@pytest.mark.anyio
async def test_on_idle_may_schedule(jobs_harness: Callable[..., JobsHarness]) -> None:
    trace: list[str] = []
    h = jobs_harness(task_jobs(trace, with_idle=True, idle_schedules=True), start_time=START)
    orders = client_of(h)

    result = await run(orders.send("o1", event={"kind": "note"}))
    assert result.scheduled_at == START + MINUTE
    await h.advance("2 minutes")

    assert [line.split()[1] for line in trace if line.startswith("execute")] == [f"at={MINUTE}", f"at={2 * MINUTE}"]
    assert [e["trigger"] for e in h.events_of("task.scheduled")] == ["idle", "idle", "idle"]


@pytest.mark.anyio
async def test_failing_handler_without_on_error_discards_the_run(jobs_harness: Callable[..., JobsHarness]) -> None:
    trace: list[str] = []
    h = jobs_harness(task_jobs(trace), start_time=START)
    orders = client_of(h)
    await run(orders.send("o1", event={"kind": "note"}))
    h.reset_storage_ops()

    with pytest.raises(ExecutionError) as info:
        await run(orders.send("o1", event={"kind": "fail"}))

    assert info.value.instance_id == "task:orders:o1" and "Refused" in info.value.cause
    assert h.storage_ops("task:orders:o1")["writes"] == 0
    assert await run(orders.status("o1")) == TaskStatusResult("idle", None, 1, 0)
    assert await run(orders.get_state("o1")) == TaskStateResult(Note(notes=["note"]), None)
    with pytest.raises(ExecutionError) as crashed:
        await run(orders.send("o1", event={"kind": "die"}))
    assert "handler crashed" in crashed.value.cause
    assert [e["type"] for e in h.events_of("job.failed")] == ["job.failed", "job.failed"]


@pytest.mark.anyio
async def test_failing_first_event_creates_nothing(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(task_jobs([]), start_time=START)
    orders = client_of(h)
    with pytest.raises(ExecutionError):
        await run(orders.send("o1", event={"kind": "fail"}))
    assert (await run(orders.status("o1"))).status == "not_found"
    assert h.alarm_of("task:orders:o1") is None


@pytest.mark.anyio
async def test_on_error_takes_a_failing_handler(jobs_harness: Callable[..., JobsHarness]) -> None:
    trace: list[str] = []
    h = jobs_harness(task_jobs(trace, with_error=True), start_time=START)
    orders = client_of(h)
    await run(orders.send("o1", event={"kind": "note"}))
    trace.clear()

    result = await run(orders.send("o1", event={"kind": "fail"}))

    # The failed run's state and schedule were discarded; on_error's changes are kept.
    assert result == TaskSendResult(created=False, instance_id="task:orders:o1", scheduled_at=None)
    assert trace[-1] == "error source=on_event error=Refused state=['note'] scheduled_time=None"
    assert await run(orders.get_state("o1")) == TaskStateResult(Note(notes=["recovered"]), None)
    assert await run(orders.status("o1")) == TaskStatusResult("idle", None, 2, 0)
    [failed] = h.events_of("job.failed")
    assert failed["error"]["kind"] == "Refused" and failed["will_retry"] is False


@pytest.mark.anyio
async def test_on_error_for_execute(jobs_harness: Callable[..., JobsHarness]) -> None:
    trace: list[str] = []

    @Effect.fn
    def on_event(cmd: Cmd, ctx: TaskEventContext[Note]) -> Gen[None, Never, Never]:
        yield from ctx.set_state(Note(notes=["ok"]))
        yield from ctx.schedule("1 minute")

    @Effect.fn
    def execute(ctx: TaskExecuteContext[Note]) -> Gen[None, Refused, Never]:
        yield from ctx.set_state(Note(notes=["lost"]))
        yield from Refused(why="no stock")

    @Effect.fn
    def on_error(error: Refused, ctx: TaskErrorContext[Note, Refused]) -> Gen[None, Never, Never]:
        state = yield from ctx.state
        trace.append(f"{ctx.error_source}: {error.why} state={state}")
        yield from ctx.schedule("10 minutes")

    job = Task.make(state_schema=Note, event_schema=Cmd, on_event=on_event, execute=execute, on_error=on_error)
    h = jobs_harness(create_durable_jobs({"t": job}), start_time=START)
    client = h.client.task(job)
    await run(client.send("x", event=Cmd(kind="note")))

    await h.advance("1 minute")

    assert trace == ["execute: no stock state=notes=['ok']"]
    assert await run(client.get_state("x")) == TaskStateResult(Note(notes=["ok"]), START + 11 * MINUTE)
    assert await run(client.status("x")) == TaskStatusResult("active", START + 11 * MINUTE, 1, 1)


@pytest.mark.anyio
async def test_failing_execute_on_an_alarm_without_on_error(jobs_harness: Callable[..., JobsHarness]) -> None:
    @Effect.fn
    def on_event(cmd: Cmd, ctx: TaskEventContext[Note]) -> Gen[None, Never, Never]:
        yield from ctx.set_state(Note(notes=["ok"]))
        yield from ctx.schedule("1 minute")

    def execute(ctx: TaskExecuteContext[Note]) -> Effect[None, Never, Never]:
        return Effect.die(RuntimeError("down"))

    job = Task.make(state_schema=Note, event_schema=Cmd, on_event=on_event, execute=execute)
    h = jobs_harness(create_durable_jobs({"t": job}), start_time=START)
    client = h.client.task(job)
    await run(client.send("x", event=Cmd(kind="note")))

    await h.advance("1 minute")

    assert await run(client.status("x")) == TaskStatusResult("idle", None, 1, 1)
    [failed] = h.events_of("job.failed")
    assert failed["error"]["kind"] == "defect" and failed["run_count"] == 1
    with pytest.raises(ExecutionError):
        await run(client.trigger("x"))


@pytest.mark.anyio
async def test_trigger_runs_execute_and_keeps_the_pending_schedule(jobs_harness: Callable[..., JobsHarness]) -> None:
    trace: list[str] = []
    h = jobs_harness(task_jobs(trace), start_time=START)
    orders = client_of(h)
    await run(orders.send("o1", event={"kind": "schedule", "delay_ms": 10 * MINUTE}))
    await h.advance("1 minute")
    trace.clear()

    assert await run(orders.trigger("o1")) == TriggerResult(triggered=True)

    assert trace == [f"execute at={MINUTE} scheduled_time={START + 10 * MINUTE} executes=1 state=['schedule']"]
    assert await run(orders.status("o1")) == TaskStatusResult("active", START + 10 * MINUTE, 1, 1)
    await h.advance("9 minutes")
    assert len(trace) == 2
    assert await run(orders.trigger("nobody")) == TriggerResult(triggered=False)


@pytest.mark.anyio
async def test_terminate(jobs_harness: Callable[..., JobsHarness]) -> None:
    trace: list[str] = []
    h = jobs_harness(task_jobs(trace), start_time=START)
    orders = client_of(h)
    await run(orders.send("o1", event={"kind": "schedule", "delay_ms": MINUTE}))

    assert await run(orders.terminate("o1")) == TerminateResult(terminated=True, reason=None)

    assert h.alarm_of("task:orders:o1") is None
    assert await run(orders.status("o1")) == TaskStatusResult("not_found", None, 0, 0)
    with pytest.raises(InstanceNotFoundError):
        await run(orders.get_state("o1"))
    await h.advance("5 minutes")
    assert not any(line.startswith("execute") for line in trace)
    assert (await run(orders.terminate("o1"))).terminated is False
    assert [e["type"] for e in h.events_of("job.terminated")] == ["job.terminated"]


@pytest.mark.anyio
async def test_ctx_terminate(jobs_harness: Callable[..., JobsHarness]) -> None:
    h = jobs_harness(task_jobs([], with_idle=True, idle_schedules=True), start_time=START)
    orders = client_of(h)
    await run(orders.send("o1", event={"kind": "schedule", "delay_ms": MINUTE}))

    result = await run(orders.send("o1", event={"kind": "stop"}))

    assert result.scheduled_at is None
    assert (await run(orders.status("o1"))).status == "not_found"
    assert h.alarm_of("task:orders:o1") is None
    [terminated] = h.events_of("job.terminated")
    assert terminated["run_count"] == 0


@pytest.mark.anyio
async def test_invalid_event_is_rejected(jobs_harness: Callable[..., JobsHarness]) -> None:
    trace: list[str] = []
    h = jobs_harness(task_jobs(trace), start_time=START)
    with pytest.raises(ValidationError):
        await run(client_of(h).send("o1", event={"kind": "dance"}))
    assert trace == []
    assert h.storage_ops("task:orders:o1")["writes"] == 0


@pytest.mark.anyio
async def test_created_at_and_counts_in_contexts(jobs_harness: Callable[..., JobsHarness]) -> None:
    seen: list[tuple[str, int, int, int, str, str]] = []

    @Effect.fn
    def on_event(cmd: Cmd, ctx: TaskEventContext[Note]) -> Gen[None, Never, Never]:
        seen.append(("event", ctx.created_at, ctx.event_count, ctx.execute_count, ctx.instance_id, ctx.job_name))
        yield from ctx.schedule("1 minute")

    @Effect.fn
    def execute(ctx: TaskExecuteContext[Note]) -> Gen[None, Never, Never]:
        seen.append(("execute", ctx.created_at, ctx.event_count, ctx.execute_count, ctx.instance_id, ctx.job_name))
        yield from Effect.void

    job = Task.make(state_schema=Note, event_schema=Cmd, on_event=on_event, execute=execute)
    h = jobs_harness(create_durable_jobs({"t": job}), start_time=START)
    await run(h.client.task(job).send("x", event=Cmd(kind="note")))
    await h.advance("1 minute")
    await run(h.client.task(job).send("x", event=Cmd(kind="note")))

    assert seen == [
        ("event", START, 1, 0, "task:t:x", "t"),
        ("execute", START, 1, 1, "task:t:x", "t"),
        ("event", START, 2, 1, "task:t:x", "t"),
    ]
