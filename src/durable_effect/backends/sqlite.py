"""The SQLite backend: every instance record and alarm of a registry in one database file.

Layout (``PRAGMA user_version = 1``)::

    instances(instance_id TEXT PRIMARY KEY, record TEXT NOT NULL)           -- the engine's record, JSON
    alarms(instance_id TEXT PRIMARY KEY, due INTEGER, attempts INTEGER)     -- at most one alarm per instance
    alarms_by_due ON alarms(due, instance_id)                               -- the scheduler's view

The file is in WAL mode. Reads run on reader threads; writes go through one writer thread that commits
concurrent saves together (see :mod:`~durable_effect.backends.sqlite_threads`). A ``save`` writes the record
and its alarm change in one transaction and returns only after the commit: an acknowledged call is on disk.

Recently used records are also kept as their JSON text in a bounded cache (``cache_size`` instances): the
host is the file's only writer (it holds a lock file), so a record it committed is what the file holds, and
a call on a busy instance skips the read. The cache is filled from reads and commits (a failed write is rolled
back, leaving what the cache holds); memory stays bounded whatever the number of instances.

Durability: ``synchronous="FULL"`` (the default) syncs the WAL on every commit, so a commit survives a power
cut; ``"NORMAL"`` syncs only at checkpoints: a commit survives a crash of the process (``kill -9``) but the
last commits may be lost if the machine loses power.
"""

from __future__ import annotations

import json
import json.scanner
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import anyio

from ..jobs._errors import StorageError
from .sqlite_threads import GroupCommitWriter, Pending, ReaderPool, current_loop

Record = dict[str, Any]
Synchronous = Literal["NORMAL", "FULL"]

SCHEMA_VERSION = 1
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)  # json.dumps with options builds one per call

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alarms (
    instance_id TEXT PRIMARY KEY,
    due INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alarms_by_due ON alarms (due, instance_id);
"""

_LOAD = "SELECT record FROM instances WHERE instance_id = ?"
_LOAD_WITH_ALARM = (
    "SELECT (SELECT record FROM instances WHERE instance_id = ?1), (SELECT due FROM alarms WHERE instance_id = ?1)"
)
_DUE = "SELECT instance_id, due, attempts FROM alarms WHERE due <= ? ORDER BY due, instance_id LIMIT ?"
_NEXT_DUE = "SELECT MIN(due) FROM alarms WHERE due > ?"
_MOVE_ALARM = "UPDATE alarms SET due = ?, attempts = ? WHERE instance_id = ? AND due = ?"
_LIST = (
    "SELECT i.instance_id, i.record, a.due, a.attempts FROM instances AS i "
    "LEFT JOIN alarms AS a ON a.instance_id = i.instance_id "
    "WHERE i.instance_id > ? AND i.instance_id < ? ORDER BY i.instance_id LIMIT ?"
)
_COUNTS = "SELECT (SELECT COUNT(*) FROM instances), (SELECT COUNT(*) FROM alarms), (SELECT MIN(due) FROM alarms)"


@dataclass(frozen=True, slots=True)
class AlarmRow:
    """An armed alarm: when it is due (epoch ms) and how many runs it has triggered that failed to commit."""

    instance_id: str
    due: int
    attempts: int


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """A stored instance with its alarm, as listed."""

    instance_id: str
    record: Record
    alarm: int | None
    alarm_attempts: int


@dataclass(frozen=True, slots=True)
class StoreCounts:
    instances: int
    alarms: int
    next_alarm: int | None


def connect(
    path: str | os.PathLike[str],
    synchronous: Synchronous = "FULL",
    *,
    read_only: bool = False,
    busy_timeout_ms: int = 10_000,
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the store's settings."""
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
    connection = sqlite3.connect(os.fspath(path), isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    if read_only:
        connection.execute("PRAGMA query_only = ON")
    else:
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchall()[0][0]
        if str(mode).lower() != "wal":
            connection.close()
            raise StorageError(operation="open", cause=f"{os.fspath(path)}: cannot use WAL mode (got {mode})")
    connection.execute(f"PRAGMA synchronous = {synchronous}")
    return connection


def _create_schema(connection: sqlite3.Connection) -> None:
    version = connection.execute("PRAGMA user_version").fetchall()[0][0]
    if version not in (0, SCHEMA_VERSION):
        raise StorageError(
            operation="open",
            cause=f"database schema version {version} is not supported (this version reads {SCHEMA_VERSION})",
        )
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            connection.execute(statement)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class _Save:
    """One instance's commit: its record (``None`` deletes it) and, if changed, its alarm."""

    __slots__ = ("alarm", "alarm_changed", "instance_id", "text")

    def __init__(self, instance_id: str, text: str | None, alarm: int | None, alarm_changed: bool) -> None:
        self.instance_id = instance_id
        self.text = text
        self.alarm = alarm
        self.alarm_changed = alarm_changed

    def __call__(self, connection: sqlite3.Connection) -> None:
        _apply_saves(connection, [self])


_ROWS_PER_STATEMENT = 500


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i : i + _ROWS_PER_STATEMENT] for i in range(0, len(items), _ROWS_PER_STATEMENT)]


def _apply_saves(connection: sqlite3.Connection, saves: list[_Save]) -> None:
    """Apply the saves of distinct instances with a few multi-row statements (not one per save: every
    statement costs the writer thread a round trip through the GIL)."""
    upserts = [(save.instance_id, save.text) for save in saves if save.text is not None]
    deletes = [save.instance_id for save in saves if save.text is None]
    armed = [(save.instance_id, int(save.alarm)) for save in saves if save.alarm_changed and save.alarm is not None]
    disarmed = [save.instance_id for save in saves if save.alarm_changed and save.alarm is None]
    _upsert_rows(connection, "instances (instance_id, record)", "(?, ?)", "record = excluded.record", upserts)
    _delete_ids(connection, "instances", deletes)
    _upsert_rows(
        connection, "alarms (instance_id, due, attempts)", "(?, ?, 0)", "due = excluded.due, attempts = 0", armed
    )
    _delete_ids(connection, "alarms", disarmed)


def _upsert_rows(connection: sqlite3.Connection, into: str, row: str, update: str, rows: list[tuple[str, Any]]) -> None:
    for chunk in _chunks(rows):
        connection.execute(
            f"INSERT INTO {into} VALUES {','.join([row] * len(chunk))} "
            f"ON CONFLICT (instance_id) DO UPDATE SET {update}",
            [value for item in chunk for value in item],
        )


def _delete_ids(connection: sqlite3.Connection, table: str, ids: list[str]) -> None:
    for chunk in _chunks(ids):
        connection.execute(f"DELETE FROM {table} WHERE instance_id IN ({','.join(['?'] * len(chunk))})", chunk)


def apply_batch(connection: sqlite3.Connection, jobs: list[Any]) -> list[Any]:
    """The writer's batch: runs of saves of distinct instances are applied together, other writes alone,
    all in queue order."""
    results: list[Any] = [None] * len(jobs)
    group: list[_Save] = []
    seen: set[str] = set()
    for index, job in enumerate(jobs):
        if isinstance(job, _Save):
            if job.instance_id in seen:
                _apply_saves(connection, group)
                group, seen = [], set()
            group.append(job)
            seen.add(job.instance_id)
            continue
        if group:
            _apply_saves(connection, group)
            group, seen = [], set()
        results[index] = job(connection)
    if group:
        _apply_saves(connection, group)
    return results


def _prefix_range(job_type: str | None, job_name: str | None, after: str | None) -> tuple[str, str]:
    if job_type is None:
        low, high = "", "\U0010ffff"
    elif job_name is None:
        low, high = f"{job_type}:", f"{job_type};"
    else:
        low, high = f"{job_type}:{job_name}:", f"{job_type}:{job_name};"
    if after is not None and after > low:
        low = after
    return low, high


def _rows_to_instances(rows: list[tuple[str, str, int | None, int | None]]) -> list[InstanceRow]:
    return [InstanceRow(iid, json.loads(text), due, attempts or 0) for iid, text, due, attempts in rows]


def read_instances(
    path: str | os.PathLike[str],
    *,
    job_type: str | None = None,
    job_name: str | None = None,
    limit: int = 100,
    after: str | None = None,
) -> list[InstanceRow]:
    """List instances straight from a database file, read-only (safe while a host is serving it)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no database at {os.fspath(path)}")
    connection = connect(path, read_only=True)
    try:
        low, high = _prefix_range(job_type, job_name, after)
        return _rows_to_instances(connection.execute(_LIST, (low, high, limit)).fetchall())
    finally:
        connection.close()


class SqliteStore:
    """An :class:`~durable_effect.jobs.InstanceStore` over one SQLite file, with the alarms table.

    ``await store.open()`` (or ``async with store:``) on the event loop that will use it; ``on_alarm_armed``
    is called on that loop, after the commit, with the due time of every alarm a commit sets or moves.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        readers: int = 2,
        max_batch: int = 512,
        cache_size: int = 10_000,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self.path = os.fspath(path)
        self.synchronous: Synchronous = synchronous
        self._readers_count = readers
        self._max_batch = max_batch
        self._writer: GroupCommitWriter | None = None
        self._readers: ReaderPool | None = None
        self._inline: sqlite3.Connection | None = None
        self.on_alarm_armed: Callable[[int], None] | None = None
        self._cache = _RecordCache(cache_size)

    # ---------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        if self._writer is not None:
            raise RuntimeError("this store is already open")
        # While closed, the file was not this store's alone: what it cached before may no longer be on disk.
        self._cache.clear()
        loop = current_loop()
        connections: list[sqlite3.Connection] = []

        def connect_all() -> None:
            # Every connection is made here, before any database thread starts: a file that cannot be opened
            # (not a database, a directory, no permission) fails the open, and nothing is left running.
            writer = connect(self.path, self.synchronous)
            connections.append(writer)
            writer.execute("BEGIN IMMEDIATE")
            try:
                _create_schema(writer)
                writer.execute("COMMIT")
            except BaseException:
                writer.execute("ROLLBACK")
                raise
            for _ in range(self._readers_count):
                connections.append(connect(self.path, self.synchronous, read_only=True))
            # Point reads run on the event loop's thread: in WAL mode a reader never waits for the writer, and
            # a primary-key lookup costs far less than a hop to a thread and back. It gives up at once if the
            # file is busy (recovery after a crash), and the read is then made on a reader thread.
            connections.append(connect(self.path, self.synchronous, read_only=True, busy_timeout_ms=0))

        try:
            await anyio.to_thread.run_sync(connect_all)
        except BaseException as exc:
            for connection in connections:
                connection.close()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(operation="open", cause=f"{self.path}: {exc}") from exc
            raise
        writer, *readers, inline = connections
        self._writer = GroupCommitWriter(writer, loop, self._max_batch, apply_batch=apply_batch)
        self._readers = ReaderPool(readers, loop)
        self._inline = inline

    async def close(self) -> None:
        """Commit queued writes and stop the threads."""
        writer, readers = self._writer, self._readers
        self.stop_threads()
        with anyio.CancelScope(shield=True):
            if writer is not None:
                await anyio.to_thread.run_sync(writer.join)
            if readers is not None:
                await anyio.to_thread.run_sync(readers.join)

    def stop_threads(self) -> None:
        """Tell the threads to end without waiting for them: the writer commits what it holds, then ends (what
        :meth:`close` waits for; alone, when the event loop is gone)."""
        writer, readers, inline = self._writer, self._readers, self._inline
        self._writer = self._readers = self._inline = None
        if inline is not None:
            inline.close()
        if writer is not None:
            writer.stop()
        if readers is not None:
            readers.stop()

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def __aenter__(self) -> SqliteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _reader(self) -> ReaderPool:
        if self._readers is None:
            raise StorageError(operation="get", cause="the store is not open")
        return self._readers

    def _write(self) -> GroupCommitWriter:
        if self._writer is None:
            raise StorageError(operation="put", cause="the store is not open")
        return self._writer

    # ---------------------------------------------------------------- InstanceStore

    async def _point_read(self, read: Callable[[sqlite3.Connection], Any], operation: str) -> Any:
        inline = self._inline
        if inline is None:
            raise StorageError(operation=operation, cause="the store is not open")
        try:
            return read(inline)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise StorageError(operation=operation, cause=f"{type(exc).__name__}: {exc}") from exc
        except sqlite3.Error as exc:
            raise StorageError(operation=operation, cause=f"{type(exc).__name__}: {exc}") from exc
        try:  # the file is busy: wait for it on a reader thread
            return await self._reader().run(read)
        except sqlite3.Error as exc:
            raise StorageError(operation=operation, cause=f"{type(exc).__name__}: {exc}") from exc

    async def load(self, instance_id: str) -> Record | None:
        text = self._cache.get(instance_id)
        if text is _MISSING:

            def read(connection: sqlite3.Connection) -> str | None:
                rows = connection.execute(_LOAD, (instance_id,)).fetchall()
                return None if not rows else rows[0][0]

            text = await self._point_read(read, "get")
            self._cache.put(instance_id, text)
        return None if text is None else _decode(text)

    async def save(self, instance_id: str, record: Record | None, alarm: int | None, alarm_changed: bool) -> None:
        """Commit the record (``None`` deletes it) and, when ``alarm_changed``, the alarm (``None`` cancels it).

        Returns after the commit. Waiting is shielded from cancellation: once queued, the write happens, and
        the caller (who holds the instance's lock) must not move on before it has.
        """
        operation = "delete" if record is None else "put"
        try:
            text = None if record is None else _ENCODER.encode(record)
        except (TypeError, ValueError) as exc:
            raise StorageError(operation=operation, cause=f"record is not JSON: {exc}") from exc

        pending = self._write().submit(_Save(instance_id, text, alarm, alarm_changed))
        armed = int(alarm) if alarm_changed and alarm is not None else None

        def on_commit(_: object) -> None:
            self._cache.put(instance_id, text)
            if armed is not None:
                self._armed(armed)

        try:
            await _committed(pending, on_commit)
        except sqlite3.Error as exc:  # rolled back: the file (and so the cache) still holds the previous record
            raise StorageError(operation=operation, cause=f"{type(exc).__name__}: {exc}") from exc

    def _armed(self, due: int) -> None:
        if self.on_alarm_armed is not None:
            self.on_alarm_armed(due)

    # ---------------------------------------------------------------- alarms

    async def load_with_alarm(self, instance_id: str) -> tuple[Record | None, int | None]:
        """The record and the due time of the instance's alarm, read together (one snapshot)."""

        def read(connection: sqlite3.Connection) -> tuple[str | None, int | None]:
            text, due = connection.execute(_LOAD_WITH_ALARM, (instance_id,)).fetchall()[0]
            return text, due

        text, due = await self._point_read(read, "get")
        self._cache.put(instance_id, text)
        return (None if text is None else _decode(text)), due

    async def due_alarms(self, now: int, limit: int) -> tuple[list[AlarmRow], int | None]:
        """Up to ``limit`` alarms due by ``now`` in due order, and the earliest due time after ``now``
        (two index seeks, read together: cheap at any table size)."""

        def read(connection: sqlite3.Connection) -> tuple[list[AlarmRow], int | None]:
            connection.execute("BEGIN")
            try:
                rows = [AlarmRow(*row) for row in connection.execute(_DUE, (now, limit)).fetchall()]
                next_due = connection.execute(_NEXT_DUE, (now,)).fetchall()[0][0]
            finally:
                connection.execute("COMMIT")
            return rows, next_due

        result: tuple[list[AlarmRow], int | None] = await self._point_read(read, "get_alarm")
        return result

    async def move_alarm(self, instance_id: str, expected_due: int, due: int, attempts: int) -> bool:
        """Move an alarm to ``due`` if it is still due at ``expected_due`` (nothing else changed it)."""

        def write(connection: sqlite3.Connection) -> bool:
            return connection.execute(_MOVE_ALARM, (due, attempts, instance_id, expected_due)).rowcount > 0

        pending = self._write().submit(write)
        try:
            moved: bool = await _committed(pending, lambda moved: self._armed(due) if moved else None)
        except sqlite3.Error as exc:
            raise StorageError(operation="set_alarm", cause=f"{type(exc).__name__}: {exc}") from exc
        return moved

    # ---------------------------------------------------------------- listing

    async def list_instances(
        self,
        *,
        job_type: str | None = None,
        job_name: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> list[InstanceRow]:
        """Instances in name order, optionally of one job type / job; ``after`` continues a listing."""
        low, high = _prefix_range(job_type, job_name, after)

        def read(connection: sqlite3.Connection) -> list[InstanceRow]:
            return _rows_to_instances(connection.execute(_LIST, (low, high, limit)).fetchall())

        try:
            rows: list[InstanceRow] = await self._reader().run(read)
        except sqlite3.Error as exc:
            raise StorageError(operation="list", cause=f"{type(exc).__name__}: {exc}") from exc
        return rows

    async def counts(self) -> StoreCounts:
        def read(connection: sqlite3.Connection) -> StoreCounts:
            return StoreCounts(*connection.execute(_COUNTS).fetchall()[0])

        try:
            counts: StoreCounts = await self._reader().run(read)
        except sqlite3.Error as exc:
            raise StorageError(operation="count", cause=f"{type(exc).__name__}: {exc}") from exc
        return counts

    @property
    def commit_stats(self) -> tuple[int, int]:
        """``(commits, writes)`` so far: how well concurrent saves were grouped."""
        writer = self._writer
        return (0, 0) if writer is None else (writer.commits, writer.writes)


_MISSING: Any = object()


class _RecordCache:
    """The JSON text of the most recently used records (``None``: known to have none), least recently used
    dropped first."""

    __slots__ = ("_size", "_texts")

    def __init__(self, size: int) -> None:
        self._size = size
        self._texts: dict[str, str | None] = {}

    def get(self, instance_id: str) -> Any:
        """The cached text (``None`` for no record), or ``_MISSING``."""
        text = self._texts.pop(instance_id, _MISSING)
        if text is not _MISSING:
            self._texts[instance_id] = text  # most recently used last
        return text

    def clear(self) -> None:
        self._texts.clear()

    def put(self, instance_id: str, text: str | None) -> None:
        if not self._size:
            return
        texts = self._texts
        texts.pop(instance_id, None)
        texts[instance_id] = text
        if len(texts) > self._size:
            del texts[next(iter(texts))]

    def __len__(self) -> int:
        return len(self._texts)


async def _committed(pending: Pending[Any], on_commit: Callable[[Any], object] | None = None) -> Any:
    """Wait for a queued write, then call ``on_commit`` with its result once it has committed. Cancelled
    meanwhile, still wait for it (shielded) before letting the cancellation through: the write will happen,
    the caller holds the instance's lock until it has, and ``on_commit`` (telling the scheduler of an alarm
    the write armed) must run all the same."""
    cancelled = anyio.get_cancelled_exc_class()
    try:
        result = await pending.wait()
    except cancelled:
        with anyio.CancelScope(shield=True):
            while True:
                try:
                    result = await pending.wait()
                except cancelled:  # on asyncio a shield does not hold off another Task.cancel(): wait on
                    continue
                except Exception:  # a failed write: nothing to tell
                    break
                if on_commit is not None:
                    on_commit(result)
                break
        raise
    if on_commit is not None:
        on_commit(result)
    return result


# json.loads without its whitespace skipping (we wrote the text): the decoder's scanner, called directly.
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _decode(text: str) -> Record:
    try:
        record, end = _scan(text, 0)
    except StopIteration as stop:  # how the scanner says no value starts at that position
        raise StorageError(operation="get", cause=f"stored record is not JSON (at character {stop.value})") from None
    except ValueError as exc:
        raise StorageError(operation="get", cause=f"stored record is not JSON: {exc}") from None
    if end != len(text) or not isinstance(record, dict):
        raise StorageError(operation="get", cause="stored record is not a JSON object")
    return record
