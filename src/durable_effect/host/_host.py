"""``Host``: the jobs of one registry served from one SQLite file in this process.

``async with Host(jobs, "jobs.sqlite") as host:`` opens the database, starts the alarm scheduler (which picks
up every alarm already in the file) and the telemetry sender, and serves calls through ``host.client()``
until the block ends. Calls are serialized per instance by :class:`~durable_effect.jobs.JobsRuntime`; each
call reads its record once and commits its record and alarm change in one transaction before it returns.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from ..backends.sqlite import SqliteStore, StoreCounts, Synchronous
from ..backends.sqlite_threads import current_loop_key
from ..effect import Clock, ClockService, RandomService
from ..jobs._errors import StorageError
from ..jobs._protocol import Request
from ..jobs._runtime import JobsRuntime
from ..jobs._telemetry import Event, NoopTracker, make_tracker
from ._instances import InstanceSummary, summarize
from ._scheduler import AlarmGuardedStore, AlarmScheduler

if TYPE_CHECKING:
    from ..jobs._client import JobsClient
    from ..jobs._registry import DurableJobs

_log = logging.getLogger("durable_effect.host")

_FINAL_TELEMETRY_S = 5.0
"""How long stopping a host may spend delivering the telemetry still queued."""

_running: weakref.WeakValueDictionary[str, Host] = weakref.WeakValueDictionary()
"""Hosts running in this process by database path, so ``JobsClient.local(path)`` finds the one serving it."""


class HostError(RuntimeError):
    """The host cannot start or serve: the database cannot be opened or is taken by another host, the host is
    not running, or it is called from another event loop than its own."""


def database_key(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fspath(path))


def running_host(path: str | os.PathLike[str]) -> Host | None:
    """The host serving ``path`` in this process, if any."""
    return _running.get(database_key(path))


class Host:
    """Serves the jobs of ``jobs`` (from ``create_durable_jobs``) from the SQLite file ``path``.

    - ``clock``: the :class:`~durable_effect.ClockService` for all time (scheduler, handlers, records,
      telemetry); default the real clock. ``AcceleratedClock(factor)`` runs time faster.
    - ``concurrency``: how many due alarms run at once (calls are not limited).
    - ``synchronous``: ``"FULL"`` (default; a commit survives power loss) or ``"NORMAL"`` (survives a process
      crash; faster). See :mod:`durable_effect.backends.sqlite`.
    - ``on_events``: called on the event loop with each call's telemetry events, after the call.
    - ``telemetry_interval``: how often (real seconds) queued telemetry is retried when delivery failed;
      events are otherwise sent right after each call, by a background task, never on the call's path.
    - ``cache_size``: how many recently used records are kept in memory (as JSON text) so that calls on them
      skip the read; ``0`` turns the cache off. Memory is bounded by it, not by the number of instances.

    Only one host may serve a file at a time (a lock file ``path + ".lock"`` is held while running).
    """

    def __init__(
        self,
        jobs: DurableJobs,
        path: str | os.PathLike[str],
        *,
        clock: ClockService | None = None,
        random: RandomService | None = None,
        concurrency: int = 32,
        synchronous: Synchronous = "FULL",
        on_events: Callable[[list[Event]], None] | None = None,
        telemetry_interval: float = 1.0,
        readers: int = 2,
        cache_size: int = 10_000,
    ) -> None:
        self.jobs = jobs
        self.path = os.fspath(path)
        self.clock: ClockService = clock if clock is not None else Clock.default()
        self.store = SqliteStore(self.path, synchronous=synchronous, readers=readers, cache_size=cache_size)
        self.tracker = make_tracker(jobs.tracker)
        self._on_events = on_events
        self._telemetry_interval = telemetry_interval
        self.runtime = JobsRuntime(
            jobs.engine,
            AlarmGuardedStore(self.store, self.clock),
            clock=self.clock,
            random=random if random is not None else RandomService(),
            tracker=self.tracker,
            on_events=self._events,
            deliver_inline=False,
        )
        self.scheduler = AlarmScheduler(self.store, self.runtime, self.clock, concurrency=concurrency)
        self.store.on_alarm_armed = self.scheduler.notify
        self._task_group: TaskGroup | None = None
        self._telemetry_due: anyio.Event | None = None
        self._lock_file: IO[bytes] | None = None
        self._loop: object = None
        self._owner: int | None = None
        self._key = database_key(self.path)
        self._stopped = anyio.Event()

    # ---------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._task_group is not None

    @property
    def loop(self) -> object:
        """The event loop the host runs on (calls must come from it)."""
        return self._loop

    async def __aenter__(self) -> Host:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._stop(exc_type, exc, tb)

    async def start(self) -> None:
        """Open the database and start the scheduler; prefer ``async with host:`` which also stops it."""
        if self._task_group is not None:
            raise HostError("the host is already running")
        key = self._key = database_key(self.path)  # kept: a relative path may mean another file later (chdir)
        if key in _running:
            raise HostError(f"{self.path} is already served by another host in this process")
        self._lock_file = _take_lock(key)  # the real path: another spelling of the file takes the same lock
        try:
            await self.store.open()
        except BaseException as exc:
            _release_lock(self._lock_file)
            self._lock_file = None
            if isinstance(exc, StorageError):
                cause = exc.cause.removeprefix(f"{self.path}: ")
                raise HostError(f"cannot open the database {self.path}: {cause}") from exc
            raise
        group = anyio.create_task_group()
        await group.__aenter__()
        self._task_group = group
        self._owner = anyio.get_current_task().id
        self._stopped = anyio.Event()
        self._loop = current_loop_key()
        _running[key] = self
        try:
            await group.start(self.scheduler.run)
            if not isinstance(self.tracker, NoopTracker):
                self._telemetry_due = anyio.Event()
                group.start_soon(self._send_telemetry)
        except BaseException as exc:
            await self._stop(type(exc), exc, exc.__traceback__)
            raise

    async def aclose(self) -> None:
        """Stop the host. From another task than the one that started it, this cancels the host's block
        (``async with host:``, or the background task of ``JobsClient.local``) and waits until it is closed.

        From the task that called :meth:`start`, call it at the same level of cancel scopes as ``start`` (not
        inside a narrower ``fail_after``): ``start`` opened the host's task group in that task's scope. To
        bound a shutdown, bound the whole ``async with host:`` block instead."""
        group = self._task_group
        if group is None:
            return
        if anyio.get_current_task().id == self._owner:
            await self._stop(None, None, None)
            return
        stopped = self._stopped
        group.cancel_scope.cancel()
        await stopped.wait()

    async def _stop(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        group = self._task_group
        if group is None:
            return None
        self._forget()
        group.cancel_scope.cancel()
        own_error = exc is not None and not isinstance(exc, anyio.get_cancelled_exc_class())
        if own_error:
            # The body's own error: let it propagate as it is (the task group would wrap it in a group).
            exc_type = exc = tb = None
        try:
            suppress = await group.__aexit__(exc_type, exc, tb)
        finally:
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(_FINAL_TELEMETRY_S):
                    await self.tracker.flush(final=True)  # even during a backoff
                await self.store.close()
                _release_lock(self._lock_file)
                self._lock_file = None
                self._stopped.set()
        return False if own_error else suppress

    def abandon(self) -> None:
        """Let go of the file without the event loop the host ran on, which was closed without stopping it:
        nothing can run there any more, and what was acknowledged is committed. The database threads end
        after the writes they hold, and the lock is released for a new host."""
        if self._task_group is None:
            return
        self._forget()
        self.store.stop_threads()
        _release_lock(self._lock_file)
        self._lock_file = None
        self._stopped.set()

    def _forget(self) -> None:
        """No longer running: ``JobsClient.local`` of this file finds no host here any more."""
        self._task_group = None
        if _running.get(self._key) is self:
            del _running[self._key]

    # ---------------------------------------------------------------- serving

    def _check_running(self) -> None:
        if self._task_group is None:
            raise HostError("the host is not running: use `async with host:` (or JobsClient.local(path))")
        if current_loop_key() is not self._loop:
            # Its database threads answer on the host's loop only: awaited from another, a call would never end.
            raise HostError(
                f"the host of {self.path} runs on another event loop (thread); call it from that loop, or serve "
                "it over HTTP"
            )

    async def call(self, request: Request) -> dict[str, Any]:
        """Serve one client request; returns the wire response (``{"ok": ...}``)."""
        self._check_running()
        return await self.runtime.call(request)

    def client(self) -> JobsClient:
        """A ``JobsClient`` of the host's registry that calls this host directly."""
        from ._local import HostTransport

        return self.jobs.JobsClient(HostTransport(self))

    async def list_instances(
        self,
        *,
        job_type: str | None = None,
        job_name: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> list[InstanceSummary]:
        """Stored instances in name order (optionally of one job type or job) with status and next alarm."""
        self._check_running()
        rows = await self.store.list_instances(job_type=job_type, job_name=job_name, limit=limit, after=after)
        return [summarize(row) for row in rows]

    async def counts(self) -> StoreCounts:
        self._check_running()
        return await self.store.counts()

    # ---------------------------------------------------------------- telemetry

    def _events(self, events: list[Event]) -> None:
        if self._on_events is not None:
            try:
                self._on_events(events)
            except Exception:
                _log.exception("on_events callback failed")
        if self._telemetry_due is not None:
            self._telemetry_due.set()

    async def _send_telemetry(self) -> None:
        while True:
            due = self._telemetry_due
            assert due is not None
            with anyio.move_on_after(self._telemetry_interval):
                await due.wait()
            self._telemetry_due = anyio.Event()
            await self.tracker.flush()
            await anyio.sleep(0.05)  # gather the events of calls in flight into the next batch


def _take_lock(path: str) -> IO[bytes] | None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no cross-process guard
        return None
    try:
        lock = open(path + ".lock", "ab")  # noqa: SIM115 - held while the host runs
    except OSError as exc:
        raise HostError(f"cannot open the database {path}: cannot create its lock file: {exc}") from exc
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise HostError(f"{path} is already served by another host (lock file {path}.lock is held)") from None
    return lock


def _release_lock(lock: IO[bytes] | None) -> None:
    if lock is not None:
        lock.close()  # closing releases the flock
