"""The HTTP API on a real server process (uvicorn on 127.0.0.1), driven by ``JobsClient.from_url``."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from durable_effect.jobs import (
    DuplicateEventError,
    InstanceNotFoundError,
    JobNotFoundError,
    StorageError,
    ValidationError,
)

from ._support import ServerProcess, run
from .app import Ping, jobs, notes, pinger, ticker


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
    assert page["next_after"] == f"debounce:notes:{ids[2]}"
    assert isinstance(page["now"], int)
    unknown = httpx.get(f"{server.url}/v1/instances", params={"job": "nope"}, headers=server.headers(), timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["_tag"] == "JobNotFoundError"


BAD_REQUESTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("malformed JSON", {"content": b'{"op": "add", '}, 400, "ValidationError"),
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
]


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
    assert set(call["responses"]) == {"200", "400", "401", "404", "409", "413", "415", "422", "500", "503"}
    assert call["security"] == [{"bearer": []}]
    request = document["components"]["schemas"]["CallRequest"]
    assert request["properties"]["job_name"]["enum"] == ["notes", "pinger", "ticker"]
    tags = document["components"]["schemas"]["Error"]["properties"]["_tag"]["enum"]
    assert {"ValidationError", "JobNotFoundError", "Unauthorized", "PayloadTooLarge"} <= set(tags)


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
    check("ErrorResponse", post(server, {**call, "job_name": "nope"}).json())
    check("ErrorResponse", post(server, content=b"{").json())
    check("ErrorResponse", httpx.post(f"{server.url}/v1/call", json=call, timeout=10).json())
    listing = httpx.get(f"{server.url}/v1/instances", headers=server.headers(), timeout=10).json()
    assert listing["instances"]
    check("InstanceList", listing)
    check("Health", httpx.get(f"{server.url}/healthz", timeout=10).json())
    with pytest.raises(jsonschema.ValidationError):
        check("CallRequest", {**call, "job_type": "cron"})
