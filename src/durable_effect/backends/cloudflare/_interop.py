"""The few places where the adapter talks to JavaScript: background work and ``fetch``.

``js`` and ``pyodide`` exist only inside the Workers runtime (Pyodide), so they are imported inside the
functions: importing this module anywhere else is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workers import DurableObjectState, ExecutionContext

_log = logging.getLogger("durable_effect.cloudflare")


def wait_until(
    ctx: DurableObjectState | ExecutionContext, work: Callable[[], Awaitable[None]], keep: set[asyncio.Task[None]]
) -> None:
    """Run ``work()`` in the background and tell the runtime through ``ctx.waitUntil`` to wait for it.

    ``waitUntil`` takes a JS promise: it gets a real one that settles (always resolved: the work's
    failure is logged, never raised) when the Python task ends. ``keep`` holds the task until then.
    """
    import js
    from pyodide.ffi import create_once_callable

    async def run() -> None:
        try:
            await work()
        except Exception:
            _log.exception("background work failed")

    task = asyncio.ensure_future(run())
    keep.add(task)
    task.add_done_callback(keep.discard)

    def executor(resolve: Callable[..., None], reject: Callable[..., None]) -> None:
        task.add_done_callback(lambda _task: resolve())

    ctx.waitUntil(js.Promise.new(create_once_callable(executor)))


async def fetch_send(url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> int:
    """``POST`` ``body`` to ``url`` with the runtime's ``fetch``: the telemetry transport on Workers."""
    import js
    from pyodide.ffi import to_js

    init: Any = to_js(
        {
            "method": "POST",
            "headers": dict(headers),
            "body": body.decode("utf-8"),
            "signal": js.AbortSignal.timeout(max(1, int(timeout_s * 1000))),
        },
        dict_converter=js.Object.fromEntries,
    )
    response = await js.fetch(url, init)
    return int(response.status)


def alarm_retry_info(alarm_info: Any) -> tuple[bool, int]:
    """``(is_retry, retry_count)`` from what ``alarm()`` received: a JS ``AlarmInvocationInfo``, a dict, or
    nothing (older runtimes)."""
    if alarm_info is None:
        return False, 0
    if isinstance(alarm_info, Mapping):
        is_retry, count = alarm_info.get("isRetry"), alarm_info.get("retryCount")
    else:
        is_retry, count = getattr(alarm_info, "isRetry", None), getattr(alarm_info, "retryCount", None)
    retries = int(count) if isinstance(count, int | float) else 0
    return bool(is_retry is True or retries > 0), retries
