"""The SQLite store on real files: atomic record + alarm commits, group commit, durability settings."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from durable_effect.backends.sqlite import SqliteStore, read_instances
from durable_effect.backends.sqlite_threads import GroupCommitWriter, current_loop
from durable_effect.jobs import StorageError

RECORD = {"v": 1, "job_type": "task", "job_name": "pinger", "id": "a", "alarm": None}


def raw_rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(db)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


async def hold_the_writer(store: SqliteStore) -> threading.Event:
    """Keep the store's writer thread busy until the returned gate is set."""
    entered, gate = threading.Event(), threading.Event()

    def busy(connection: sqlite3.Connection) -> None:
        entered.set()
        gate.wait(10)

    store._write().submit(busy)
    await anyio.to_thread.run_sync(entered.wait, 10)
    return gate


@pytest.mark.anyio
async def test_save_commits_the_record_and_its_alarm_together(db: Path) -> None:
    async with SqliteStore(db) as store:
        await store.save("task:pinger:a", {**RECORD, "alarm": 5_000}, 5_000, True)
        assert await store.load("task:pinger:a") == {**RECORD, "alarm": 5_000}
        assert await store.load_with_alarm("task:pinger:a") == ({**RECORD, "alarm": 5_000}, 5_000)
        # a save that does not change the alarm leaves it alone
        await store.save("task:pinger:a", {**RECORD, "alarm": 5_000, "x": 1}, None, False)
        assert raw_rows(db, "SELECT instance_id, due, attempts FROM alarms") == [("task:pinger:a", 5_000, 0)]
        # deleting the record and cancelling the alarm
        await store.save("task:pinger:a", None, None, True)
        assert await store.load("task:pinger:a") is None
        assert await store.due_alarms(2**62, 10) == ([], None)
    assert raw_rows(db, "SELECT COUNT(*) FROM instances") == [(0,)]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_records_and_alarms_survive_reopening(db: Path, anyio_backend: str) -> None:
    async with SqliteStore(db) as store:
        for n in range(5):
            await store.save(f"task:pinger:{n}", {**RECORD, "id": str(n)}, 1_000 * (5 - n), True)
    async with SqliteStore(db) as store:
        rows, next_due = await store.due_alarms(3_000, 10)
        assert ([row.due for row in rows], next_due) == ([1_000, 2_000, 3_000], 4_000)
        assert (await store.load("task:pinger:4")) == {**RECORD, "id": "4"}
        counts = await store.counts()
        assert (counts.instances, counts.alarms, counts.next_alarm) == (5, 5, 1_000)


@pytest.mark.anyio
async def test_wal_and_the_chosen_durability_are_in_force(db: Path) -> None:
    async with SqliteStore(db, synchronous="NORMAL") as store:
        assert await store._reader().run(lambda c: c.execute("PRAGMA synchronous").fetchall()[0][0]) == 1
        assert await store._write().submit(lambda c: c.execute("PRAGMA synchronous").fetchall()[0][0]).wait() == 1
    async with SqliteStore(db) as store:  # FULL by default
        assert await store._write().submit(lambda c: c.execute("PRAGMA synchronous").fetchall()[0][0]).wait() == 2
    assert raw_rows(db, "PRAGMA journal_mode") == [("wal",)]
    with pytest.raises(ValueError, match="synchronous"):
        SqliteStore(db, synchronous="OFF")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_concurrent_saves_share_commits(db: Path) -> None:
    async with SqliteStore(db) as store:

        async def save(n: int) -> None:
            await store.save(f"task:pinger:{n}", {**RECORD, "id": str(n)}, n, True)

        async with anyio.create_task_group() as group:
            for n in range(400):
                group.start_soon(save, n)
        commits, writes = store.commit_stats
        assert writes == 400
        assert commits < writes / 4, (commits, writes)
        assert (await store.counts()).alarms == 400


@pytest.mark.anyio
async def test_a_failing_write_fails_alone_in_its_group(db: Path) -> None:
    async with SqliteStore(db) as store:
        await store.save("task:pinger:keep", RECORD, None, False)
    connection = sqlite3.connect(db)
    connection.execute("CREATE TABLE strict_rows (v INTEGER NOT NULL)")
    connection.commit()
    connection.close()
    writer = GroupCommitWriter(sqlite3.connect(db, isolation_level=None, check_same_thread=False), current_loop())

    def insert(value: int | None) -> Callable[[sqlite3.Connection], object]:
        return lambda connection: connection.execute("INSERT INTO strict_rows VALUES (?)", (value,))

    try:
        good = [writer.submit(insert(n)) for n in range(20)]
        bad = writer.submit(insert(None))
        more = [writer.submit(insert(n)) for n in range(5)]
        for pending in good + more:
            await pending.wait()
        with pytest.raises(sqlite3.IntegrityError):
            await bad.wait()
    finally:
        writer.stop()
        writer.join()
    assert raw_rows(db, "SELECT COUNT(*) FROM strict_rows") == [(25,)]


@pytest.mark.anyio
async def test_a_record_that_is_not_json_is_a_storage_error_and_nothing_is_written(db: Path) -> None:
    async with SqliteStore(db) as store:
        with pytest.raises(StorageError, match="not JSON"):
            await store.save("task:pinger:a", {**RECORD, "bad": float("nan")}, 1, True)
        assert await store.load("task:pinger:a") is None
        assert await store.due_alarms(2**62, 1) == ([], None)


@pytest.mark.anyio
async def test_a_newer_schema_is_refused(db: Path) -> None:
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(StorageError, match="schema version 99"):
        await SqliteStore(db).open()


@pytest.mark.anyio
async def test_a_store_that_is_not_open_fails_with_storage_error(db: Path) -> None:
    store = SqliteStore(db)
    with pytest.raises(StorageError, match="not open"):
        await store.load("task:pinger:a")


@pytest.mark.anyio
async def test_alarms_move_only_if_unchanged_and_listing_reads_by_job(db: Path) -> None:
    async with SqliteStore(db) as store:
        await store.save("task:pinger:a", RECORD, 100, True)
        await store.save("debounce:notes:b", {**RECORD, "job_type": "debounce", "job_name": "notes"}, 50, True)
        assert await store.move_alarm("task:pinger:a", 100, 900, 1) is True
        assert await store.move_alarm("task:pinger:a", 100, 1_900, 2) is False  # it is no longer at 100
        assert [(r.instance_id, r.due, r.attempts) for r in (await store.due_alarms(2**62, 5))[0]] == [
            ("debounce:notes:b", 50, 0),
            ("task:pinger:a", 900, 1),
        ]
        listed = await store.list_instances(job_type="task")
        assert [(row.instance_id, row.alarm, row.alarm_attempts) for row in listed] == [("task:pinger:a", 900, 1)]
        # a file read directly while the store has it open
        assert [row.instance_id for row in read_instances(db)] == ["debounce:notes:b", "task:pinger:a"]
        assert [row.instance_id for row in read_instances(db, job_type="debounce", job_name="notes")] == [
            "debounce:notes:b"
        ]
        assert [row.instance_id for row in read_instances(db, after="debounce:notes:b")] == ["task:pinger:a"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_cancelled_save_returns_only_once_committed(db: Path, anyio_backend: str) -> None:
    async with SqliteStore(db) as store:
        gate = threading.Event()
        store._write().submit(lambda connection: gate.wait(10))  # the writer is busy until the gate opens
        threading.Timer(0.2, gate.set).start()
        with anyio.move_on_after(0.01) as scope:
            await store.save("task:pinger:a", RECORD, 7, True)
        assert scope.cancelled_caught
        # the caller (holding the instance's lock) only moves on once the write it queued is committed
        assert gate.is_set()
        assert await store.load_with_alarm("task:pinger:a") == (RECORD, 7)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_an_alarm_armed_by_a_cancelled_save_is_announced_once_committed(db: Path, anyio_backend: str) -> None:
    async with SqliteStore(db) as store:
        armed: list[int] = []
        store.on_alarm_armed = armed.append
        gate = await hold_the_writer(store)
        saved = anyio.Event()

        async def save(scope: anyio.CancelScope) -> None:
            with scope:
                await store.save("task:pinger:a", RECORD, 7, True)
            saved.set()

        scope = anyio.CancelScope()
        async with anyio.create_task_group() as group:
            group.start_soon(save, scope)
            await anyio.wait_all_tasks_blocked()
            scope.cancel()  # the caller gives up while its save is queued
            await anyio.wait_all_tasks_blocked()
            assert not saved.is_set() and armed == []  # nothing is announced before the row exists
            gate.set()
        assert scope.cancelled_caught
        assert armed == [7]  # the scheduler learns of the alarm all the same
        assert await store.load_with_alarm("task:pinger:a") == (RECORD, 7)


@pytest.mark.anyio
@pytest.mark.parametrize("content", ["not a database", "a directory"])
async def test_a_file_that_cannot_be_opened_fails_the_open_and_leaves_nothing_running(db: Path, content: str) -> None:
    if content == "a directory":
        db.mkdir()
    else:
        db.write_bytes(b"this is not a database" * 100)
    store = SqliteStore(db)
    with anyio.fail_after(10), pytest.raises(StorageError, match=str(db)):
        await store.open()
    assert not store.is_open
    assert not [t for t in threading.enumerate() if t.name.startswith("durable-effect-sqlite")]  # none started


@pytest.mark.anyio
async def test_the_record_cache_stays_within_its_size_and_loads_stay_right(db: Path) -> None:
    async with SqliteStore(db, cache_size=3) as store:
        for n in range(10):
            await store.save(f"task:pinger:{n}", {**RECORD, "id": str(n)}, None, False)
        assert len(store._cache) == 3  # the three saved last
        for n in range(10):  # evicted ones are read from the file, cached ones from memory: the same records
            assert await store.load(f"task:pinger:{n}") == {**RECORD, "id": str(n)}
        assert await store.load("task:pinger:missing") is None
        assert len(store._cache) == 3
        await store.save("task:pinger:9", None, None, True)  # a delete is remembered as "no record"
        assert await store.load("task:pinger:9") is None
    async with SqliteStore(db, cache_size=0) as store:
        assert await store.load("task:pinger:0") == {**RECORD, "id": "0"}
        assert len(store._cache) == 0
    with pytest.raises(ValueError, match="cache_size"):
        SqliteStore(db, cache_size=-1)


@pytest.mark.anyio
async def test_a_failed_save_leaves_the_previous_record_for_the_next_load(db: Path) -> None:
    async with SqliteStore(db) as store:
        await store.save("task:pinger:a", RECORD, None, False)
    connection = sqlite3.connect(db)
    connection.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE ON instances WHEN NEW.record LIKE '%refused%' "
        "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
    )
    connection.commit()
    connection.close()
    async with SqliteStore(db) as store:
        assert await store.load("task:pinger:a") == RECORD  # now cached
        with pytest.raises(StorageError, match="refused by a trigger"):
            await store.save("task:pinger:a", {**RECORD, "note": "refused"}, None, False)
        assert await store.load("task:pinger:a") == RECORD
        await store.save("task:pinger:a", {**RECORD, "note": "kept"}, None, False)
        assert await store.load("task:pinger:a") == {**RECORD, "note": "kept"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("stored", "message"),
    [('{"v": 1', "not JSON"), ("[1, 2]", "not a JSON object"), ('{"v": 1} trailing', "not a JSON object")],
)
async def test_a_stored_record_that_is_not_a_json_object_is_a_storage_error(
    db: Path, stored: str, message: str
) -> None:
    async with SqliteStore(db):
        pass
    connection = sqlite3.connect(db)
    connection.execute("INSERT INTO instances VALUES ('task:pinger:a', ?)", (stored,))
    connection.commit()
    connection.close()
    async with SqliteStore(db) as store:
        with pytest.raises(StorageError, match=message):
            await store.load("task:pinger:a")


@pytest.mark.anyio
async def test_a_save_cancelled_twice_still_waits_for_its_commit(db: Path) -> None:
    # On asyncio a second Task.cancel() gets through anyio's shield; the wait must hold all the same.
    async with SqliteStore(db) as store:
        armed: list[int] = []
        store.on_alarm_armed = armed.append
        gate = await hold_the_writer(store)
        saving = asyncio.ensure_future(store.save("task:pinger:a", RECORD, 7, True))
        for _ in range(2):
            await anyio.wait_all_tasks_blocked()
            saving.cancel()
        await anyio.wait_all_tasks_blocked()
        assert not saving.done() and armed == []  # still waiting for the queued write
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await saving
        assert armed == [7]  # the scheduler hears of the alarm it armed
        assert await store.load("task:pinger:a") == RECORD  # and the cache holds what the file does


@pytest.mark.anyio
async def test_a_reopened_store_reads_what_the_file_holds_now(db: Path) -> None:
    store = SqliteStore(db)
    async with store:
        await store.save("task:pinger:a", {**RECORD, "n": 1}, None, False)  # cached
    async with SqliteStore(db) as other:  # while the first is closed, another writes the file
        await other.save("task:pinger:a", {**RECORD, "n": 2}, None, False)
    async with store:
        assert await store.load("task:pinger:a") == {**RECORD, "n": 2}
