"""HttpBatchTracker against a real HTTP server on 127.0.0.1: batches, headers, body, dead endpoints, retries."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Never

import pytest

from durable_effect import Effect, Gen, RandomService, TaggedError
from durable_effect.backends.memory import MemoryBackend
from durable_effect.jobs import (
    Backoff,
    Continuous,
    ContinuousContext,
    DurableJobs,
    HttpBatchTracker,
    JobsClient,
    RetryConfig,
    StorageError,
    TrackerConfig,
    create_durable_jobs,
)
from durable_effect.testing import TestClock

from ._support import START, run


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class EventServer:
    """A tiny HTTP endpoint in a thread: answers with the queued statuses (then 200), or hangs while asked."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hang: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def events(self) -> list[dict[str, Any]]:
        return [event for request in self.received for event in request.body["events"]]


@pytest.fixture
def server() -> Iterator[EventServer]:
    state = EventServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            if state.hang.is_set():
                state.release.wait(10)
                return
            status = state.statuses.pop(0) if state.statuses else 200
            if status < 300:
                received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(body))
                state.received.append(received)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/ingest"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass(frozen=True)
class Count:
    n: int


class Refused(TaggedError):
    pass


@Effect.fn
def execute(ctx: ContinuousContext[Count]) -> Gen[None, Refused, Never]:
    state = yield from ctx.state
    if state.n < 0:
        yield from Refused()
    yield from ctx.set_state(Count(state.n + 1))


def tracked_jobs(endpoint: str, *, batch_size: int = 100, headers: Mapping[str, str] | None = None) -> DurableJobs:
    job = Continuous.make(
        state_schema=Count,
        schedule=Continuous.every("1 minute"),
        execute=execute,
        retry=RetryConfig(max_attempts=2, delay=Backoff.constant("1 second"), jitter=False),
    )
    tracker = TrackerConfig(
        endpoint=endpoint, env="prod", service_key="svc", batch_size=batch_size, headers=headers or {}
    )
    return create_durable_jobs({"job": job}, tracker=tracker)


def memory_client(jobs: DurableJobs) -> tuple[MemoryBackend, JobsClient]:
    backend = MemoryBackend(jobs, clock=TestClock(START), random=RandomService(0))
    return backend, jobs.JobsClient(backend.transport())


@pytest.mark.anyio
async def test_events_are_posted_in_batches_with_headers(server: EventServer) -> None:
    jobs = tracked_jobs(server.url, batch_size=3, headers={"authorization": "Bearer t0ken", "x-team": "jobs"})
    _backend, client = memory_client(jobs)

    # One delivery per call: the second start fails and arms a retry (started, failed).
    await run(client.continuous("job").start("a", input={"n": 0}))
    await run(client.continuous("job").start("b", input={"n": -1}))
    await run(client.continuous("job").terminate("a", reason="done"))

    assert [len(r.body["events"]) for r in server.received] == [2, 2, 1]
    first = server.received[0]
    assert first.path == "/ingest"
    assert first.headers["authorization"] == "Bearer t0ken" and first.headers["x-team"] == "jobs"
    assert first.headers["content-type"] == "application/json"
    assert list(first.body) == ["events"]
    assert [e["type"] for e in server.events()] == [
        "job.started",
        "job.executed",
        "job.started",
        "job.failed",
        "job.terminated",
    ]
    assert all(e["env"] == "prod" and e["service_key"] == "svc" and e["source"] == "job" for e in server.events())


@pytest.mark.anyio
async def test_a_call_with_more_events_than_batch_size_is_split(server: EventServer) -> None:
    jobs = tracked_jobs(server.url, batch_size=3)
    tracker = HttpBatchTracker(jobs.tracker)  # type: ignore[arg-type]
    tracker.record([{"type": "job.started", "n": i} for i in range(7)])

    await tracker.flush()

    assert [[e["n"] for e in r.body["events"]] for r in server.received] == [[0, 1, 2], [3, 4, 5], [6]]
    assert tracker.pending == 0 and tracker.delivered == 7


@pytest.mark.anyio
async def test_a_refused_connection_never_fails_a_call() -> None:
    jobs = tracked_jobs(f"http://127.0.0.1:{free_port()}/events")
    backend, client = memory_client(jobs)

    result = await run(client.continuous("job").start("a", input={"n": 0}))

    assert result.created is True
    tracker: Any = backend.runtime.tracker
    assert tracker.pending == 2  # kept for a later attempt


@pytest.mark.anyio
async def test_a_hanging_endpoint_delays_a_call_by_about_a_second_at_most(server: EventServer) -> None:
    server.hang.set()
    jobs = tracked_jobs(server.url)
    _backend, client = memory_client(jobs)

    began = time.perf_counter()
    await run(client.continuous("job").start("a", input={"n": 0}))
    first = time.perf_counter() - began
    began = time.perf_counter()
    await run(client.continuous("job").status("a"))  # within the backoff: no new attempt, no delay
    second = time.perf_counter() - began

    assert first < 1.5
    assert second < 0.5
    assert (await run(client.continuous("job").get_state("a"))) == Count(1)


@pytest.mark.anyio
async def test_failed_deliveries_are_retried_with_backoff(server: EventServer) -> None:
    now = [1_000.0]
    jobs = tracked_jobs(server.url)
    backend, client = memory_client(jobs)
    assert jobs.tracker is not None
    tracker = HttpBatchTracker(jobs.tracker, monotonic=lambda: now[0])
    backend.runtime.tracker = tracker
    server.statuses.extend([503, 500])

    await run(client.continuous("job").start("a", input={"n": 0}))  # 503: queued, back off 1 s
    await run(client.continuous("job").start("b", input={"n": 0}))  # within the backoff: not sent
    assert server.received == [] and tracker.pending == 4
    now[0] += 1.0
    await run(client.continuous("job").status("a"))  # 500: back off 2 s
    now[0] += 1.0
    await tracker.flush()
    assert server.received == []
    now[0] += 1.0
    await tracker.flush()  # delivered, in order

    assert [(e["type"], e["id"]) for e in server.events()] == [
        ("job.started", "a"),
        ("job.executed", "a"),
        ("job.started", "b"),
        ("job.executed", "b"),
    ]
    assert tracker.pending == 0


@pytest.mark.anyio
async def test_events_of_failed_calls_are_delivered(server: EventServer) -> None:
    jobs = tracked_jobs(server.url)
    backend, client = memory_client(jobs)
    backend.store.fail_storage("put")

    with pytest.raises(StorageError):
        await run(client.continuous("job").start("a", input={"n": 0}))

    assert [e["type"] for e in server.events()] == ["job.started", "job.executed"]


@pytest.mark.anyio
async def test_the_transport_is_injectable() -> None:
    sent: list[tuple[str, dict[str, str], bytes, float]] = []

    async def send(url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> int:
        sent.append((url, dict(headers), body, timeout_s))
        return 204

    config = TrackerConfig(endpoint="https://telemetry.example/v1", env="e", service_key="k", send=send)
    tracker = HttpBatchTracker(config)
    tracker.record([{"type": "job.started"}])
    await tracker.flush()

    [(url, headers, body, timeout_s)] = sent
    assert url == "https://telemetry.example/v1" and headers["content-type"] == "application/json"
    assert json.loads(body) == {"events": [{"type": "job.started"}]} and timeout_s == 1.0


@pytest.mark.anyio
async def test_a_batch_refused_as_too_large_is_split_and_an_event_refused_alone_is_dropped(
    server: EventServer,
) -> None:
    tracker = HttpBatchTracker(tracked_jobs(server.url, batch_size=4).tracker)  # type: ignore[arg-type]
    tracker.record([{"type": "job.started", "n": i} for i in range(4)])
    # [0..3] too large; [0, 1] taken; [2, 3] too large; [2] refused alone; [3] taken
    server.statuses.extend([413, 200, 413, 422, 200])

    await tracker.flush()

    assert [[e["n"] for e in r.body["events"]] for r in server.received] == [[0, 1], [3]]
    assert tracker.pending == 0 and tracker.delivered == 3


@pytest.mark.anyio
@pytest.mark.parametrize("status", [401, 403, 404])
async def test_a_refusal_that_is_not_about_the_events_keeps_them_all(server: EventServer, status: int) -> None:
    tracker = HttpBatchTracker(tracked_jobs(server.url, batch_size=4).tracker)  # type: ignore[arg-type]
    tracker.record([{"type": "job.started", "n": i} for i in range(10)])
    server.statuses.append(status)  # an expired token, a URL not deployed yet: back off, drop nothing

    await tracker.flush()

    assert tracker.pending == 10 and server.received == []


@pytest.mark.anyio
async def test_an_event_that_is_not_json_is_dropped_and_the_rest_delivered(server: EventServer) -> None:
    tracker = HttpBatchTracker(tracked_jobs(server.url).tracker)  # type: ignore[arg-type]
    tracker.record([{"type": "job.started", "n": 0}, {"type": "job.started", "at": object()}, {"type": "x", "n": 2}])

    await tracker.flush()

    assert [e.get("n") for e in server.events()] == [0, 2] and tracker.pending == 0


@pytest.mark.anyio
async def test_the_final_flush_sends_even_during_a_backoff(server: EventServer) -> None:
    tracker = HttpBatchTracker(tracked_jobs(server.url).tracker, monotonic=lambda: 1_000.0)  # type: ignore[arg-type]
    tracker.record([{"type": "job.started", "n": 0}])
    server.statuses.append(503)
    await tracker.flush()  # 503: backing off
    await tracker.flush()  # within the backoff: nothing sent
    assert server.received == [] and tracker.pending == 1

    await tracker.flush(final=True)  # shutting down: one more attempt regardless

    assert [e["n"] for e in server.events()] == [0] and tracker.pending == 0


@pytest.mark.anyio
async def test_a_content_type_of_the_users_is_sent_once() -> None:
    sent: list[Mapping[str, str]] = []

    async def send(url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> int:
        sent.append(headers)
        return 204

    config = TrackerConfig(
        endpoint="https://telemetry.example/v1",
        env="e",
        service_key="k",
        send=send,
        headers={"Content-Type": "application/vnd.events+json"},
    )
    tracker = HttpBatchTracker(config)
    tracker.record([{"type": "job.started"}])
    await tracker.flush()

    [headers] = sent
    assert [value for name, value in headers.items() if name.lower() == "content-type"] == [
        "application/vnd.events+json"
    ]


def test_tracker_config_checks() -> None:
    with pytest.raises(ValueError):
        TrackerConfig(endpoint="ftp://x", env="e", service_key="k")
    with pytest.raises(ValueError):
        TrackerConfig(endpoint="http://x", env="e", service_key="k", batch_size=0)
