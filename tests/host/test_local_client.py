"""How applications reach the embedded host: ``JobsClient.local`` across loops, threads, paths and cancellation."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

from durable_effect.host import Host, running_host
from durable_effect.jobs import StorageError, TaskSendResult

from ._support import REPO, run, subprocess_env
from .app import Ping, jobs, pinger

_SERVE_IN_A_CHILD = """
import anyio, sys
from durable_effect.host import Host, HostError
from tests.host.app import jobs

async def main():
    try:
        async with Host(jobs, sys.argv[1]):
            print("served")
    except HostError as exc:
        print(f"refused: {exc}")

anyio.run(main)
"""


@pytest.mark.anyio
async def test_another_process_cannot_serve_the_file_through_a_symlink(tmp_path: Path) -> None:
    db, link = tmp_path / "real.sqlite", tmp_path / "link.sqlite"
    link.symlink_to(db)
    async with Host(jobs, db):
        child = subprocess.run(
            [sys.executable, "-c", _SERVE_IN_A_CHILD, str(link)],
            cwd=REPO,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert child.stdout.startswith("refused:") and "already served" in child.stdout, child.stdout + child.stderr


@pytest.mark.anyio
async def test_a_host_started_under_a_relative_path_can_start_again_after_a_chdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    host = Host(jobs, "jobs.sqlite")
    async with host:
        os.chdir(tmp_path / "elsewhere")  # "jobs.sqlite" now names another file
    os.chdir(tmp_path)
    async with host:  # the same file again
        assert running_host("jobs.sqlite") is host
    assert running_host("jobs.sqlite") is None


@pytest.mark.anyio
async def test_a_first_caller_cancelled_while_the_host_starts_leaves_it_to_the_others(db: Path) -> None:
    client = jobs.JobsClient.local(db)
    results: list[TaskSendResult] = []

    async def send(id: str) -> None:
        results.append(await run(client.task(pinger).send(id, event=Ping())))

    async with anyio.create_task_group() as group:
        with anyio.CancelScope() as first:
            first.cancel()  # gives up at once, while it starts the host
            await send("first")
        for n in range(3):
            group.start_soon(send, f"other-{n}")
    assert sorted(result.instance_id for result in results) == [f"task:pinger:other-{n}" for n in range(3)]


def test_the_file_is_free_again_after_a_loop_is_closed_without_stopping_its_host(db: Path) -> None:
    client = jobs.JobsClient.local(db)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(run(client.task(pinger).send("a", event=Ping())))
    loop.close()  # the background host never got to stop
    status = asyncio.run(run(client.task(pinger).status("a")))
    assert status.event_count == 1


def test_two_threads_starting_the_same_file_at_once_never_hang(db: Path) -> None:
    client = jobs.JobsClient.local(db)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def use() -> None:
        async def call() -> object:
            barrier.wait()
            with anyio.fail_after(10):
                try:
                    return await run(client.task(pinger).send(threading.current_thread().name, event=Ping()))
                except StorageError as exc:
                    return exc

        outcomes.append(asyncio.run(call()))

    threads = [threading.Thread(target=use, name=f"t{n}") for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 2  # neither waited forever
    refused = [o for o in outcomes if isinstance(o, StorageError)]
    assert all("another event loop" in error.cause for error in refused)  # the one that lost the race is told
    assert len(refused) <= 1
