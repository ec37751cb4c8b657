"""The host in process on real SQLite files: scheduling, restarts, crash-safe alarms, memory, telemetry."""

from __future__ import annotations

import asyncio
import gc
import json
import math
import sqlite3
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Never

import anyio
import pytest

from durable_effect import Effect
from durable_effect.host import AcceleratedClock, Host, HostError, running_host
from durable_effect.host._host import _release_lock, _take_lock
from durable_effect.host._scheduler import _ALARM_RUN, AlarmNotDue
from durable_effect.jobs import (
    Debounce,
    DebounceExecuteContext,
    InstanceNotFoundError,
    StorageError,
    TrackerConfig,
    ValidationError,
    create_durable_jobs,
)
from durable_effect.jobs._protocol import Request
from durable_effect.testing import TestClock

from ._support import eventually, run
from .app import Note, Ping, Pings, Ticks, jobs, notes, pinger, ticker

T0 = 1_700_000_000_000
HOUR = 3_600_000


def sql(db: Path, query: str, *args: Any) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(db, timeout=10)
    try:
        rows = connection.execute(query, args).fetchall()
        connection.commit()
        return rows
    finally:
        connection.close()


def fired_count(db: Path) -> int:
    return int(sql(db, "SELECT COUNT(*) FROM instances WHERE json_extract(record, '$.state.fired') >= 1")[0][0])


@pytest.mark.anyio
async def test_the_three_job_kinds_run_on_an_accelerated_clock(db: Path) -> None:
    clock = AcceleratedClock(36_000)  # an hour in 0.1 s
    async with Host(jobs, db, clock=clock) as host:
        client = host.client()
        await run(client.continuous(ticker).start("t", input=Ticks(runs=0)))
        await run(client.debounce(notes).add("n", event=Note(text="hello")))
        due = clock.current_time_millis() + HOUR // 2
        await run(client.task(pinger).send("p", event=Ping(at=due)))

        async def ticked() -> bool:
            ticks: Ticks = await run(client.continuous(ticker).get_state("t"))
            return ticks.runs >= 3

        await eventually(ticked, what="three ticker runs")

        async def flushed() -> bool:
            status: str = (await run(client.debounce(notes).status("n"))).status
            return status == "not_found"

        await eventually(flushed, what="the notes flush")
        pings = (await run(client.task(pinger).get_state("p"))).state
        assert pings.fired == 1 and pings.fired_at is not None and pings.fired_at >= due
        listed = {row.instance_id: row for row in await host.list_instances()}
        assert set(listed) == {"continuous:ticker:t", "task:pinger:p"}
        assert listed["continuous:ticker:t"].status == "running" and listed["continuous:ticker:t"].next_alarm
        assert listed["task:pinger:p"].status == "idle" and listed["task:pinger:p"].next_alarm is None


@pytest.mark.anyio
async def test_a_commit_arming_an_earlier_alarm_wakes_the_sleeping_scheduler(db: Path) -> None:
    async with Host(jobs, db) as host:  # the real clock
        client = host.client()
        now = host.clock.current_time_millis()
        await run(client.task(pinger).send("late", event=Ping(at=now + HOUR)))

        async def sleeping() -> bool:
            return host.scheduler._sleep_scope is not None and host.scheduler._wake_at == now + HOUR

        await eventually(sleeping, what="the scheduler to sleep until the late alarm")
        soon = host.clock.current_time_millis() + 150
        await run(client.task(pinger).send("soon", event=Ping(at=soon)))

        async def fired() -> Pings | None:
            state: Pings = (await run(client.task(pinger).get_state("soon"))).state
            return state if state.fired else None

        pings = await eventually(fired, timeout=5, what="the early alarm")
        assert pings.fired_at is not None and 0 <= pings.fired_at - soon < 1_000


@pytest.mark.anyio
async def test_alarms_due_while_stopped_fire_at_restart_each_once(db: Path) -> None:
    clock = TestClock(T0)
    async with Host(jobs, db, clock=clock) as host:
        client = host.client()

        async def send(n: int) -> None:
            await run(client.task(pinger).send(f"p{n}", event=Ping(at=T0 + HOUR + n)))

        async with anyio.create_task_group() as group:
            for n in range(2_000):
                group.start_soon(send, n)
        assert (await host.counts()).alarms == 2_000
    assert fired_count(db) == 0
    # restart two hours later: every alarm is due
    started = time.monotonic()
    async with Host(jobs, db, clock=TestClock(T0 + 2 * HOUR)) as host:

        async def all_fired() -> bool:
            return (await host.counts()).alarms == 0

        await eventually(all_fired, timeout=30, what="2,000 alarms to fire")
    elapsed = time.monotonic() - started
    assert fired_count(db) == 2_000
    assert sql(db, "SELECT COUNT(*) FROM instances WHERE json_extract(record, '$.state.fired') != 1") == [(0,)]
    assert elapsed < 30


@pytest.mark.anyio
async def test_an_alarm_moved_by_a_call_after_dispatch_does_not_run(db: Path) -> None:
    clock = TestClock(T0)
    async with Host(jobs, db, clock=clock) as host:
        client = host.client()
        await run(client.task(pinger).send("p", event=Ping(at=T0 + HOUR)))
        # The scheduler picked the alarm, then a call moved it before the run got the instance.
        _ALARM_RUN.set("task:pinger:p")
        outcome = await host.runtime.alarm("task:pinger:p")
        _ALARM_RUN.set(None)
        assert isinstance(outcome.error, AlarmNotDue) and not outcome.write
        state = await run(client.task(pinger).get_state("p"))
        assert state.state.fired == 0 and state.scheduled_at == T0 + HOUR


@pytest.mark.anyio
async def test_an_alarm_run_whose_commit_fails_is_retried_later(db: Path) -> None:
    clock = TestClock(T0)
    async with Host(jobs, db, clock=clock) as host:
        await run(host.client().task(pinger).send("p", event=Ping(at=T0 + 1_000)))
        real_save = host.store.save
        failures = [StorageError(operation="put", cause="disk full")]

        async def failing_save(*args: Any) -> None:
            if failures:
                raise failures.pop()
            await real_save(*args)

        host.store.save = failing_save  # type: ignore[method-assign,assignment]
        await clock.set_time(T0 + 1_000)

        async def moved() -> tuple[Any, ...] | None:
            rows = sql(db, "SELECT due, attempts FROM alarms")
            return rows[0] if rows and rows[0][1] == 1 and host.scheduler.retried == 1 else None

        due, attempts = await eventually(moved, what="the failed alarm run to be moved back")
        assert (due, attempts) == (T0 + 1_000 + 2_000, 1)  # 2 s later, by the host's clock
        assert fired_count(db) == 0
        await clock.set_time(T0 + 3_000)

        async def fired() -> bool:
            return fired_count(db) == 1 and not sql(db, "SELECT * FROM alarms")

        await eventually(fired, what="the retried alarm run")


@pytest.mark.anyio
async def test_the_alarm_of_a_removed_job_is_consumed(db: Path) -> None:
    clock = TestClock(T0)
    async with Host(jobs, db, clock=clock) as host:
        await run(host.client().task(pinger).send("p", event=Ping(at=T0 + 1_000)))
    fewer = create_durable_jobs({"notes": notes})
    async with Host(fewer, db, clock=TestClock(T0 + 5_000)):

        async def consumed() -> bool:
            return not sql(db, "SELECT * FROM alarms")

        await eventually(consumed, what="the orphan alarm to be consumed")
    assert len(sql(db, "SELECT * FROM instances")) == 1  # the record is kept


@pytest.mark.anyio
async def test_idle_instances_cost_no_memory_in_the_host(db: Path) -> None:
    clock = TestClock(T0)
    async with Host(jobs, db, clock=clock, cache_size=500) as host:
        client = host.client()

        async def add(first: int, count: int) -> None:
            async def worker(start: int) -> None:  # 20 clients at a time
                for n in range(start, first + count, 20):
                    await run(client.task(pinger).send(f"p{n}", event=Ping(at=T0 + HOUR + n)))

            async with anyio.create_task_group() as group:
                for start in range(first, first + 20):
                    group.start_soon(worker, start)

        tracemalloc.start()  # before the warm-up: what a cache lets go of later is then seen to be freed
        try:
            await add(0, 600)  # warm-up: caches (the record cache holds 500) and pools reach their working size
            gc.collect()
            before = tracemalloc.take_snapshot()
            await add(600, 1_500)
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        # Less than 70 bytes an instance: keeping anything per instance (a dict entry keyed by its name
        # alone is over 100 bytes) would show; what remains is caches and pools settling.
        assert growth < 100 * 1024, f"the host kept {growth} bytes for 1,500 more idle instances"
        assert host.runtime.active_instances == 0
        assert host.scheduler.in_flight == 0
        assert (await host.counts()).alarms == 2_100


@pytest.mark.anyio
async def test_one_host_per_database_file(db: Path) -> None:
    async with Host(jobs, db):
        with pytest.raises(HostError, match="already served"):
            async with Host(jobs, db):
                pass
        with pytest.raises(HostError, match="lock file"):  # what another process would hit
            _take_lock(str(db))
    async with Host(jobs, db):  # free again
        pass


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_jobs_client_local_starts_a_shared_host_on_first_use(db: Path, anyio_backend: str) -> None:
    first = jobs.JobsClient.local(str(db))
    second = jobs.JobsClient.local(str(db))
    assert running_host(db) is None
    now = int(time.time() * 1000)
    await run(first.task(pinger).send("p", event=Ping(at=now + 100)))
    host = running_host(db)
    assert host is not None and host.running
    with pytest.raises(InstanceNotFoundError):
        await run(second.task(pinger).get_state("nobody"))
    assert running_host(db) is host  # the same host serves both clients

    async def fired() -> bool:
        fired: int = (await run(second.task(pinger).get_state("p"))).state.fired
        return fired == 1

    await eventually(fired, timeout=5, what="the alarm, fired by the background host")
    await host.aclose()
    assert running_host(db) is None
    # the next call starts a host again
    assert (await run(first.task(pinger).status("p"))).status == "idle"


@pytest.mark.anyio
async def test_jobs_client_local_of_a_host_object(db: Path) -> None:
    async with Host(jobs, db) as host:
        client = jobs.JobsClient.local(host)
        assert (await run(client.debounce(notes).add("n", event=Note(text="x")))).event_count == 1
        # and the client of the same path finds this host
        path_client = jobs.JobsClient.local(str(db))
        assert (await run(path_client.debounce(notes).status("n"))).event_count == 1


@pytest.mark.anyio
async def test_an_error_in_the_host_block_propagates_as_itself(db: Path) -> None:
    with pytest.raises(KeyError):
        async with Host(jobs, db):
            raise KeyError("mine")
    assert running_host(db) is None


@pytest.mark.anyio
async def test_telemetry_is_delivered_in_the_background_never_on_the_call_path(db: Path) -> None:
    batches: list[dict[str, Any]] = []
    release = anyio.Event()

    async def slow_endpoint(url: str, headers: Any, body: bytes, timeout_s: float) -> int:
        await release.wait()  # the endpoint hangs until released
        batches.append(json.loads(body))
        return 200

    tracked = create_durable_jobs(
        {"notes": notes, "pinger": pinger},
        tracker=TrackerConfig(
            endpoint="http://telemetry.test/", env="test", service_key="svc", send=slow_endpoint, timeout="30 seconds"
        ),
    )
    seen: list[str] = []
    async with Host(tracked, db, on_events=lambda events: seen.extend(e["type"] for e in events)) as host:
        client = host.client()
        with anyio.fail_after(5):  # the calls do not wait for the hanging endpoint
            await run(client.debounce(notes).add("n", event=Note(text="a")))
            await run(client.task(pinger).send("p", event=Ping()))
        assert seen == ["debounce.started", "job.started"]
        assert batches == []
        release.set()

        async def delivered() -> bool:
            return sum(len(batch["events"]) for batch in batches) == 2

        await eventually(delivered, what="telemetry delivery")
    events = [event for batch in batches for event in batch["events"]]
    assert {event["type"] for event in events} == {"debounce.started", "job.started"}
    assert all(event["env"] == "test" and event["service_key"] == "svc" for event in events)


@pytest.mark.anyio
async def test_a_database_that_cannot_be_opened_fails_the_start_clearly(db: Path) -> None:
    db.write_bytes(b"this is not a database" * 100)
    with anyio.fail_after(10):
        with pytest.raises(HostError, match=f"cannot open the database {db}: file is not a database"):
            async with Host(jobs, db):
                pass
        _release_lock(_take_lock(str(db)))  # the lock file was released
        client = jobs.JobsClient.local(str(db))
        for _ in range(2):  # a failed start does not leave later calls waiting for it
            with pytest.raises(StorageError, match="file is not a database"):
                await run(client.task(pinger).status("p"))
        assert running_host(db) is None
        db.unlink()
        assert (await run(client.task(pinger).send("p", event=Ping()))).instance_id == "task:pinger:p"
        host = running_host(db)
        assert host is not None
        await host.aclose()


@pytest.mark.anyio
async def test_a_still_due_alarm_is_looked_at_again_when_its_run_cannot_be_moved_back(db: Path) -> None:
    clock = TestClock(T0)
    async with Host(jobs, db, clock=clock) as host:
        await run(host.client().task(pinger).send("p", event=Ping(at=T0 + 1_000)))
        real_alarm, real_move = host.runtime.alarm, host.store.move_alarm
        failures = {"alarm": 1, "move": 1}

        async def alarm(instance_id: str, **options: Any) -> Any:
            if failures["alarm"]:
                failures["alarm"] -= 1
                raise RuntimeError("engine defect")
            return await real_alarm(instance_id, **options)

        async def move_alarm(*args: Any) -> bool:
            if failures["move"]:
                failures["move"] -= 1
                raise StorageError(operation="set_alarm", cause="disk I/O error")
            return await real_move(*args)

        host.runtime.alarm = alarm  # type: ignore[method-assign]
        host.store.move_alarm = move_alarm  # type: ignore[method-assign,assignment]
        await clock.set_time(T0 + 1_000)  # no other alarm and no later commit: nothing else wakes the scheduler

        async def fired() -> bool:
            return fired_count(db) == 1 and not sql(db, "SELECT * FROM alarms")

        await eventually(fired, what="the alarm whose failed run could not be moved back")
        assert failures == {"alarm": 0, "move": 0}


@pytest.mark.anyio
async def test_a_call_from_another_event_loop_fails_at_once(db: Path) -> None:
    async with Host(jobs, db) as host:
        request = Request(op="status", job_type="task", job_name="pinger", id="p")

        def other_loop() -> BaseException | None:
            async def call() -> None:
                with anyio.fail_after(5):
                    await host.call(request)

            try:
                asyncio.run(call())
            except BaseException as exc:
                return exc
            return None

        error = await anyio.to_thread.run_sync(other_loop)
        assert isinstance(error, HostError) and "another event loop" in str(error)
        with pytest.raises(StorageError, match="another event loop"):  # what a client bound to the host reports
            await anyio.to_thread.run_sync(lambda: asyncio.run(run(host.client().task(pinger).status("p"))))
        assert (await host.call(request))["ok"] is True  # its own loop is served


@dataclass(frozen=True)
class Reading:
    value: float


def _keep(ctx: DebounceExecuteContext[Reading]) -> Effect[None, Never, Never]:
    return Effect.succeed(None)


readings = Debounce.make(event_schema=Reading, execute=_keep, flush_after="1 hour")


@pytest.mark.anyio
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
async def test_a_number_json_cannot_hold_is_a_validation_error_in_process(db: Path, value: float) -> None:
    registry = create_durable_jobs({"readings": readings})
    async with Host(registry, db) as host:
        client = host.client().debounce(readings)
        with pytest.raises(ValidationError, match="NaN or infinite"):
            await run(client.add("r", event=Reading(value=value)))
        assert (await run(client.add("r", event=Reading(value=1.5)))).event_count == 1  # nothing was kept before
