"""The HTTP API on a real server process (uvicorn on 127.0.0.1), driven by ``JobsClient.from_url``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from durable_effect.host import Host, HttpTransport, create_app
from durable_effect.jobs import (
    DuplicateEventError,
    InstanceNotFoundError,
    JobNotFoundError,
    StorageError,
    ValidationError,
)

from ._support import ServerProcess, run
from .app import Note, Ping, jobs, notes, pinger, ticker


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def post(server: ServerProcess, body: Any = None, *, content: bytes | None = None, **headers: str) -> httpx.Response:
    all_headers = {"content-type": "application/json", **server.headers(), **headers}
    return httpx.post(f"{server.url}/v1/call", json=body, content=content, headers=all_headers, timeout=10)


def stored(server: ServerProcess) -> list[str]:
    response = httpx.get(f"{server.url}/v1/instances", params={"limit": 1000}, headers=server.headers(), timeout=10)
    assert response.status_code == 200
    return [item["instance_id"] for item in response.json()["instances"]]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_the_http_client_gets_the_same_results_and_error_classes(
    server: ServerProcess, anyio_backend: str
) -> None:
    client = server.client()
    n = fresh("n")
    added = await run(client.debounce(notes).add(n, event={"text": "one"}, event_id="e1"))
    assert (added.created, added.event_count, added.instance_id) == (True, 1, f"debounce:notes:{n}")
    assert (await run(client.debounce(notes).get_state(n))).texts == ["one"]
    with pytest.raises(DuplicateEventError) as duplicate:
        await run(client.debounce(notes).add(n, event={"text": "again"}, event_id="e1"))
    assert duplicate.value.event_id == "e1"
    with pytest.raises(ValidationError) as invalid:
        await run(client.debounce(notes).add(n, event={"txt": 1}))
    assert invalid.value.issues
    with pytest.raises(JobNotFoundError) as unknown:
        await run(client.debounce("nope").add(n, event={}))
    assert (unknown.value.job_type, unknown.value.name) == ("debounce", "nope")
    with pytest.raises(InstanceNotFoundError):
        await run(client.task(pinger).get_state(fresh("missing")))
    assert (await run(client.debounce(notes).status(n))).event_count == 1

    t = fresh("t")
    started = await run(client.continuous(ticker).start(t, input={"runs": 0}))
    assert started.created and started.status == "running"
    assert (await run(client.continuous(ticker).trigger(t))).triggered
    assert (await run(client.continuous(ticker).get_state(t))).runs == 2
    assert (await run(client.continuous(ticker).terminate(t, reason="done"))).terminated
    p = fresh("p")
    sent = await run(client.task(pinger).send(p, event=Ping(at=4_000_000_000_000)))
    assert sent.scheduled_at == 4_000_000_000_000


def test_instances_are_listed_by_job_with_status_and_next_alarm(server: ServerProcess) -> None:
    ids = sorted(fresh("list") for _ in range(3))
    for id in ids:
        assert (
            post(
                server, {"op": "add", "job_type": "debounce", "job_name": "notes", "id": id, "payload": {"text": "x"}}
            ).status_code
            == 200
        )
    page = httpx.get(
        f"{server.url}/v1/instances",
        params={"job": "notes", "limit": 2, "after": f"debounce:notes:{ids[0]}"},
        headers=server.headers(),
        timeout=10,
    ).json()
    assert [item["id"] for item in page["instances"]] == ids[1:]
    item = page["instances"][0]
    assert item["status"] == "debouncing" and item["job_type"] == "debounce" and item["counts"] == {"event_count": 1}
    assert item["next_alarm"] == item["created_at"] + 3_600_000
    assert isinstance(page["now"], int)
    first = listing(server, job="notes", limit=1, after=f"debounce:notes:{ids[0]}")
    assert [item["id"] for item in first["instances"]] == ids[1:2]
    assert first["next_after"] == f"debounce:notes:{ids[1]}"  # more follow

    last = f"~last-{uuid.uuid4().hex[:8]}"  # "~" sorts after every other id of these tests
    assert (
        post(
            server, {"op": "add", "job_type": "debounce", "job_name": "notes", "id": last, "payload": {"text": "x"}}
        ).status_code
        == 200
    )
    final = listing(server, job="notes", limit=1, after="debounce:notes:~last-")
    assert [item["id"] for item in final["instances"]] == [last]
    assert final["next_after"] is None  # a full page, but the last one: no empty page to fetch

    unknown = httpx.get(f"{server.url}/v1/instances", params={"job": "nope"}, headers=server.headers(), timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["_tag"] == "JobNotFoundError"
    assert unknown.json()["error"]["message"] == "no job named 'nope' is registered"
    removed = listing(server, job="nope", job_type="task")  # a removed job's instances can still be listed
    assert removed["instances"] == [] and removed["next_after"] is None


def listing(server: ServerProcess, **params: Any) -> Any:
    response = httpx.get(f"{server.url}/v1/instances", params=params, headers=server.headers(), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


_ADD = b'{"op": "add", "job_type": "debounce", "job_name": "notes", "id": "n", "payload": {"text": "x", "n": %s}}'
BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("malformed JSON", {"content": b'{"op": "add", '}, 400, "ValidationError"),
    ("nested too deeply", {"content": b"[" * 200_000}, 400, "ValidationError"),
    *(
        (f"{number.decode()} in the body", {"content": _ADD % number}, 400, "ValidationError")
        for number in (b"NaN", b"-Infinity", b"1e999")
    ),
    (
        "lone surrogate in a string",
        {
            "content": b'{"op": "add", "job_type": "debounce", "job_name": "notes", "id": "{id}", '
            b'"payload": {"text": "\\ud800"}}'
        },
        400,
        "ValidationError",
    ),
    (
        "lone surrogate in an id",
        {
            "content": b'{"op": "add", "job_type": "debounce", "job_name": "notes", "id": "{id}\\udc00", '
            b'"payload": {"text": "x"}}'
        },
        400,
        "ValidationError",
    ),
    (
        "nested past the limit",
        {
            "body": {
                "op": "add",
                "job_type": "debounce",
                "job_name": "notes",
                "payload": {"text": "x", "deep": _nested(70)},
            }
        },
        400,
        "ValidationError",
    ),
    (
        "empty event_id",
        {"body": {"op": "add", "job_type": "debounce", "job_name": "notes", "payload": {"text": "x"}, "event_id": ""}},
        400,
        "ValidationError",
    ),
    ("not an object", {"body": ["add"]}, 400, "ValidationError"),
    ("missing field", {"body": {"op": "add", "job_type": "debounce", "id": "no-job-name"}}, 400, "ValidationError"),
    (
        "unknown operation",
        {"body": {"op": "explode", "job_type": "debounce", "job_name": "notes"}},
        400,
        "ValidationError",
    ),
    (
        "unknown job",
        {"body": {"op": "add", "job_type": "debounce", "job_name": "nope", "payload": {"text": "x"}}},
        404,
        "JobNotFoundError",
    ),
    (
        "invalid event",
        {"body": {"op": "add", "job_type": "debounce", "job_name": "notes", "payload": {"t": 1}}},
        422,
        "ValidationError",
    ),
    (
        "oversized body",
        {"body": {"op": "add", "job_type": "debounce", "job_name": "notes", "payload": {"text": "x" * (1 << 20)}}},
        413,
        "PayloadTooLarge",
    ),
    (
        "wrong content type",
        {"content": b"op=add", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        415,
        "UnsupportedMediaType",
    ),
    ("missing token", {"headers": {"authorization": ""}}, 401, "Unauthorized"),
    ("wrong token", {"headers": {"authorization": "Bearer guess"}}, 401, "Unauthorized"),
    ("another scheme", {"headers": {"authorization": "Basic c2VjcmV0"}}, 401, "Unauthorized"),
]


def test_the_bearer_scheme_is_case_insensitive(server: ServerProcess) -> None:
    assert server.token
    body = {"op": "status", "job_type": "debounce", "job_name": "notes", "id": fresh("scheme")}
    for scheme in ("bearer", "BEARER"):
        assert post(server, body, authorization=f"{scheme} {server.token}").status_code == 200


@pytest.mark.parametrize(("case", "spec", "status", "tag"), BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
def test_a_bad_request_gets_a_typed_4xx_and_changes_nothing(
    server: ServerProcess, case: str, spec: dict[str, Any], status: int, tag: str
) -> None:
    id = fresh("bad")
    body = spec.get("body", {"op": "add", "job_type": "debounce", "job_name": "notes", "payload": {"text": "x"}})
    if isinstance(body, dict) and "id" not in body:
        body = {**body, "id": id}
    headers = {"content-type": "application/json", **server.headers(), **spec.get("headers", {})}
    headers = {key: value for key, value in headers.items() if value}
    content = spec.get("content")
    if content:
        content = content.replace(b"{id}", id.encode())  # so that the check below covers it
    response = httpx.post(
        f"{server.url}/v1/call", json=None if content else body, content=content, headers=headers, timeout=10
    )
    assert response.status_code == status, response.text
    data = response.json()
    assert data["ok"] is False and data["error"]["_tag"] == tag and data["error"]["message"]
    if status == 400:
        assert data["error"]["schema"] == "request"
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert not [name for name in stored(server) if name.endswith(id)]


def test_a_body_streamed_past_the_limit_is_refused(server: ServerProcess) -> None:
    def chunks() -> Any:
        yield b'{"op": "add", "job_type": "debounce", "job_name": "notes", "id": "stream", "payload": {"text": "'
        for _ in range(64):
            yield b"x" * 32_768
        yield b'"}}'

    response = httpx.post(
        f"{server.url}/v1/call",
        content=chunks(),
        headers={"content-type": "application/json", **server.headers()},
        timeout=10,
    )
    assert response.status_code == 413 and response.json()["error"]["_tag"] == "PayloadTooLarge"
    assert "debounce:notes:stream" not in stored(server)


def test_unknown_routes_and_methods_get_typed_errors(server: ServerProcess) -> None:
    missing = httpx.get(f"{server.url}/v2/nothing", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["_tag"] == "NotFound"
    wrong_method = httpx.get(f"{server.url}/v1/call", headers=server.headers(), timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["_tag"] == "MethodNotAllowed"
    assert wrong_method.headers["allow"] == "POST"


@pytest.mark.anyio
async def test_the_http_client_reports_refusals_and_unreachable_hosts_as_storage_errors(
    server: ServerProcess,
) -> None:
    wrong = jobs.JobsClient.from_url(server.url, token="guess")
    with pytest.raises(StorageError) as refused:
        await run(wrong.debounce(notes).status("x"))
    assert refused.value.operation == "call" and "HTTP 401" in refused.value.cause
    nobody = jobs.JobsClient.from_url("http://127.0.0.1:9", token="x")
    with pytest.raises(StorageError) as unreachable:
        await run(nobody.debounce(notes).status("x"))
    assert "ConnectError" in unreachable.value.cause


def test_health_and_the_openapi_document(server: ServerProcess) -> None:
    health = httpx.get(f"{server.url}/healthz", timeout=10).json()  # no token needed
    assert health["status"] == "ok" and health["jobs"] == ["notes", "pinger", "ticker"]
    document = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {"/v1/call", "/v1/instances", "/healthz", "/openapi.json"}
    call = document["paths"]["/v1/call"]["post"]
    assert set(call["responses"]) == {"200", "400", "401", "404", "405", "409", "413", "415", "422", "500", "503"}
    assert call["security"] == [{"bearer": []}]
    assert set(document["paths"]["/v1/instances"]["get"]["responses"]) == {"200", "400", "401", "404", "500", "503"}
    request = document["components"]["schemas"]["CallRequest"]
    assert request["properties"]["job_name"]["examples"] == ["notes", "pinger", "ticker"]
    assert "enum" not in request["properties"]["job_name"]  # an unknown job is a documented 404, not a bad request
    tags = document["components"]["schemas"]["Error"]["properties"]["_tag"]["enum"]
    assert {"ValidationError", "JobNotFoundError", "Unauthorized", "PayloadTooLarge", "HttpError"} <= set(tags)


def test_responses_match_the_published_schemas(server: ServerProcess) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    document = httpx.get(f"{server.url}/openapi.json", timeout=10).json()

    def check(name: str, value: Any) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        jsonschema.Draft202012Validator(schema).validate(value)

    id = fresh("schema")
    call = {"op": "add", "job_type": "debounce", "job_name": "notes", "id": id, "payload": {"text": "x"}}
    check("CallRequest", call)
    check("CallOk", post(server, call).json())
    check("CallRequest", {**call, "job_name": "nope"})  # answered 404 JobNotFoundError, as documented
    check("ErrorResponse", post(server, {**call, "job_name": "nope"}).json())
    check("ErrorResponse", post(server, content=b"{").json())
    check("ErrorResponse", httpx.post(f"{server.url}/v1/call", json=call, timeout=10).json())
    listing = httpx.get(f"{server.url}/v1/instances", headers=server.headers(), timeout=10).json()
    assert listing["instances"]
    check("InstanceList", listing)
    check("Health", httpx.get(f"{server.url}/healthz", timeout=10).json())
    with pytest.raises(jsonschema.ValidationError):
        check("CallRequest", {**call, "job_type": "cron"})


@pytest.mark.anyio
async def test_failures_outside_the_job_calls_are_typed_json_too(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with Host(jobs, db) as host:
        app = create_app(host, manage_host=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://host") as http:

            async def storage_fails(**options: Any) -> Any:
                raise StorageError(operation="list", cause="disk I/O error")

            host.store.list_instances = storage_fails  # type: ignore[method-assign]
            response = await http.get("/v1/instances")
            assert response.status_code == 503
            assert response.json()["error"] == {
                "_tag": "StorageError",
                "message": "storage list failed: disk I/O error",
                "operation": "list",
                "cause": "disk I/O error",
            }

            async def defect(**options: Any) -> Any:
                raise KeyError("a bug")

            host.store.list_instances = defect  # type: ignore[method-assign]
            with caplog.at_level(logging.ERROR, logger="durable_effect.host"):
                response = await http.get("/v1/instances")
            assert response.status_code == 500 and response.json()["error"]["_tag"] == "HttpError"
            assert "a bug" not in response.text  # the details stay in the server's log
            assert "KeyError: 'a bug'" in caplog.text


@pytest.mark.anyio
async def test_a_call_sent_without_an_answer_is_reported_as_of_unknown_outcome() -> None:
    received = anyio.Event()

    async def never_answer(stream: Any) -> None:
        async with stream:
            await stream.receive()
            received.set()
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, never_answer)
        client = jobs.JobsClient(HttpTransport(f"http://127.0.0.1:{port}", timeout=0.5))
        with anyio.fail_after(10), pytest.raises(StorageError) as timed_out:
            await run(client.debounce(notes).add("n", event=Note(text="x"), event_id="e1"))
        assert received.is_set()
        assert "ReadTimeout" in timed_out.value.cause
        assert "outcome is unknown" in timed_out.value.cause and "event_id" in timed_out.value.cause
        group.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_http_client_closes_its_connections_when_its_block_ends(server: ServerProcess) -> None:
    async with jobs.JobsClient.from_url(server.url, token=server.token) as client:
        assert (await run(client.debounce(notes).status(fresh("closing")))).status == "not_found"
        transport: Any = client._transport
        assert transport._client is not None  # a pool is open while the block runs
    assert transport._client is None
    await jobs.JobsClient.memory().aclose()  # other transports hold nothing to close


@pytest.mark.anyio
async def test_a_client_gone_before_its_body_arrived_is_not_a_server_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Host(jobs, tmp_path / "jobs.sqlite"), manage_host=False)
    incoming: list[MutableMapping[str, Any]] = [
        {"type": "http.request", "body": b'{"op": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return incoming.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/call",
        "raw_path": b"/v1/call",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    with caplog.at_level(logging.ERROR):
        await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
