"""Blocking SQLite work off the event loop: reader threads, and one writer thread that commits in groups.

Each thread owns its connection. A caller queues a job and awaits a :class:`Pending`; the thread runs the job
and hands results back to the event loop without waiting for it (asyncio's ``call_soon_threadsafe`` or trio's
``run_sync_soon``), one wake-up for all the results of a batch.

**Group commit.** The writer takes the first queued write, then everything else already queued (up to
``max_batch``), and applies them all in one transaction: one commit (one ``fsync`` with
``synchronous=FULL``) for many concurrent callers. Should the group fail, it is rolled back and each write
is retried in its own transaction, so one bad write fails only its own caller.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio

T = TypeVar("T")

LoopCaller = Callable[[Callable[[], object]], object]
"""Schedules a callable on an event loop without waiting."""

_log = logging.getLogger("durable_effect.sqlite")


class EventLoop:
    """The running event loop (asyncio or trio): ``key`` identifies it, ``call_soon`` runs a callable on it
    after the tasks ready now (call on its thread), ``call_soon_threadsafe`` does so from any thread."""

    __slots__ = ("call_soon", "call_soon_threadsafe", "key")

    def __init__(self, key: object, call_soon: LoopCaller, call_soon_threadsafe: LoopCaller) -> None:
        self.key = key
        self.call_soon = call_soon
        self.call_soon_threadsafe = call_soon_threadsafe


def current_loop() -> EventLoop:
    """The running event loop; raises ``RuntimeError`` if there is none."""
    key = current_loop_key()
    if isinstance(key, asyncio.AbstractEventLoop):
        return EventLoop(key, key.call_soon, key.call_soon_threadsafe)
    run_sync_soon: LoopCaller = key.run_sync_soon  # type: ignore[attr-defined]
    return EventLoop(key, run_sync_soon, run_sync_soon)


def current_loop_key() -> object:
    """Identifies the running event loop: the asyncio loop, or trio's token (cheap; for per-call checks)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        import trio

        return trio.lowlevel.current_trio_token()
    except (ImportError, RuntimeError):
        raise RuntimeError("no running asyncio or trio event loop") from None


class Pending(Generic[T]):
    """A result a database thread will deliver; ``await pending.wait()`` on the event loop.

    On asyncio it is a bare future (the cheapest wake-up there is), elsewhere an ``anyio.Event``. It can be
    awaited again after a cancelled wait.
    """

    __slots__ = ("_done", "_error", "_future", "_value", "_woken")

    def __init__(self) -> None:
        self._done: anyio.Event | None = None
        try:
            self._future: asyncio.Future[None] | None = asyncio.get_running_loop().create_future()
        except RuntimeError:
            self._future = None
            self._done = anyio.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._woken = False

    def _settle(self, value: Any, error: BaseException | None) -> None:
        self._value = value
        self._error = error

    def _wake(self) -> None:
        """On the event loop's thread, once settled."""
        self._woken = True
        if self._future is not None:
            if not self._future.done():
                self._future.set_result(None)
        elif self._done is not None:
            self._done.set()

    async def wait(self) -> T:
        future = self._future
        if future is not None:
            try:
                await future
            except asyncio.CancelledError:
                if future.cancelled():  # cancelled along with the waiting task: a later wait needs a new one
                    self._future = future.get_loop().create_future()
                    if self._woken:
                        self._future.set_result(None)
                raise
        elif self._done is not None:
            await self._done.wait()
        if self._error is not None:
            raise self._error
        value: T = self._value
        return value


Job = Callable[[sqlite3.Connection], Any]
_STOP = object()


def _deliver(caller: LoopCaller, settled: list[Pending[Any]]) -> None:
    def wake_all() -> None:
        for pending in settled:
            pending._wake()

    try:
        caller(wake_all)
    except RuntimeError:  # the event loop is gone: nobody is waiting any more
        _log.debug("event loop closed before %d database results were delivered", len(settled))


class ReaderPool:
    """One thread per connection (opened by the caller, read-only), serving jobs from one queue; each thread
    closes its connection when it ends."""

    def __init__(self, connections: list[sqlite3.Connection], loop: EventLoop) -> None:
        self._caller = loop.call_soon_threadsafe
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(
                target=self._run, args=(connection,), name=f"durable-effect-sqlite-reader-{n}", daemon=True
            )
            for n, connection in enumerate(connections)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> Pending[Any]:
        pending: Pending[Any] = Pending()
        self._queue.put((job, pending))
        return pending

    async def run(self, job: Job) -> Any:
        return await self.submit(job).wait()

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _run(self, connection: sqlite3.Connection) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                settled: list[Pending[Any]] = []
                while True:
                    job, pending = item
                    try:
                        pending._settle(job(connection), None)
                    except BaseException as exc:
                        pending._settle(None, exc)
                    settled.append(pending)
                    if len(settled) >= 64:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        self._queue.put(_STOP)  # handle it on the next turn, after delivering
                        break
                _deliver(self._caller, settled)
        finally:
            connection.close()


class GroupCommitWriter:
    """One thread with the only writing connection (opened by the caller; the thread closes it when it ends);
    queued writes are committed together.

    Writes submitted during one turn of the event loop are handed to the thread together (one wake-up of
    the thread per turn, not per write), and the thread commits everything it finds queued in one
    transaction.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        loop: EventLoop,
        max_batch: int = 512,
        *,
        apply_batch: Callable[[sqlite3.Connection, list[Job]], list[Any]] | None = None,
    ) -> None:
        self._caller = loop.call_soon_threadsafe
        self._soon = loop.call_soon
        self._max_batch = max_batch
        self._apply_batch = apply_batch or _apply_each
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._outbox: list[tuple[Job, Pending[Any]]] = []
        self._thread = threading.Thread(
            target=self._run, args=(connection,), name="durable-effect-sqlite-writer", daemon=True
        )
        self.commits = 0
        self.writes = 0
        self._thread.start()

    def submit(self, job: Job) -> Pending[Any]:
        """Queue ``job(connection)`` to run inside a write transaction (call on the event loop)."""
        pending: Pending[Any] = Pending()
        if not self._outbox:
            self._soon(self._hand_over)
        self._outbox.append((job, pending))
        return pending

    def _hand_over(self) -> None:
        outbox, self._outbox = self._outbox, []
        if outbox:
            self._queue.put(outbox)

    def stop(self) -> None:
        """Commit what is queued, then end the thread."""
        self._hand_over()
        self._queue.put(_STOP)

    def join(self) -> None:
        self._thread.join()

    def _run(self, connection: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                batch: list[tuple[Job, Pending[Any]]] = list(first)
                stop = False
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    batch.extend(item)
                self._commit(connection, batch)
                if stop:
                    return
        finally:
            connection.close()

    def _commit(self, connection: sqlite3.Connection, batch: list[tuple[Job, Pending[Any]]]) -> None:
        try:
            connection.execute("BEGIN IMMEDIATE")
            results = self._apply_batch(connection, [job for job, _ in batch])
            connection.execute("COMMIT")
        except BaseException:
            _rollback(connection)
            if len(batch) == 1:
                self._settle_alone(connection, batch[0])
            else:
                for item in batch:  # find the culprit: each write in its own transaction
                    self._settle_alone(connection, item)
        else:
            for (_, pending), result in zip(batch, results, strict=True):
                pending._settle(result, None)
        self.commits += 1
        self.writes += len(batch)
        _deliver(self._caller, [pending for _, pending in batch])

    def _settle_alone(self, connection: sqlite3.Connection, item: tuple[Job, Pending[Any]]) -> None:
        job, pending = item
        try:
            connection.execute("BEGIN IMMEDIATE")
            result = job(connection)
            connection.execute("COMMIT")
        except BaseException as exc:
            _rollback(connection)
            pending._settle(None, exc)
        else:
            pending._settle(result, None)


def _apply_each(connection: sqlite3.Connection, jobs: list[Job]) -> list[Any]:
    return [job(connection) for job in jobs]


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error:  # pragma: no cover - nothing more can be done
            _log.exception("rollback failed")
