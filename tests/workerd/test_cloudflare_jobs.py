"""The Cloudflare backend in the real Workers runtime: the example Worker's jobs on Durable Objects.

One workerd process serves the module. Its Worker (``jobs_worker/worker.py``) exports the example's ``Jobs``
class (``examples/cloudflare/src/entry.py`` with the jobs of ``examples/demo_jobs.py``) and ``FastJobs``, the
same jobs with second-scale timings (``jobs_worker/fast_jobs.py``), and serves the example's HTTP API. The
tests drive it over HTTP on 127.0.0.1; the Worker's telemetry ``fetch`` goes to a collector in this process.

These jobs use plain dataclass schemas: no Pyodide build of ``pydantic-core`` can be installed here, so
pydantic is not embedded in the Worker at all (``durable_effect`` imports it only for pydantic schemas).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from durable_effect.jobs import (
    DuplicateEventError,
    InstanceNotFoundError,
    JobNotFoundError,
    ValidationError,
)
from durable_effect.jobs._errors import error_from_wire

from .collector import TelemetryCollector
from .jobs_app import write_jobs_config
from .runtime import Toolchain, WorkerdProcess

pytestmark = pytest.mark.workerd

POLL_DEADLINE_S = 15.0
LATE_MS = 1_000
"""How late an alarm may run in these tests (its work happens within milliseconds of the due time here)."""
CLOCK_SLACK_MS = 50
"""workerd's clock (frozen while code runs, advanced by I/O) against this process's clock."""


@pytest.fixture(scope="module")
def collector() -> Iterator[TelemetryCollector]:
    with TelemetryCollector() as running:
        yield running


@pytest.fixture(scope="module")
def app(
    workerd_toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory, collector: TelemetryCollector
) -> Iterator[WorkerdProcess]:
    root = tmp_path_factory.mktemp("workerd-jobs")
    config = write_jobs_config(root, collector_address=collector.address)
    process = WorkerdProcess(workerd_toolchain, config, ready_path="/health", snapshot_dir=root / "snapshots")
    with process:
        yield process


@pytest.fixture
def http(app: WorkerdProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app.base_url, timeout=30.0) as client:
        yield client


# ------------------------------------------------------------------------------------------- helpers


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["result"]


def _error(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return error_from_wire(response.json()["error"])


def _poll(condition: Callable[[], bool], deadline_s: float = POLL_DEADLINE_S) -> bool:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _ms(timestamp: str) -> float:
    return dt.datetime.fromisoformat(timestamp).timestamp() * 1000


def _now_ms() -> float:
    return time.time() * 1000


def _ops(http: httpx.Client, binding: str, job_type: str, job: str, id: str) -> dict[str, int]:
    response = http.get(f"/ops/{binding}/{job_type}/{job}/{id}")
    assert response.status_code == 200, response.text
    ops: dict[str, int] = response.json()
    return ops


TOKENS = {"access_token": "", "refresh_token": "refresh-1"}


# ------------------------------------------------------------------------------------------- continuous


def test_continuous_runs_at_start_and_on_its_interval(http: httpx.Client, collector: TelemetryCollector) -> None:
    before = _now_ms()
    started = _ok(http.post("/fast/continuous/token_refresher/c1/start", json={"input": TOKENS}))
    assert started == {"created": True, "instance_id": "continuous:token_refresher:c1", "status": "running"}
    status = _ok(http.get("/fast/continuous/token_refresher/c1"))
    assert status["status"] == "running" and status["run_count"] == 1  # ran at start
    first_due = status["next_run_at"]
    assert before + 1_000 - CLOCK_SLACK_MS <= first_due <= _now_ms() + 1_000 + CLOCK_SLACK_MS  # 1 s after the run
    state = _ok(http.get("/fast/continuous/token_refresher/c1/state"))
    assert state["refresh_token"] == "refresh-1" and state["access_token"].startswith("at-")

    # The alarm runs it again every second, each time within a moment of the time it announced.
    assert _poll(lambda: _ok(http.get("/fast/continuous/token_refresher/c1"))["run_count"] >= 3)
    # Telemetry goes out after each run: wait for the third run's event.
    assert _poll(lambda: len(collector.events("continuous:token_refresher:c1", "job.executed")) >= 3)
    executed = collector.events("continuous:token_refresher:c1", "job.executed")
    assert [e["run_count"] for e in executed][:3] == [1, 2, 3]
    times = [_ms(e["timestamp"]) for e in executed[:3]]
    assert 0 <= times[1] - first_due <= LATE_MS
    assert 950 <= times[2] - times[1] <= 1_000 + LATE_MS
    assert _ok(http.get("/fast/continuous/token_refresher/c1/state"))["access_token"] != state["access_token"]

    # Starting again changes nothing; terminating cancels the alarm and deletes the instance.
    again = _ok(http.post("/fast/continuous/token_refresher/c1/start", json={"input": TOKENS}))
    assert again["created"] is False
    assert _ok(http.post("/fast/continuous/token_refresher/c1/terminate", json={"reason": "done"})) == {
        "terminated": True,
        "reason": "done",
    }
    assert _ok(http.get("/fast/continuous/token_refresher/c1"))["status"] == "not_found"
    # Events leave in order: once the termination's event is in, so is every earlier run's.
    assert _poll(lambda: bool(collector.events("continuous:token_refresher:c1", "job.terminated")))
    runs = len(collector.events("continuous:token_refresher:c1", "job.executed"))
    time.sleep(1.3)
    assert len(collector.events("continuous:token_refresher:c1", "job.executed")) == runs  # no alarm any more
    terminated = collector.events("continuous:token_refresher:c1", "job.terminated")
    assert [e["reason"] for e in terminated] == ["done"]


# ------------------------------------------------------------------------------------------- debounce


def test_debounce_flushes_after_its_delay(http: httpx.Client, collector: TelemetryCollector) -> None:
    first = _ok(http.post("/fast/debounce/webhook_batcher/d1/add", json={"event": {"type": "created"}}))
    assert first["created"] is True and first["event_count"] == 1
    flush_at = first["will_flush_at"]
    second = _ok(http.post("/fast/debounce/webhook_batcher/d1/add", json={"event": {"type": "updated"}}))
    assert second["event_count"] == 2 and second["will_flush_at"] == flush_at  # the window is fixed
    assert _ok(http.get("/fast/debounce/webhook_batcher/d1/state")) == {
        "events": [{"type": "created", "payload": {}}, {"type": "updated", "payload": {}}]
    }

    assert _poll(lambda: bool(collector.events("debounce:webhook_batcher:d1", "debounce.flushed")))
    (flushed,) = collector.events("debounce:webhook_batcher:d1", "debounce.flushed")
    assert flushed["event_count"] == 2 and flushed["reason"] == "flush_after"
    assert 0 <= _ms(flushed["timestamp"]) - flush_at <= LATE_MS
    assert _ok(http.get("/fast/debounce/webhook_batcher/d1"))["status"] == "not_found"


def test_debounce_flushes_at_max_events_inside_the_call(http: httpx.Client, collector: TelemetryCollector) -> None:
    for n in range(1, 5):
        added = _ok(http.post("/fast/debounce/webhook_batcher/d2/add", json={"event": {"type": f"e{n}"}}))
        assert added["event_count"] == n
    fifth = _ok(http.post("/fast/debounce/webhook_batcher/d2/add", json={"event": {"type": "e5"}}))
    assert fifth["event_count"] == 5
    assert _ok(http.get("/fast/debounce/webhook_batcher/d2"))["status"] == "not_found"  # flushed already
    assert _poll(lambda: bool(collector.events("debounce:webhook_batcher:d2", "debounce.flushed")))
    (flushed,) = collector.events("debounce:webhook_batcher:d2", "debounce.flushed")
    assert flushed["reason"] == "max_events" and flushed["event_count"] == 5


# ------------------------------------------------------------------------------------------- task


def test_task_alarm_expires_an_unpaid_order(http: httpx.Client) -> None:
    before = _now_ms()
    sent = _ok(http.post("/fast/task/order_processor/o1/send", json={"event": {"kind": "placed", "amount_cents": 900}}))
    assert sent["created"] is True and sent["instance_id"] == "task:order_processor:o1"
    due = sent["scheduled_at"]
    assert before + 1_500 - CLOCK_SLACK_MS <= due <= _now_ms() + 1_500 + CLOCK_SLACK_MS
    assert _ok(http.get("/fast/task/order_processor/o1")) == {
        "status": "active",
        "scheduled_at": due,
        "event_count": 1,
        "execute_count": 0,
    }
    assert _poll(lambda: _ok(http.get("/fast/task/order_processor/o1"))["execute_count"] == 1)
    assert _now_ms() - due <= LATE_MS + 500
    assert _ok(http.get("/fast/task/order_processor/o1/state")) == {
        "state": {"status": "cancelled", "amount_cents": 900},
        "scheduled_at": None,
    }
    assert _ok(http.get("/fast/task/order_processor/o1"))["status"] == "idle"


def test_task_events_cancel_the_schedule_and_terminate(http: httpx.Client) -> None:
    placed = {"event": {"kind": "placed", "amount_cents": 500}}
    assert _ok(http.post("/fast/task/order_processor/o2/send", json=placed))["scheduled_at"] is not None
    paid = _ok(http.post("/fast/task/order_processor/o2/send", json={"event": {"kind": "paid"}}))
    assert paid["created"] is False and paid["scheduled_at"] is None
    assert _ok(http.get("/fast/task/order_processor/o2/state"))["state"]["status"] == "paid"
    _ok(http.post("/fast/task/order_processor/o2/send", json={"event": {"kind": "shipped"}}))
    missing = _error(http.get("/fast/task/order_processor/o2/state"), 404)
    assert missing == InstanceNotFoundError(instance_id="task:order_processor:o2")


def test_events_to_one_instance_never_interleave(http: httpx.Client, app: WorkerdProcess) -> None:
    # Each event sleeps 200 ms inside its handler before writing state + 1. Without per-instance
    # serialization the five requests would interleave at that await and most increments would be lost.
    def send(n: int) -> int:
        with httpx.Client(base_url=app.base_url, timeout=30.0) as client:
            response = client.post("/fast/task/slow_counter/s1/send", json={"event": {"label": str(n)}})
            return response.status_code

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
        statuses = list(pool.map(send, range(5)))
    elapsed = time.monotonic() - started
    assert statuses == [200] * 5
    assert _ok(http.get("/fast/task/slow_counter/s1/state"))["state"] == {"n": 5}
    assert elapsed >= 5 * 0.2 - 0.05  # one after the other


# ------------------------------------------------------------------------------------------- errors


def test_errors_arrive_as_their_classes(http: httpx.Client) -> None:
    unknown = _error(http.post("/fast/task/no_such_job/x/send", json={"event": {}}), 404)
    assert isinstance(unknown, JobNotFoundError) and unknown == JobNotFoundError(job_type="task", name="no_such_job")

    invalid = _error(http.post("/fast/task/order_processor/bad/send", json={"event": {"kind": "lost"}}), 422)
    assert isinstance(invalid, ValidationError) and invalid.schema == "event (OrderEvent)"
    assert any("kind" in issue for issue in invalid.issues)
    # Nothing was stored for the rejected event.
    assert _ok(http.get("/fast/task/order_processor/bad"))["status"] == "not_found"

    bad_input = _error(http.post("/fast/continuous/token_refresher/bad/start", json={"input": {"x": 1}}), 422)
    assert isinstance(bad_input, ValidationError)

    missing = _error(http.get("/fast/continuous/token_refresher/never/state"), 404)
    assert isinstance(missing, InstanceNotFoundError)

    body = {"event": {"type": "once"}, "event_id": "evt-1"}
    assert _ok(http.post("/fast/debounce/webhook_batcher/dup/add", json=body))["event_count"] == 1
    duplicate = _error(http.post("/fast/debounce/webhook_batcher/dup/add", json=body), 409)
    assert duplicate == DuplicateEventError(instance_id="debounce:webhook_batcher:dup", event_id="evt-1")
    assert _ok(http.get("/fast/debounce/webhook_batcher/dup"))["event_count"] == 1


# ------------------------------------------------------------------------------------------- cost, telemetry


def test_a_call_reads_at_most_once_and_writes_at_most_once(http: httpx.Client) -> None:
    before = _ops(http, "FAST_JOBS", "task", "order_processor", "ops")  # loads a fresh object
    assert before == {"reads": 0, "writes": 0, "alarm_writes": 0, "calls": 0, "alarms": 0, "events": 0}
    _ok(http.post("/fast/task/order_processor/ops/send", json={"event": {"kind": "placed", "amount_cents": 1}}))
    _ok(http.get("/fast/task/order_processor/ops"))
    _ok(http.get("/fast/task/order_processor/ops/state"))
    _ok(http.post("/fast/task/order_processor/ops/send", json={"event": {"kind": "paid"}}))
    ops = _ops(http, "FAST_JOBS", "task", "order_processor", "ops")
    # 4 calls: one read (the first, of a missing record; later loads come from the object's memory),
    # one write per changing call, an alarm write only when the schedule changed (placed: set, paid: cancel).
    assert ops["calls"] == 4
    assert ops["reads"] == 1
    assert ops["writes"] == 2
    assert ops["alarm_writes"] == 2


def test_telemetry_is_sent_after_the_response(http: httpx.Client, collector: TelemetryCollector) -> None:
    collector.delay_s = 1.0  # a sluggish endpoint must not slow calls down
    try:
        started = time.monotonic()
        _ok(http.post("/fast/task/order_processor/t1/send", json={"event": {"kind": "placed", "amount_cents": 7}}))
        elapsed = time.monotonic() - started
    finally:
        collector.delay_s = 0.0
    assert elapsed < 0.9  # the collector takes 1 s to answer: the call did not wait for it
    assert _poll(lambda: bool(collector.events("task:order_processor:t1", "task.scheduled")))
    (scheduled,) = collector.events("task:order_processor:t1", "task.scheduled")
    assert scheduled["trigger"] == "event"
    assert scheduled["env"] == "workerd-test" and scheduled["service_key"] == "durable-effect"
    assert scheduled["source"] == "job" and scheduled["job_type"] == "task"


# ------------------------------------------------------------------------------------------- example timings


def test_example_jobs_with_their_own_timings(http: httpx.Client) -> None:
    started = _ok(http.post("/continuous/token_refresher/user-1/start", json={"input": TOKENS}))
    assert started["instance_id"] == "continuous:token_refresher:user-1"
    status = _ok(http.get("/continuous/token_refresher/user-1"))
    assert status["run_count"] == 1
    assert abs(status["next_run_at"] - _now_ms() - 30 * 60_000) < 5_000

    for n in range(4):
        _ok(http.post("/debounce/webhook_batcher/hooks/add", json={"event": {"type": f"e{n}"}}))
    batch = _ok(http.get("/debounce/webhook_batcher/hooks"))
    assert batch["status"] == "debouncing" and batch["event_count"] == 4
    _ok(http.post("/debounce/webhook_batcher/hooks/add", json={"event": {"type": "e4"}}))  # fifth: flushes
    assert _ok(http.get("/debounce/webhook_batcher/hooks"))["status"] == "not_found"

    placed = _ok(http.post("/task/order_processor/A-1/send", json={"event": {"kind": "placed", "amount_cents": 10}}))
    assert abs(placed["scheduled_at"] - _now_ms() - 15 * 60_000) < 5_000
    _ok(http.post("/task/order_processor/A-1/send", json={"event": {"kind": "paid"}}))
    assert _ok(http.get("/task/order_processor/A-1/state")) == {
        "state": {"status": "paid", "amount_cents": 10},
        "scheduled_at": None,
    }


# ------------------------------------------------------------------------------------------- restart (last)


def test_state_and_alarms_survive_a_restart(app: WorkerdProcess, collector: TelemetryCollector) -> None:
    with httpx.Client(base_url=app.base_url, timeout=30.0) as http:
        _ok(http.post("/fast/continuous/token_refresher/r1/start", json={"input": TOKENS}))
        placed = {"event": {"kind": "placed", "amount_cents": 3}}
        due = _ok(http.post("/fast/task/order_processor/r2/send", json=placed))
        _ok(http.post("/fast/debounce/webhook_batcher/r3/add", json={"event": {"type": "kept"}}))
        _ok(http.post("/task/order_processor/r4/send", json={"event": {"kind": "placed", "amount_cents": 4}}))
        _ok(http.post("/task/order_processor/r4/send", json={"event": {"kind": "paid"}}))
    first_start = app.snapshot_action

    app.stop()
    # Both alarms fall due while workerd is down; they must run after the restart.
    time.sleep(max(0.0, (due["scheduled_at"] - _now_ms()) / 1000) + 0.8)
    app.start()
    assert (first_start, app.snapshot_action) == ("saved", "loaded")

    with httpx.Client(base_url=app.base_url, timeout=30.0) as http:
        assert _poll(lambda: _ok(http.get("/fast/continuous/token_refresher/r1"))["run_count"] >= 2)
        assert _poll(lambda: _ok(http.get("/fast/task/order_processor/r2/state"))["state"]["status"] == "cancelled")
        assert _poll(lambda: bool(collector.events("debounce:webhook_batcher:r3", "debounce.flushed")))
        assert _ok(http.get("/task/order_processor/r4/state")) == {
            "state": {"status": "paid", "amount_cents": 4},
            "scheduled_at": None,
        }
