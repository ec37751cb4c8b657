"""A telemetry collector for the workerd tests: an HTTP server on 127.0.0.1 that keeps every POSTed batch.

The jobs Worker's outbound ``fetch`` is routed here (``global_outbound``), so the events the ``Jobs``
Durable Objects send after their calls arrive in :attr:`TelemetryCollector.events`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One event and the wall-clock time (epoch ms) its batch arrived."""

    event: dict[str, Any]
    arrived_ms: float


class TelemetryCollector:
    """Collects ``{"events": [...]}`` batches; ``delay_s`` makes it answer slowly (a sluggish endpoint)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self.delay_s = 0.0
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                arrived = time.time() * 1000
                try:
                    events = json.loads(body)["events"]
                except (ValueError, KeyError, TypeError):
                    self.send_response(400)
                    self.end_headers()
                    return
                with collector._lock:
                    collector._received.extend(Received(event, arrived) for event in events)
                if collector.delay_s:
                    time.sleep(collector.delay_s)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="telemetry-collector", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def received(self, instance_id: str | None = None, kind: str | None = None) -> list[Received]:
        with self._lock:
            items = list(self._received)
        return [
            item
            for item in items
            if (instance_id is None or item.event.get("instance_id") == instance_id)
            and (kind is None or item.event.get("type") == kind)
        ]

    def events(self, instance_id: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [item.event for item in self.received(instance_id, kind)]

    def __enter__(self) -> TelemetryCollector:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
