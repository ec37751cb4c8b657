"""Durable ``add``s per second through ``JobsClient.local`` vs raw SQLite one-row upserts, same file settings.

    python benchmarks/host_throughput.py [--seconds 3] [--clients 1,8,32,128]

For each durability setting (``synchronous=FULL``, the host's default, and ``NORMAL``):

- raw: one connection, WAL, a loop of ``BEGIN IMMEDIATE; INSERT .. ON CONFLICT DO UPDATE (one row); COMMIT``
  with a record-sized JSON value; the most a single writer gets from SQLite with that durability.
- durable: N concurrent clients, each looping ``client.debounce("batch").add(id, event=...)`` on its own
  instances through ``JobsClient.local(path)`` (a ``Host`` on the same settings). Every add is acknowledged
  after its commit; concurrent adds share commits (group commit).

Both files are warmed up first so the WAL has reached its working size (a growing WAL makes every sync
slower). The job uses a plain JSON schema so the figure measures the host, not a schema library. Prints a
markdown table; the ratio durable/raw is the figure of merit (target >= 0.5).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from durable_effect import Effect
from durable_effect.host import Host
from durable_effect.jobs import Debounce, DebounceExecuteContext, create_durable_jobs
from durable_effect.schema import JSON_SCHEMA

EVENT = {"type": "push", "repo": "api", "sha": "0" * 40}
INSTANCES_PER_CLIENT = 50


def execute(ctx: DebounceExecuteContext[Any]) -> Effect[None, Any, Any]:
    return Effect.succeed(None)


batch = Debounce.make(event_schema=JSON_SCHEMA, execute=execute, flush_after="1 hour")
jobs = create_durable_jobs({"batch": batch})


RECORD = json.dumps(
    {
        "v": 1,
        "job_type": "debounce",
        "job_name": "batch",
        "state": EVENT,
        "event_count": 1,
        "event_ids": {},
        "alarm": 1_800_000_000_000,
        "created_at": 1_700_000_000_000,
    }
)
UPSERT = (
    "INSERT INTO {table} (instance_id, record) VALUES (?, ?) "
    "ON CONFLICT (instance_id) DO UPDATE SET record = excluded.record"
)


def open_raw(path: Path, synchronous: str, table: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    connection.execute(f"CREATE TABLE IF NOT EXISTS {table} (instance_id TEXT PRIMARY KEY, record TEXT NOT NULL)")
    return connection


def upsert(connection: sqlite3.Connection, sql: str, n: int) -> None:
    connection.execute("BEGIN IMMEDIATE")
    connection.execute(sql, (f"debounce:batch:k{n % 5_000}", RECORD))
    connection.execute("COMMIT")


def warm_up(path: Path, synchronous: str) -> None:
    """3,000 one-row commits into a scratch table: the WAL grows to its working size (it is then reused)."""
    connection = open_raw(path, synchronous, "warmup")
    sql = UPSERT.format(table="warmup")
    for n in range(3_000):
        upsert(connection, sql, n)
    connection.execute("DROP TABLE warmup")
    connection.close()


def raw_upserts(path: Path, synchronous: str, seconds: float) -> float:
    warm_up(path, synchronous)
    connection = open_raw(path, synchronous, "instances")
    sql = UPSERT.format(table="instances")
    done = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            upsert(connection, sql, done)
            done += 1
    connection.close()
    return done / elapsed


async def durable_adds(path: Path | None, synchronous: str, clients: int, seconds: float) -> tuple[float, float]:
    """``path=None``: the in-memory backend (no storage at all), the ceiling of the engine and client."""
    if path is None:
        client = jobs.JobsClient.memory()
        adder = client.debounce("batch")
        return await drive(adder, clients, seconds), 0.0
    warm_up(path, synchronous)
    async with Host(jobs, path, synchronous=synchronous) as host:  # type: ignore[arg-type]
        client = jobs.JobsClient.local(str(path))  # finds the running host
        adder = client.debounce("batch")
        await drive(adder, clients, 0.5)  # warm-up
        commits_before, writes_before = host.store.commit_stats
        rate = await drive(adder, clients, seconds)
        commits, writes = host.store.commit_stats
        return rate, (writes - writes_before) / max(1, commits - commits_before)


async def drive(adder: Any, clients: int, seconds: float) -> float:
    """``clients`` concurrent loops of ``add`` for ``seconds``; returns adds per second."""
    done = 0
    stop = False

    async def worker(number: int) -> None:
        nonlocal done
        n = 0
        while not stop:
            await Effect.run_promise(adder.add(f"c{number}-{n % INSTANCES_PER_CLIENT}", event=EVENT))
            n += 1
            done += 1

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for number in range(clients):
            group.start_soon(worker, number)
        await anyio.sleep(seconds)
        stop = True
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--clients", default="1,32,128")
    args = parser.parse_args()
    counts = [int(n) for n in args.clients.split(",")]
    print(
        f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs; "
        f"{args.seconds:g} s per measurement\n"
    )
    print("| durability | writer | clients | ops/s | ratio to raw | writes per commit |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="host-bench-", dir=os.environ.get("BENCH_DIR")) as directory:
        for synchronous in ("FULL", "NORMAL"):
            raw = raw_upserts(Path(directory) / f"raw-{synchronous}.sqlite", synchronous, args.seconds)
            print(f"| {synchronous} | raw SQLite upsert, 1 txn each | 1 | {raw:,.0f} | 1.00 | 1 |", flush=True)
            for clients in counts:
                path = Path(directory) / f"host-{synchronous}-{clients}.sqlite"
                rate, per_commit = anyio.run(durable_adds, path, synchronous, clients, args.seconds)
                print(
                    f"| {synchronous} | durable add, JobsClient.local | {clients} | {rate:,.0f} | "
                    f"{rate / raw:.2f} | {per_commit:.1f} |",
                    flush=True,
                )
        for clients in counts:
            rate, _ = anyio.run(durable_adds, None, "-", clients, args.seconds)
            print(
                f"| none | add on the in-memory backend (engine + client only) | {clients} | {rate:,.0f} | - | - |",
                flush=True,
            )


if __name__ == "__main__":
    main()
