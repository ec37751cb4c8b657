"""A tiny Python Worker with one Durable Object, used to prove the workerd harness.

HTTP API (the default entrypoint routes by object name to ``env.COUNTER.idFromName(name)``):

* ``GET  /health``                        -> ``ok`` (readiness probe)
* ``POST /counter/<name>/increment``      -> ``{"value": n}`` (storage get + put)
* ``GET  /counter/<name>``                -> ``{"value": n, "alarm_fired": k, "alarm": ms | null}``
* ``POST /counter/<name>/alarm?ms=<n>``   -> ``{"scheduled": epoch_ms}`` (``setAlarm`` n ms ahead)

The entrypoint talks to the object over RPC (``stub.increment()`` etc.); the object's ``alarm()``
counts its firings in storage.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

from js import Date  # type: ignore[import-not-found, unused-ignore]
from workers import (  # type: ignore[import-not-found, unused-ignore]
    DurableObject,
    Response,
    WorkerEntrypoint,
)


def _json(data: object, status: int = 200) -> Any:
    return Response(json.dumps(data), status=status, headers={"content-type": "application/json"})


def _int_or_zero(value: Any) -> int:
    # Missing keys come back as None (JS undefined); numbers come back as int or float.
    return 0 if value is None else int(value)


class Counter(DurableObject):  # type: ignore[misc, unused-ignore]
    """A counter in ``ctx.storage`` plus an alarm that records how often it fired."""

    async def increment(self, by: int = 1) -> int:
        storage = self.ctx.storage
        value = _int_or_zero(await storage.get("count")) + int(by)
        await storage.put("count", value)
        return value

    async def schedule_alarm(self, delay_ms: int) -> float:
        at = float(Date.now()) + float(delay_ms)
        await self.ctx.storage.setAlarm(at)
        return at

    async def state(self) -> str:
        storage = self.ctx.storage
        alarm = await storage.getAlarm()
        return json.dumps(
            {
                "value": _int_or_zero(await storage.get("count")),
                "alarm_fired": _int_or_zero(await storage.get("alarm_fired")),
                # No alarm is JS null, which Pyodide 314 hands over as a `JsNull`, not None.
                "alarm": float(alarm) if isinstance(alarm, (int, float)) else None,
            }
        )

    async def alarm(self, alarm_info: Any = None) -> None:
        storage = self.ctx.storage
        fired = _int_or_zero(await storage.get("alarm_fired")) + 1
        await storage.put("alarm_fired", fired)


class Default(WorkerEntrypoint):  # type: ignore[misc, unused-ignore]
    """Routes HTTP requests to ``Counter`` objects by name."""

    async def fetch(self, request: Any) -> Any:
        url = urlparse(str(request.url))
        parts = [p for p in url.path.split("/") if p]
        method = str(request.method).upper()
        if parts == ["health"] or not parts:
            return Response("ok")
        if len(parts) < 2 or parts[0] != "counter":
            return _json({"error": "not found"}, status=404)
        namespace = self.env.COUNTER
        stub = namespace.get(namespace.idFromName(parts[1]))
        action = parts[2] if len(parts) > 2 else ""
        if method == "POST" and action == "increment":
            return _json({"value": int(await stub.increment(1))})
        if method == "POST" and action == "alarm":
            delay = int(parse_qs(url.query).get("ms", ["1000"])[0])
            return _json({"scheduled": float(await stub.schedule_alarm(delay))})
        if method == "GET" and action == "":
            return _json(json.loads(str(await stub.state())))
        return _json({"error": f"no route for {method} {url.path}"}, status=404)
