"""Crash safety: a server killed with SIGKILL while acknowledging calls loses none of them, and every alarm
fires after the restart (at least once)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path

import anyio
import httpx
import pytest

from durable_effect.jobs import StorageError

from ._support import eventually, run, start_server
from .app import Ping, notes, pinger

WORKERS = 8
INSTANCES_PER_WORKER = 4


@pytest.mark.anyio
async def test_nothing_acknowledged_is_lost_and_every_alarm_fires_after_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite"
    server = start_server(db)
    client = server.client()
    due_at = int(time.time() * 1000) + 2_500  # due after the restart
    sends: Counter[str] = Counter()  # acknowledged sends per pinger instance
    added: dict[str, list[str]] = defaultdict(list)  # acknowledged notes per notes instance
    killed = anyio.Event()
    enough = anyio.Event()

    async def stream(worker: int) -> None:
        for k in range(10_000):
            pinger_id = f"c{worker}-{k % INSTANCES_PER_WORKER}"
            notes_id = f"n{worker}"
            try:
                await run(client.task(pinger).send(pinger_id, event=Ping(at=due_at), event_id=f"s{worker}-{k}"))
                sends[pinger_id] += 1
                await run(client.debounce(notes).add(notes_id, event={"text": f"{worker}-{k}"}))
                added[notes_id].append(f"{worker}-{k}")
            except StorageError:
                assert killed.is_set(), "a call failed before the kill"
                return
            if sum(sends.values()) >= 300:
                enough.set()

    async with anyio.create_task_group() as group:
        for worker in range(WORKERS):
            group.start_soon(stream, worker)
        with anyio.fail_after(30):
            await enough.wait()
        killed.set()
        server.kill()  # mid-stream: calls are in flight

    assert sum(sends.values()) >= 300
    restarted = start_server(db)
    try:
        client = restarted.client()
        for pinger_id, acknowledged in sends.items():
            state = (await run(client.task(pinger).get_state(pinger_id))).state
            # every acknowledged send is there; at most the one in flight at the kill may be there too
            assert acknowledged <= state.count <= acknowledged + 1, (pinger_id, acknowledged, state.count)
        for notes_id, texts in added.items():
            kept = (await run(client.debounce(notes).get_state(notes_id))).texts
            assert kept[: len(texts)] == texts and len(kept) <= len(texts) + 1

        async def all_fired() -> bool:
            pending = httpx.get(f"{restarted.url}/v1/instances", params={"job": "pinger", "limit": 1000}, timeout=10)
            instances = pending.json()["instances"]
            return len(instances) >= len(sends) and all(item["status"] == "idle" for item in instances)

        await eventually(all_fired, timeout=20, what="every alarm to fire after the restart")
        for pinger_id in sends:
            state = (await run(client.task(pinger).get_state(pinger_id))).state
            assert state.fired >= 1 and state.fired_at is not None and state.fired_at >= due_at
    finally:
        restarted.stop()
    # a graceful stop (uvicorn re-raises the SIGTERM it handled once it has shut down)
    assert restarted.process.returncode in (0, -15) and "Traceback" not in restarted.output(), restarted.output()
