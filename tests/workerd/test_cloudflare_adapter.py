"""The Cloudflare adapter without the Workers runtime: fakes of ``ctx.storage`` and of the ``JOBS`` binding.

These run everywhere (no workerd); ``test_cloudflare_jobs.py`` runs the same code in the real runtime.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import types
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Never

import pytest

from durable_effect import Effect, Gen
from durable_effect.backends.cloudflare import (
    MAX_VALUE_BYTES,
    RECORD_KEY,
    AlarmFailed,
    BindingTransport,
    DurableObjectStore,
    JobsHost,
    binding_transport,
    make_jobs_class,
)
from durable_effect.backends.cloudflare._interop import alarm_retry_info
from durable_effect.jobs import (
    Continuous,
    ContinuousContext,
    InvalidStateError,
    JobNotFoundError,
    SchedulerError,
    StorageError,
    Task,
    TaskEventContext,
    TaskExecuteContext,
    TrackerConfig,
    ValidationError,
    create_durable_jobs,
)
from durable_effect.jobs._registry import DurableJobs


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ------------------------------------------------------------------------------------------- fakes


class FakeStorage:
    """``ctx.storage`` of one object: each call returns an awaitable (like a JS promise) and is logged with
    the number of awaits that had completed when it was issued, so tests can see what was coalesced."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.alarm: float | None = None
        self.log: list[tuple[str, int]] = []
        self.awaits = 0
        self.fail: dict[str, Exception] = {}

    def _op(self, name: str, apply: Callable[[], Any]) -> Awaitable[Any]:
        self.log.append((name, self.awaits))
        error = self.fail.pop(name, None)
        result = None if error is not None else apply()
        storage = self

        async def settle() -> Any:
            storage.awaits += 1
            if error is not None:
                raise error
            return result

        return settle()

    def get(self, key: str) -> Awaitable[Any]:
        return self._op("get", lambda: self.data.get(key))

    def put(self, key: str, value: Any) -> Awaitable[None]:
        return self._op("put", lambda: self.data.__setitem__(key, value))

    def delete(self, key: str) -> Awaitable[bool]:
        return self._op("delete", lambda: self.data.pop(key, None) is not None)

    def setAlarm(self, when: float) -> Awaitable[None]:
        return self._op("setAlarm", lambda: setattr(self, "alarm", when))

    def deleteAlarm(self) -> Awaitable[None]:
        return self._op("deleteAlarm", lambda: setattr(self, "alarm", None))

    def alarm_at(self) -> float | None:
        return self.alarm

    def ops(self) -> list[str]:
        return [name for name, _ in self.log]


@dataclass(frozen=True)
class Counter:
    n: int = 0


@dataclass(frozen=True)
class Ping:
    label: str


@Effect.fn
def count_up(ctx: ContinuousContext[Counter]) -> Gen[None, Never, Never]:
    state = yield from ctx.state
    yield from ctx.set_state(Counter(n=state.n + 1))


@Effect.fn
def on_ping(event: Ping, ctx: TaskEventContext[Counter]) -> Gen[None, Never, Never]:
    state = yield from ctx.state
    yield from ctx.set_state(Counter(n=(state.n if state else 0) + 1))
    yield from ctx.schedule("1 minute")


def noop(ctx: TaskExecuteContext[Counter]) -> Effect[None, Never, Never]:
    return Effect.succeed(None)


def make_jobs(tracker: TrackerConfig | None = None) -> DurableJobs:
    return create_durable_jobs(
        {
            "counter": Continuous.make(state_schema=Counter, schedule=Continuous.every("10 minutes"), execute=count_up),
            "pinger": Task.make(state_schema=Counter, event_schema=Ping, on_event=on_ping, execute=noop),
        },
        tracker=tracker,
    )


def wire(op: str, job_type: str, job_name: str, id: str, **fields: Any) -> str:
    return json.dumps({"op": op, "job_type": job_type, "job_name": job_name, "id": id, **fields})


class FakeNamespace:
    """``env.JOBS``: one :class:`JobsHost` per instance name, reached through a stub's ``call``."""

    def __init__(self, jobs: DurableJobs) -> None:
        self.jobs = jobs
        self.hosts: dict[str, JobsHost] = {}
        self.storages: dict[str, FakeStorage] = {}
        self.stub_error: Exception | None = None
        self.reply: Callable[[str], Any] | None = None

    def idFromName(self, name: str) -> str:
        return f"id:{name}"

    def get(self, object_id: str) -> Any:
        name = object_id.removeprefix("id:")
        if name not in self.hosts:
            self.storages[name] = FakeStorage()
            self.hosts[name] = JobsHost(self.jobs, self.storages[name])  # type: ignore[arg-type]
        host, namespace = self.hosts[name], self

        class Stub:
            async def call(self, request_json: str) -> Any:
                if namespace.stub_error is not None:
                    raise namespace.stub_error
                if namespace.reply is not None:
                    return namespace.reply(request_json)
                return await host.call(request_json)

        return Stub()


def store_of(storage: FakeStorage) -> DurableObjectStore:
    return DurableObjectStore(storage)  # type: ignore[arg-type]


def record(id: str = "a", **fields: Any) -> dict[str, Any]:
    return {"v": 1, "job_type": "task", "job_name": "pinger", "id": id, "alarm": None, **fields}


# ------------------------------------------------------------------------------------------- store


@pytest.mark.anyio
async def test_store_commits_record_and_alarm_without_an_await_between() -> None:
    storage = FakeStorage()
    store = store_of(storage)
    assert await store.load("task:pinger:a") is None
    await store.save("task:pinger:a", record(alarm=123), 123, True)
    assert storage.log[1:] == [("setAlarm", 1), ("put", 1)]  # both issued before awaiting either
    assert json.loads(storage.data[RECORD_KEY])["alarm"] == 123
    assert storage.alarm_at() == 123

    await store.save("task:pinger:a", None, None, True)
    assert storage.log[3:] == [("deleteAlarm", 3), ("delete", 3)]
    assert storage.data == {}
    assert storage.alarm_at() is None
    assert store.ops == {"reads": 1, "writes": 2, "alarm_writes": 2}


@pytest.mark.anyio
async def test_store_keeps_the_committed_record_so_warm_loads_do_not_read() -> None:
    storage = FakeStorage()
    store = store_of(storage)
    await store.save("task:pinger:a", record(n=1), None, False)
    assert storage.ops() == ["put"]  # no alarm change, no alarm write
    for _ in range(3):
        assert (await store.load("task:pinger:a")) == record(n=1)
    assert storage.ops() == ["put"]

    fresh = store_of(storage)  # the object was evicted and loaded again
    assert (await fresh.load("task:pinger:a")) == record(n=1)
    assert storage.ops() == ["put", "get"]
    assert await fresh.instance_name() == "task:pinger:a"


@pytest.mark.anyio
async def test_store_failures_are_typed_and_forget_the_cached_record() -> None:
    storage = FakeStorage()
    store = store_of(storage)
    await store.save("task:pinger:a", record(n=1), None, False)

    storage.fail["put"] = RuntimeError("disk full")
    with pytest.raises(StorageError) as put_failure:
        await store.save("task:pinger:a", record(n=2), None, False)
    assert put_failure.value.operation == "put" and "disk full" in put_failure.value.cause
    assert (await store.load("task:pinger:a")) == record(n=1)  # read again from storage
    assert storage.ops()[-1] == "get"

    storage.fail["setAlarm"] = RuntimeError("no alarms")
    with pytest.raises(SchedulerError) as alarm_failure:
        await store.save("task:pinger:a", record(n=3), 99, True)
    assert alarm_failure.value.operation == "set_alarm"
    assert (await store.load("task:pinger:a")) == record(n=1)  # the record written with it was put back

    storage.fail["get"] = RuntimeError("gone")
    with pytest.raises(StorageError) as get_failure:
        await store_of(storage).load("task:pinger:a")
    assert get_failure.value.operation == "get"


@pytest.mark.anyio
async def test_store_keeps_neither_half_when_one_fails() -> None:
    # Coalesced writes are not atomic when one of them fails: the store puts the other half back.
    storage = FakeStorage()
    store = store_of(storage)
    await store.save("task:pinger:a", record(n=1, alarm=500), 500, True)

    storage.fail["put"] = RuntimeError("SQLITE_TOOBIG")  # fails after the alarm change was kept
    with pytest.raises(StorageError):
        await store.save("task:pinger:a", record(n=2, alarm=None), None, True)
    assert storage.alarm_at() == 500 and json.loads(storage.data[RECORD_KEY])["n"] == 1

    too_big = record(n=3, blob="x" * MAX_VALUE_BYTES)
    writes = len(storage.log)
    with pytest.raises(StorageError, match="over the 2,000,000"):
        await store.save("task:pinger:a", too_big, 900, True)
    assert len(storage.log) == writes and storage.alarm_at() == 500  # refused before anything was issued


@pytest.mark.anyio
async def test_store_sets_a_past_or_zero_alarm_as_due_at_once() -> None:
    storage = FakeStorage()
    await store_of(storage).save("task:pinger:a", record(alarm=0), 0, True)
    assert storage.alarm_at() == 1  # setAlarm refuses times <= 0


@pytest.mark.anyio
async def test_store_refuses_the_record_of_another_instance() -> None:
    storage = FakeStorage()
    storage.data[RECORD_KEY] = json.dumps(record("b"))
    with pytest.raises(InvalidStateError):
        await store_of(storage).load("task:pinger:a")


# ------------------------------------------------------------------------------------------- host


class ShiftedClock:
    """Real time plus an offset the test moves forward, so that an alarm can fall due without waiting."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def current_time_millis(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    async def sleep(self, millis: float) -> None:
        self.offset_ms += int(millis)

    def skip(self, millis: int) -> None:
        self.offset_ms += millis


@pytest.mark.anyio
async def test_host_serves_calls_and_alarms() -> None:
    storage = FakeStorage()
    clock = ShiftedClock()
    host = JobsHost(make_jobs(), storage, clock=clock)  # type: ignore[arg-type]
    before = time.time_ns() // 1_000_000  # the engine's clock has whole milliseconds
    started = json.loads(await host.call(wire("start", "continuous", "counter", "c", payload={"n": 0})))
    assert started == {
        "ok": True,
        "value": {"created": True, "instance_id": "continuous:counter:c", "status": "running"},
    }
    assert storage.alarm is not None and before + 600_000 <= storage.alarm <= time.time() * 1000 + 600_000

    clock.skip(600_000)
    await host.alarm()  # the platform fires the alarm: the instance name comes from the stored record
    state = json.loads(await host.call(wire("get_state", "continuous", "counter", "c")))
    assert state == {"ok": True, "value": {"n": 2}}
    ops = host.storage_ops()
    assert ops == {"reads": 1, "writes": 2, "alarm_writes": 2, "calls": 2, "alarms": 1, "events": 3}


@pytest.mark.anyio
async def test_host_answers_malformed_requests_and_unknown_jobs_as_errors() -> None:
    host = JobsHost(make_jobs(), FakeStorage())  # type: ignore[arg-type]
    malformed = json.loads(await host.call('{"op": "start"}'))
    assert malformed["ok"] is False and malformed["error"]["_tag"] == "ValidationError"
    not_json = json.loads(await host.call("{"))
    assert not_json["error"]["_tag"] == "ValidationError"
    unknown = json.loads(await host.call(wire("send", "task", "nope", "x", payload={})))
    assert unknown["error"] == {
        "_tag": "JobNotFoundError",
        "message": "no task job named 'nope' is registered",
        "job_type": "task",
        "name": "nope",
    }


@pytest.mark.anyio
async def test_host_alarm_without_an_instance_does_nothing() -> None:
    storage = FakeStorage()
    await JobsHost(make_jobs(), storage).alarm()  # type: ignore[arg-type]
    assert storage.ops() == ["get"]


@pytest.mark.anyio
async def test_host_alarm_raises_when_its_commit_fails_so_the_platform_retries() -> None:
    storage = FakeStorage()
    clock = ShiftedClock()
    host = JobsHost(make_jobs(), storage, clock=clock)  # type: ignore[arg-type]
    await host.call(wire("start", "continuous", "counter", "c", payload={"n": 0}))
    clock.skip(600_000)
    storage.fail["put"] = RuntimeError("write failed")
    with pytest.raises(AlarmFailed, match="write failed"):
        await host.alarm(is_retry=False)
    await host.alarm(is_retry=True)  # the platform's retry succeeds
    state = json.loads(await host.call(wire("get_state", "continuous", "counter", "c")))
    assert state["value"] == {"n": 2}


@pytest.mark.anyio
async def test_host_sends_telemetry_after_the_call_through_defer() -> None:
    sent: list[dict[str, Any]] = []

    async def send(url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> int:
        sent.extend(json.loads(body)["events"])
        return 204

    deferred: list[Callable[[], Awaitable[None]]] = []
    jobs = make_jobs(TrackerConfig(endpoint="https://t.example/e", env="test", service_key="svc", send=send))
    host = JobsHost(jobs, FakeStorage(), defer=deferred.append)  # type: ignore[arg-type]
    await host.call(wire("send", "task", "pinger", "p", payload={"label": "x"}))
    assert sent == [] and len(deferred) == 1  # nothing sent on the call's path
    await deferred[0]()
    assert [e["type"] for e in sent] == ["job.started", "task.scheduled"]
    await host.call(wire("status", "task", "pinger", "p"))
    assert len(deferred) == 1  # no events, nothing to deliver

    # Without a send of its own, the config is given the Workers transport.
    other = JobsHost(jobs, FakeStorage(), send=send)  # type: ignore[arg-type]
    assert other.tracker is not host.tracker


def test_alarm_retry_info_reads_every_shape() -> None:
    assert alarm_retry_info(None) == (False, 0)
    assert alarm_retry_info({"isRetry": True, "retryCount": 2}) == (True, 2)
    assert alarm_retry_info(types.SimpleNamespace(isRetry=False, retryCount=0)) == (False, 0)
    assert alarm_retry_info(types.SimpleNamespace(isRetry=True, retryCount=1.0)) == (True, 1)


# ------------------------------------------------------------------------------------------- client


@pytest.mark.anyio
async def test_client_from_binding_round_trips_results_and_typed_errors() -> None:
    jobs = make_jobs()
    namespace = FakeNamespace(jobs)
    client = jobs.JobsClient.from_binding(namespace)
    sent = await Effect.run_promise(client.task("pinger").send("p1", event={"label": "a"}))
    assert sent.created is True and sent.instance_id == "task:pinger:p1"
    state = await Effect.run_promise(client.task("pinger").get_state("p1"))
    assert state.state == Counter(n=1)
    assert set(namespace.hosts) == {"task:pinger:p1"}  # one object per instance name

    with pytest.raises(ValidationError):
        await Effect.run_promise(client.task("pinger").send("p1", event={"label": 5}))
    with pytest.raises(JobNotFoundError):
        await Effect.run_promise(client.continuous("nope").status("x"))

    namespace.stub_error = RuntimeError("object reset")
    with pytest.raises(StorageError, match="object reset"):
        await Effect.run_promise(client.task("pinger").status("p1"))
    namespace.stub_error = None
    namespace.reply = lambda _request: {"not": "text"}
    with pytest.raises(StorageError, match="expected JSON text"):
        await Effect.run_promise(client.task("pinger").status("p1"))


def test_binding_transport_needs_a_namespace() -> None:
    assert isinstance(binding_transport(FakeNamespace(make_jobs())), BindingTransport)
    with pytest.raises(TypeError, match="Durable Object namespace"):
        binding_transport(object())


# ------------------------------------------------------------------------------------------- the class


def test_make_jobs_class_outside_workers_says_where_it_works() -> None:
    with pytest.raises(ImportError, match="Cloudflare Python Workers runtime"):
        make_jobs_class(make_jobs())


@pytest.fixture
def fake_workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    module = types.ModuleType("workers")

    class DurableObject:
        def __init__(self, ctx: Any, env: Any) -> None:
            self.ctx = ctx
            self.env = env

    module.DurableObject = DurableObject  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "workers", module)
    yield


@pytest.mark.anyio
@pytest.mark.usefixtures("fake_workers")
async def test_the_durable_object_class_serves_rpc_and_alarms() -> None:
    jobs = make_jobs()
    clock = ShiftedClock()
    cls = make_jobs_class(jobs, name="MyJobs", clock=clock)
    assert cls.__name__ == "MyJobs"
    assert {"call", "alarm", "storage_ops"} <= set(vars(cls))
    storage = FakeStorage()
    obj: Any = cls(types.SimpleNamespace(storage=storage), None)
    reply = json.loads(await obj.call(wire("start", "continuous", "counter", "c", payload={"n": 0})))
    assert reply["ok"] is True
    clock.skip(600_000)
    await obj.alarm(types.SimpleNamespace(isRetry=True, retryCount=1))
    assert json.loads(await obj.call(wire("get_state", "continuous", "counter", "c")))["value"] == {"n": 2}
    assert json.loads(await obj.storage_ops())["alarms"] == 1


def test_importing_the_backend_needs_neither_workers_nor_pydantic() -> None:
    code = (
        "import sys, durable_effect.backends.cloudflare, durable_effect.jobs; "
        "print(sorted({'pydantic', 'workers', 'js', 'pyodide'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
