"""Durable ``add``s per second through ``JobsClient.local`` vs raw SQLite one-row upserts, same file settings.

    python benchmarks/host_throughput.py [--seconds 3] [--clients 1,8,32,128]

For each durability setting (``synchronous=FULL``, the host's default, and ``NORMAL``):

- raw: one connection, WAL, a loop of ``BEGIN IMMEDIATE; INSERT .. ON CONFLICT DO UPDATE (one row); COMMIT``
  with a record-sized JSON value; the most a single writer gets from SQLite with that durability.
- hand-written: the least any Python durable add can do, as a floor for the host: N concurrent asyncio tasks,
  each reading its instance's record from a dict of JSON texts, decoding it, setting the event as the state,
  counting it, encoding it, and waiting for a writer thread that commits every queued record in one
  transaction (group commit, as the host does). No validation, no per-instance ordering, no telemetry, no
  effects, no alarm row: what is left is the Python every add pays, against the C of a raw upsert.
- durable: N concurrent clients, each looping ``client.debounce("batch").add(id, event=...)`` on its own
  instances through ``JobsClient.local(path)`` (a ``Host`` on the same settings). Every add is acknowledged
  after its commit; concurrent adds share commits (group commit).

Both files are warmed up first so the WAL has reached its working size (a growing WAL makes every sync
slower). The job uses a plain JSON schema so the figure measures the host, not a schema library. Prints a
markdown table; the ratio durable/raw is the figure of merit (target >= 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
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


async def handwritten_adds(path: Path, synchronous: str, clients: int, seconds: float) -> tuple[float, float]:
    """The floor: durable adds in plain asyncio and sqlite3 with group commit (see the module docstring)."""
    warm_up(path, synchronous)
    open_raw(path, synchronous, "instances").close()
    loop = asyncio.get_running_loop()
    handed: queue.SimpleQueue[list[tuple[str, str, asyncio.Future[None]]] | None] = queue.SimpleQueue()
    outbox: list[tuple[str, str, asyncio.Future[None]]] = []
    commits = writes = 0

    def writer() -> None:
        nonlocal commits, writes
        connection = open_raw(path, synchronous, "instances")
        sql = UPSERT.format(table="instances")
        while (batch := handed.get()) is not None:
            while True:  # everything queued goes in this commit
                try:
                    more = handed.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    handed.put(None)
                    break
                batch.extend(more)
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(sql, [(key, text) for key, text, _ in batch])
            connection.execute("COMMIT")
            commits += 1
            writes += len(batch)
            loop.call_soon_threadsafe(wake, batch)
        connection.close()

    def wake(batch: list[tuple[str, str, asyncio.Future[None]]]) -> None:
        for _, _, future in batch:
            future.set_result(None)

    def hand_over() -> None:
        nonlocal outbox
        batch, outbox = outbox, []
        handed.put(batch)

    records: dict[str, str] = {}

    async def add(id: str) -> None:
        key = f"debounce:batch:{id}"
        text = records.get(key)
        record = json.loads(text) if text is not None else {**json.loads(RECORD), "event_count": 0}
        record["state"] = EVENT
        record["event_count"] += 1
        text = json.dumps(record)
        committed = loop.create_future()
        if not outbox:
            loop.call_soon(hand_over)
        outbox.append((key, text, committed))
        await committed
        records[key] = text

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        rate = await drive(add, clients, seconds)
    finally:
        handed.put(None)
        thread.join()
    return rate, writes / max(1, commits)


async def durable_adds(path: Path | None, synchronous: str, clients: int, seconds: float) -> tuple[float, float]:
    """``path=None``: the in-memory backend (no storage at all), the ceiling of the engine and client."""
    if path is None:
        client = jobs.JobsClient.memory()
        return await drive(adding(client), clients, seconds), 0.0
    warm_up(path, synchronous)
    async with Host(jobs, path, synchronous=synchronous) as host:  # type: ignore[arg-type]
        add = adding(jobs.JobsClient.local(str(path)))  # finds the running host
        await drive(add, clients, 0.5)  # warm-up
        commits_before, writes_before = host.store.commit_stats
        rate = await drive(add, clients, seconds)
        commits, writes = host.store.commit_stats
        return rate, (writes - writes_before) / max(1, commits - commits_before)


def adding(client: Any) -> Callable[[str], Awaitable[object]]:
    adder = client.debounce("batch")
    return lambda id: Effect.run_promise(adder.add(id, event=EVENT))


async def drive(add: Callable[[str], Awaitable[object]], clients: int, seconds: float) -> float:
    """``clients`` concurrent loops of ``add`` (each on its own instances) for ``seconds``; returns adds/s."""
    done = 0
    stop = False

    async def worker(number: int) -> None:
        nonlocal done
        n = 0
        while not stop:
            await add(f"c{number}-{n % INSTANCES_PER_CLIENT}")
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
            for label, measure in (
                ("hand-written asyncio add (floor)", handwritten_adds),
                ("durable add, JobsClient.local", durable_adds),
            ):
                for clients in counts:
                    path = Path(directory) / f"{measure.__name__}-{synchronous}-{clients}.sqlite"
                    rate, per_commit = anyio.run(measure, path, synchronous, clients, args.seconds)
                    print(
                        f"| {synchronous} | {label} | {clients} | {rate:,.0f} | {rate / raw:.2f} | {per_commit:.1f} |",
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
