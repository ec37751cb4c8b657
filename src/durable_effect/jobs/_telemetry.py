"""Telemetry: the job events' wire form, and trackers that record or deliver them.

Events are built during a call and handed to the tracker after the call's commit (or failure). Delivery is
off the call's path: a tracker only queues in ``record``; ``flush`` sends what is queued, bounded in time,
retried with backoff across flushes, and never raises.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import logging
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from ..effect import Duration, DurationInput, RandomService

Event = dict[str, Any]
"""One event in wire form: its kind under ``"type"``, snake_case fields."""

EVENT_TYPES = (
    "job.started",
    "job.executed",
    "job.failed",
    "job.retryExhausted",
    "job.terminated",
    "debounce.started",
    "debounce.flushed",
    "task.scheduled",
)

_log = logging.getLogger("durable_effect.telemetry")


def uuid7(now_ms: int, random: RandomService) -> str:
    """A UUIDv7: 48-bit Unix ms timestamp, version 7, RFC 4122 variant, 74 random bits."""
    rand = int.from_bytes(random.next_bytes(10), "big")
    value = (now_ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def iso_timestamp(now_ms: int) -> str:
    moment = _dt.datetime.fromtimestamp(now_ms / 1_000, tz=_dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


SendBatch = Callable[[str, Mapping[str, str], bytes, float], Awaitable[int]]
"""``send(url, headers, body, timeout_s) -> HTTP status``; httpx by default, ``fetch`` on Workers."""


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Where and how to deliver telemetry: ``POST endpoint`` with ``{"events": [...]}``."""

    endpoint: str
    env: str
    service_key: str
    batch_size: int = 100
    headers: Mapping[str, str] = field(default_factory=dict)
    include_state: bool = False
    timeout: DurationInput = "1 second"
    send: SendBatch | None = None

    def __post_init__(self) -> None:
        if not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"TrackerConfig.endpoint must be an http(s) URL, got {self.endpoint!r}")
        if self.batch_size < 1:
            raise ValueError(f"TrackerConfig.batch_size must be at least 1, got {self.batch_size}")


class Tracker(Protocol):
    """Receives each call's events after the call; delivers them later in ``flush``.

    ``flush(final=True)`` is the last one, at shutdown: it sends what is queued even during a backoff, for as
    long as its caller allows.
    """

    def record(self, events: list[Event]) -> None: ...

    async def flush(self, *, final: bool = False) -> None: ...


class NoopTracker:
    """Drops events (no tracker configured)."""

    def record(self, events: list[Event]) -> None:
        return None

    async def flush(self, *, final: bool = False) -> None:
        return None


class InMemoryTracker:
    """Keeps every event in ``events`` (tests, debugging)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def record(self, events: list[Event]) -> None:
        self.events.extend(events)

    async def flush(self, *, final: bool = False) -> None:
        return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Built once: loading the CA bundle costs about 0.1 s, too much to pay on every delivery."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


async def _httpx_send(url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> int:
    import httpx

    async with httpx.AsyncClient(timeout=timeout_s, verify=_tls_context()) as client:
        response = await client.post(url, content=body, headers=dict(headers))
        return response.status_code


_REFUSED_BODY = frozenset({400, 413, 422})
"""Statuses that refuse a request for its body; others (401, 403, 404, 5xx...) say nothing of the events."""


class HttpBatchTracker:
    """Delivers events in batches of ``batch_size`` to ``config.endpoint``.

    ``flush`` sends queued batches until the queue is empty or ``config.timeout`` runs out. A failed batch
    stays queued and the endpoint is left alone for a growing backoff (1 s doubling to 60 s); the queue is
    bounded (oldest events are dropped past ``max_queue``), so a dead endpoint costs memory and time only
    within limits and never fails a call. A batch the endpoint refuses for what it holds (400, 413, 422) is
    split in halves, and a single event refused so is dropped with
    a warning: resending it could only block the events behind it. An event that is not JSON is dropped with
    an error log. ``monotonic`` (seconds) paces the backoff; tests may replace it.
    """

    def __init__(
        self, config: TrackerConfig, *, max_queue: int = 10_000, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._monotonic = monotonic
        self._queue: deque[Event] = deque(maxlen=max_queue)
        self._send: SendBatch = config.send or _httpx_send
        self._failures = 0
        self._retry_at = 0.0
        self._batch_size = config.batch_size  # halved while the endpoint refuses batches as too large
        self._lock = anyio.Lock()
        self._timeout_s = Duration.decode(config.timeout).to_seconds()
        self._headers = dict(config.headers)
        if not any(name.lower() == "content-type" for name in self._headers):
            self._headers["content-type"] = "application/json"
        self.delivered = 0

    @property
    def pending(self) -> int:
        return len(self._queue)

    def record(self, events: list[Event]) -> None:
        self._queue.extend(events)

    async def flush(self, *, final: bool = False) -> None:
        if not self._queue:
            return
        if not final and (self._monotonic() < self._retry_at or self._lock.locked()):
            return
        async with self._lock:
            if final:  # the caller bounds it
                await self._send_queued()
                return
            with anyio.move_on_after(self._timeout_s):
                await self._send_queued()
                return
            self._back_off("timed out")

    async def _send_queued(self) -> None:
        queue = self._queue
        while queue:
            size = min(self._batch_size, len(queue))
            batch = [queue[i] for i in range(size)]
            try:
                body = json.dumps({"events": batch}, separators=(",", ":")).encode()
            except (TypeError, ValueError):
                self._drop_unencodable(size)
                continue
            try:
                status = await self._send(self.config.endpoint, self._headers, body, self._timeout_s)
            except Exception as exc:
                self._back_off(f"{type(exc).__name__}: {exc}")
                return
            if status in _REFUSED_BODY:  # refused for what it holds: resending it cannot help
                if size > 1:
                    self._batch_size = max(1, size // 2)
                else:
                    queue.popleft()
                    _log.warning(
                        "telemetry endpoint refused a %s event (HTTP %d); dropped it", batch[0].get("type"), status
                    )
                continue
            if status >= 300:
                self._back_off(f"HTTP {status}")
                return
            for _ in batch:
                queue.popleft()
            self.delivered += size
            self._failures = 0
            self._retry_at = 0.0
            self._batch_size = min(self.config.batch_size, self._batch_size * 2)

    def _drop_unencodable(self, size: int) -> None:
        kept: list[Event] = []
        for _ in range(size):
            event = self._queue.popleft()
            try:
                json.dumps(event)
            except (TypeError, ValueError) as exc:
                _log.error("dropped a %s telemetry event that is not JSON: %s", event.get("type"), exc)
            else:
                kept.append(event)
        self._queue.extendleft(reversed(kept))

    def _back_off(self, reason: str) -> None:
        self._failures += 1
        delay = min(60.0, 2.0 ** (self._failures - 1))
        self._retry_at = self._monotonic() + delay
        _log.warning("telemetry delivery to %s failed (%s); retrying in %.0f s", self.config.endpoint, reason, delay)


def make_tracker(config: TrackerConfig | None) -> Tracker:
    return NoopTracker() if config is None else HttpBatchTracker(config)


class EventFactory:
    """Builds events in wire form with the common fields filled in."""

    def __init__(self, config: TrackerConfig | None) -> None:
        self.env = config.env if config else ""
        self.service_key = config.service_key if config else ""
        self.include_state = config.include_state if config else False

    def make(
        self,
        kind: str,
        *,
        now_ms: int,
        random: RandomService,
        instance_id: str,
        id: str,
        job_type: str,
        job_name: str,
        **fields: Any,
    ) -> Event:
        return {
            "type": kind,
            "event_id": uuid7(now_ms, random),
            "timestamp": iso_timestamp(now_ms),
            "source": "job",
            "instance_id": instance_id,
            "id": id,
            "job_type": job_type,
            "job_name": job_name,
            "env": self.env,
            "service_key": self.service_key,
            **fields,
        }
