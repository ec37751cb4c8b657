"""Start-up with many instances holding alarms: time until the first due alarm fires, and memory (RSS)
against the number of instances. The host vs APScheduler 3 (SQLAlchemyJobStore on SQLite).

    python benchmarks/host_startup.py [--counts 0,1000,10000,100000]

For each count N, a database holds N instances whose alarms are due in an hour, plus one instance whose
alarm is already due. A fresh process opens it and we measure, in that process:

- ``first alarm ms``: from the start of ``async with Host(...)`` (or ``scheduler.start()``) to the moment
  the due alarm's job code runs;
- ``RSS MB``: resident memory once the due alarm has run and the scheduler sleeps until the next one.

The host database is seeded in bulk with copies of a record the host itself wrote (only the id and the
due time differ); the APScheduler store with copies of a pickled job it wrote. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import sqlite3
import subprocess
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

FIRED: list[float] = []
HOUR_MS = 3_600_000


def on_event(event: Any, ctx: TaskEventContext[Any]) -> Effect[None, Any, Any]:
    return ctx.set_state({"at": event["at"]}).flat_map(lambda _: ctx.schedule_at(event["at"]))


def execute(ctx: TaskExecuteContext[Any]) -> Effect[None, Any, Any]:
    return Effect.sync(lambda: FIRED.append(time.perf_counter()))


timer = Task.make(state_schema=JSON_SCHEMA, event_schema=JSON_SCHEMA, on_event=on_event, execute=execute)
jobs = create_durable_jobs({"timer": timer})


def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


# ==================================================================== host


async def seed_host(path: Path, count: int) -> None:
    now = int(time.time() * 1000)
    async with Host(jobs, path) as host:  # the template record, written by the host itself
        await Effect.run_promise(host.client().task("timer").send("due", event={"at": now}))
    connection = sqlite3.connect(path, isolation_level=None)
    (template,) = connection.execute("SELECT record FROM instances WHERE instance_id = 'task:timer:due'").fetchone()
    record = json.loads(template)
    connection.execute("BEGIN")
    for n in range(count):
        due = now + HOUR_MS + n
        record.update(id=f"i{n}", alarm=due, state={"at": due})
        connection.execute("INSERT INTO instances VALUES (?, ?)", (f"task:timer:i{n}", json.dumps(record)))
        connection.execute("INSERT INTO alarms VALUES (?, ?, 0)", (f"task:timer:i{n}", due))
    connection.execute("COMMIT")
    connection.close()


async def measure_host(path: Path) -> dict[str, float]:
    started = time.perf_counter()
    async with Host(jobs, path):
        while not FIRED:
            await anyio.sleep(0.0005)
        first = FIRED[0] - started
        await anyio.sleep(0.5)  # settled: the scheduler sleeps until the next alarm, an hour away
        return {"first_ms": first * 1000, "rss_mb": rss_mb()}


# ==================================================================== APScheduler


APS_FIRED: list[float] = []


def aps_job() -> None:
    APS_FIRED.append(time.perf_counter())


def aps_engine(path: Path) -> Any:
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def settings(connection: Any, record: Any) -> None:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")

    return engine


def seed_apscheduler(path: Path, count: int) -> None:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.date import DateTrigger

    scheduler = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=aps_engine(path))}, timezone=dt.UTC)
    scheduler.start(paused=True)
    now = time.time()
    later = dt.datetime.fromtimestamp(now + 3_600, tz=dt.UTC)
    scheduler.add_job(aps_job, "date", run_date=later, id="template", misfire_grace_time=None)
    scheduler.shutdown(wait=False)
    connection = sqlite3.connect(path, isolation_level=None)
    (state_blob,) = connection.execute("SELECT job_state FROM apscheduler_jobs WHERE id = 'template'").fetchone()
    state = pickle.loads(state_blob)
    connection.execute("BEGIN")
    connection.execute("DELETE FROM apscheduler_jobs")
    for n, due in [(-1, now), *((n, now + 3_600 + n / 1000) for n in range(count))]:
        job_id = "due" if n < 0 else f"i{n}"
        when = dt.datetime.fromtimestamp(due, tz=dt.UTC)
        state.update(id=job_id, next_run_time=when, trigger=DateTrigger(run_date=when))
        connection.execute(
            "INSERT INTO apscheduler_jobs (id, next_run_time, job_state) VALUES (?, ?, ?)",
            (job_id, due, pickle.dumps(state, pickle.HIGHEST_PROTOCOL)),
        )
    connection.execute("COMMIT")
    connection.close()


def measure_apscheduler(path: Path) -> dict[str, float]:
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=aps_engine(path))},
        executors={"default": ThreadPoolExecutor(4)},
        timezone=dt.UTC,
    )
    started = time.perf_counter()
    scheduler.start()
    deadline = time.monotonic() + 60
    while not APS_FIRED and time.monotonic() < deadline:
        time.sleep(0.0005)
    first = (APS_FIRED[0] - started) if APS_FIRED else float("nan")
    time.sleep(0.5)
    result = {"first_ms": first * 1000, "rss_mb": rss_mb()}
    scheduler.shutdown(wait=False)
    return result


# ==================================================================== driver


def child(kind: str, path: Path) -> None:
    """Runs in a fresh process: measure and print the result as JSON."""
    result = anyio.run(measure_host, path) if kind == "host" else measure_apscheduler(path)
    print(json.dumps(result))


def run_child(kind: str, path: Path) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--counts", default="0,1000,10000,100000")
    parser.add_argument("--skip-apscheduler", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        args.skip_apscheduler = True
    counts = [int(n) for n in args.counts.split(",")]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; each figure from a fresh process\n")
    print(
        "| instances with alarms | host: first alarm ms | host: RSS MB | APScheduler: first alarm ms | "
        "APScheduler: RSS MB |"
    )
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="host-startup-", dir=os.environ.get("BENCH_DIR")) as directory:
        for count in counts:
            host_db = Path(directory) / f"host-{count}.sqlite"
            anyio.run(seed_host, host_db, count)
            host = run_child("host", host_db)
            aps = {"first_ms": float("nan"), "rss_mb": float("nan")}
            if not args.skip_apscheduler:
                aps_db = Path(directory) / f"aps-{count}.sqlite"
                seed_apscheduler(aps_db, count)
                aps = run_child("apscheduler", aps_db)
            print(
                f"| {count:,} | {host['first_ms']:.1f} | {host['rss_mb']:.1f} | {aps['first_ms']:.1f} | "
                f"{aps['rss_mb']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
