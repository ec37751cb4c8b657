"""In-process transports: ``JobsClient.local(path_or_host)``.

``JobsClient.local(host)`` calls a running :class:`Host`. ``JobsClient.local("jobs.sqlite")`` finds the host
serving that file in this process, or starts one on the first call: the host then runs in the background
on the caller's event loop (an asyncio task, or a trio system task) until that loop ends, with its scheduler
firing alarms all the while. Every ``JobsClient.local`` of the same file shares that one host.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import anyio

from ..backends.sqlite_threads import current_loop_key
from ..jobs._client import TransportFailure
from ..jobs._errors import StorageError
from ..jobs._protocol import Request
from ._host import Host, HostError, database_key, running_host

if TYPE_CHECKING:
    from ..jobs._registry import DurableJobs

_log = logging.getLogger("durable_effect.host")


class HostTransport:
    """Calls one :class:`Host` directly (it must be running)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    async def call(self, request: Request) -> dict[str, Any]:
        try:
            return await self.host.call(request)
        except HostError as exc:
            raise TransportFailure(str(exc)) from exc


_starting: dict[str, tuple[object, anyio.Event]] = {}
"""Hosts being started in the background, by database: the event loop starting it, and an event set once it
has started or failed (an event belongs to its loop: only callers on that loop may wait for it)."""


class LocalTransport:
    """Calls the host serving ``path`` in this process, starting one in the background when there is none."""

    def __init__(self, jobs: DurableJobs, path: str | os.PathLike[str], **host_options: Any) -> None:
        self.jobs = jobs
        self.path = os.fspath(path)
        self._options = host_options
        self._host: Host | None = None

    async def call(self, request: Request) -> dict[str, Any]:
        host = self._host
        if host is None or not host.running or host.loop is not current_loop_key():
            host = self._host = await self.host()
        try:
            return await host.call(request)
        except HostError as exc:  # stopped between the look-up and the call
            raise TransportFailure(str(exc)) from exc

    async def host(self) -> Host:
        """The running host of this file, started here if needed."""
        loop = current_loop_key()
        while True:
            host = running_host(self.path)
            if host is not None and host.running and _is_closed(host.loop):
                host.abandon()  # its loop was closed without stopping it (run_until_complete, then close)
                host = None
            if host is not None and host.running:
                if host.loop is not loop:
                    raise TransportFailure(f"{self.path} is served by a host on another event loop")
                if host.jobs is not self.jobs:
                    raise TransportFailure(f"{self.path} is served by a host of another job registry")
                return host
            key = database_key(self.path)
            pending = _starting.get(key)
            if pending is not None:
                starting_loop, starting = pending
                if starting_loop is not loop:
                    raise TransportFailure(f"{self.path} is being started by a host on another event loop")
                await starting.wait()
                continue
            starting = anyio.Event()
            _starting[key] = (loop, starting)
            try:
                # Shielded: callers waiting for this start must find the host started (or its failure), even
                # if this caller is cancelled meanwhile; starting takes milliseconds.
                with anyio.CancelScope(shield=True):
                    return await _start_in_background(Host(self.jobs, self.path, **self._options))
            except (HostError, StorageError) as exc:
                raise TransportFailure(f"cannot start the host of {self.path}: {exc}") from exc
            finally:
                del _starting[key]
                starting.set()


def _is_closed(loop: object) -> bool:
    is_closed = getattr(loop, "is_closed", None)  # an asyncio loop; trio's token has no such state
    return bool(is_closed()) if callable(is_closed) else False


async def _start_in_background(host: Host) -> Host:
    """Run ``host`` in a task of its own on the current event loop until the loop ends."""
    started = anyio.Event()
    failure: list[BaseException] = []

    async def serve() -> None:
        try:
            async with host:
                started.set()
                await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            if not started.is_set():
                failure.append(HostError("the event loop is shutting down"))
                started.set()
            raise
        except Exception as exc:
            if not started.is_set():
                failure.append(exc)
                started.set()
            else:
                _log.exception("the background host of %s stopped", host.path)

    _spawn_system_task(serve)
    await started.wait()
    if failure:
        raise failure[0]
    return host


_tasks: set[object] = set()


def _spawn_system_task(fn: Any) -> None:
    try:
        import asyncio

        loop = asyncio.get_running_loop()
    except RuntimeError:
        import trio

        trio.lowlevel.spawn_system_task(fn)
        return
    task = loop.create_task(fn())
    _tasks.add(task)  # keep a reference: the loop holds tasks weakly
    task.add_done_callback(_tasks.discard)


def local_transport(jobs: DurableJobs, path: str | os.PathLike[str] | Host, **host_options: Any) -> Any:
    """The transport of ``JobsClient.local(path_or_host)``."""
    if isinstance(path, Host):
        if path.jobs is not jobs:
            raise ValueError("this host serves another job registry")
        return HostTransport(path)
    return LocalTransport(jobs, path, **host_options)
