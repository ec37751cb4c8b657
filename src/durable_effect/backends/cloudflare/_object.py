"""``make_jobs_class``: the ``Jobs`` Durable Object class of a jobs registry (Cloudflare Python Workers)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from ._host import JobsHost
from ._interop import alarm_retry_info, fetch_send, wait_until

if TYPE_CHECKING:
    from workers import DurableObject, DurableObjectState

    from ...effect import ClockService
    from ...jobs._registry import DurableJobs


def make_jobs_class(jobs: DurableJobs, *, name: str = "Jobs", clock: ClockService | None = None) -> type[DurableObject]:
    """Build the Durable Object class that hosts the instances of ``jobs`` (one object per instance).

    Export it from the Worker's main module under ``name`` (the ``class_name`` of the binding in
    ``wrangler.jsonc``); ``create_durable_jobs(...).Jobs`` is ``make_jobs_class(jobs)``. The class has two
    entry points: the RPC method ``call(request_json)`` that ``JobsClient.from_binding`` uses, and
    ``alarm(alarm_info)``. ``storage_ops()`` reports the object's storage operations (diagnostics).

    Only the Workers runtime provides the base class, so this works inside a Python Worker only. ``clock``
    replaces the real clock (tests).
    """
    try:
        from workers import DurableObject
    except ImportError as exc:
        raise ImportError(
            "the Jobs Durable Object class needs the Cloudflare Python Workers runtime (the `workers` module); "
            "outside Workers use JobsClient.memory(), .local(path) or .from_url(url)"
        ) from exc

    class Jobs(DurableObject):
        def __init__(self, ctx: DurableObjectState, env: Any) -> None:
            super().__init__(ctx, env)
            background: set[asyncio.Task[None]] = set()
            self._jobs_host = JobsHost(
                jobs,
                ctx.storage,
                defer=lambda work: wait_until(ctx, work, background),
                send=fetch_send,
                clock=clock,
            )

        async def call(self, request_json: str) -> str:
            """RPC: serve one client request (JSON text in, JSON text out; errors as data)."""
            return await self._jobs_host.call(request_json)

        async def alarm(self, alarm_info: Any = None) -> None:
            """The object's alarm fired: run the instance's due work (raises to have the platform retry)."""
            is_retry, _ = alarm_retry_info(alarm_info)
            await self._jobs_host.alarm(is_retry=is_retry)

        async def storage_ops(self) -> str:
            """RPC: storage operations and requests served since this object was loaded (JSON text)."""
            return json.dumps(self._jobs_host.storage_ops())

    Jobs.__name__ = Jobs.__qualname__ = name
    return Jobs
