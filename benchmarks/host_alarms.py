"""Alarm lateness with 10,000 pending alarms, real clock: the host vs APScheduler 3 on the same workload.

    python benchmarks/host_alarms.py [--alarms 10000] [--window 20]

Workload: ``--alarms`` one-shot alarms, each armed by its own instance, due evenly over ``--window``
seconds starting 2 s after all are armed (so all are pending when the first is due). Lateness is measured
where the work runs: the time the job's own code starts minus the time the alarm was due.

- host: ``Host`` (SQLite, ``synchronous=FULL``); a Task job whose event arms its alarm at an epoch ms and
  whose execute records the lateness. Every run reads the record, runs the engine and commits.
- APScheduler 3.11: ``AsyncIOScheduler`` with ``SQLAlchemyJobStore`` on SQLite (WAL, ``synchronous=FULL``,
  as the host), one ``date`` job per alarm (coroutine function, ``misfire_grace_time=None`` so none is
  skipped), which removes each job from the store after it runs.

Prints a markdown table (p50, p99, max in ms).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from durable_effect import Effect
from durable_effect.host import Host
from durable_effect.jobs import Task, TaskEventContext, TaskExecuteContext, create_durable_jobs
from durable_effect.schema import JSON_SCHEMA

LATENESS: list[float] = []


def on_event(event: Any, ctx: TaskEventContext[Any]) -> Effect[None, Any, Any]:
    return ctx.set_state({"at": event["at"]}).flat_map(lambda _: ctx.schedule_at(event["at"]))


def execute(ctx: TaskExecuteContext[Any]) -> Effect[None, Any, Any]:
    def record(state: Any) -> None:
        LATENESS.append(time.time_ns() / 1e6 - state["at"])

    return ctx.state.map(record)


timer = Task.make(state_schema=JSON_SCHEMA, event_schema=JSON_SCHEMA, on_event=on_event, execute=execute)
jobs = create_durable_jobs({"timer": timer})


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


async def run_host(path: Path, alarms: int, window_s: float) -> tuple[list[float], float]:
    LATENESS.clear()
    async with Host(jobs, path) as host:
        client = host.client().task("timer")

        async def arm(due: Any) -> None:
            async def worker(first: int) -> None:
                for n in range(first, alarms, 64):
                    await Effect.run_promise(client.send(f"t{n}", event={"at": due(n)}))

            async with anyio.create_task_group() as group:
                for first in range(64):
                    group.start_soon(worker, first)

        started = time.perf_counter()
        far = int(time.time() * 1000) + 3_600_000
        await arm(lambda n: far + n)  # every instance holds an alarm an hour ahead
        arming = time.perf_counter() - started
        # then move them: due evenly over the window, starting once the moves are surely done
        start = int(time.time() * 1000) + 2_000 + int(arming * 1500)
        step = window_s * 1000 / alarms
        await arm(lambda n: start + int(n * step))
        if int(time.time() * 1000) >= start:
            raise SystemExit("moving the alarms took longer than planned; use fewer alarms")
        assert (await host.counts()).alarms == alarms
        deadline = time.monotonic() + window_s + 60
        while len(LATENESS) < alarms and time.monotonic() < deadline:
            await anyio.sleep(0.1)
    return list(LATENESS), arming


def run_apscheduler(path: Path, alarms: int, window_s: float) -> tuple[list[float], float]:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def settings(connection: Any, record: Any) -> None:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")

    lateness = APS_LATENESS
    lateness.clear()

    async def main() -> float:
        scheduler = AsyncIOScheduler(jobstores={"default": SQLAlchemyJobStore(engine=engine)}, timezone=dt.UTC)
        scheduler.start()
        started = time.perf_counter()
        lead = int(time.time() * 1000) + 3_600_000
        for n in range(alarms):  # armed far ahead while we add them
            scheduler.add_job(
                aps_fire, "date", run_date=_when(lead + n), args=[lead + n], id=f"t{n}", misfire_grace_time=None
            )
        arming = time.perf_counter() - started
        start = int(time.time() * 1000) + 2_000 + int(arming * 1500)  # moving takes about as long as adding
        step = window_s * 1000 / alarms
        for n in range(alarms):
            at = start + int(n * step)
            scheduler.modify_job(f"t{n}", args=[at], next_run_time=_when(at))
        deadline = time.monotonic() + window_s + 60 + arming
        while len(lateness) < alarms and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        scheduler.shutdown(wait=False)
        return arming

    arming = asyncio.run(main())
    return lateness, arming


APS_LATENESS: list[float] = []


async def aps_fire(at: int) -> None:
    """The APScheduler job (module level: its job store keeps a reference to it by name)."""
    APS_LATENESS.append(time.time_ns() / 1e6 - at)


def _when(epoch_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--alarms", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=20.0, help="seconds over which the alarms are due")
    parser.add_argument("--skip-apscheduler", action="store_true")
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {args.alarms:,} pending alarms due over "
        f"{args.window:g} s ({args.alarms / args.window:,.0f}/s), real clock\n"
    )
    print("| scheduler | fired | lateness p50 ms | p99 ms | max ms | arming s |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="host-alarms-", dir=os.environ.get("BENCH_DIR")) as directory:
        late, arming = anyio.run(run_host, Path(directory) / "host.sqlite", args.alarms, args.window)
        p50, p99, worst = percentiles(late)
        print(
            f"| durable-effect host (SQLite, FULL) | {len(late):,} | {p50:.2f} | {p99:.2f} | {worst:.1f} | "
            f"{arming:.1f} |",
            flush=True,
        )
        try:
            import sqlalchemy  # noqa: F401
        except ImportError:
            print("| APScheduler 3.11 | (not run: SQLAlchemy is not installed) | | | | |")
            args.skip_apscheduler = True
        if not args.skip_apscheduler:
            late, arming = run_apscheduler(Path(directory) / "aps.sqlite", args.alarms, args.window)
            p50, p99, worst = percentiles(late) if late else (float("nan"),) * 3
            print(
                f"| APScheduler 3.11 (SQLAlchemyJobStore, SQLite, FULL) | {len(late):,} | {p50:.2f} | "
                f"{p99:.2f} | {worst:.1f} | {arming:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
