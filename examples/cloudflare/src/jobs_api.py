"""A small HTTP API over the jobs of a registry, served by the example Worker's ``Default`` entry point.

Routes (JSON in and out; ``<type>`` is ``continuous``, ``debounce`` or ``task``)::

    GET  /health
    POST /continuous/<job>/<id>/start      {"input": {...}, "event_id": "..."?}
    POST /continuous/<job>/<id>/trigger
    POST /continuous/<job>/<id>/terminate  {"reason": "..."?}
    POST /debounce/<job>/<id>/add          {"event": {...}, "event_id": "..."?}
    POST /debounce/<job>/<id>/flush
    POST /debounce/<job>/<id>/clear
    POST /task/<job>/<id>/send             {"event": {...}, "event_id": "..."?}
    POST /task/<job>/<id>/trigger
    POST /task/<job>/<id>/terminate
    GET  /<type>/<job>/<id>                the status
    GET  /<type>/<job>/<id>/state          the state

A success answers ``200 {"result": ...}``. A failed call answers ``{"error": {"_tag": ..., "message": ...,
fields...}}`` with a status chosen by the error's class (``ValidationError`` 422, ``JobNotFoundError`` and
``InstanceNotFoundError`` 404, ``DuplicateEventError`` and ``InvalidStateError`` 409, ``ExecutionError`` 500,
``StorageError`` and ``SchedulerError`` 503): the client rebuilt the error from the Durable Object's answer
as its own class, so the mapping is by ``isinstance``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any
from urllib.parse import urlparse

from workers import Request, Response

from durable_effect import Effect, TaggedError
from durable_effect.jobs import (
    DuplicateEventError,
    DurableJobs,
    ExecutionError,
    InstanceNotFoundError,
    InvalidStateError,
    JobNotFoundError,
    SchedulerError,
    StorageError,
    TaskStateResult,
    ValidationError,
)

ERROR_STATUS: list[tuple[type[TaggedError], int]] = [
    (ValidationError, 422),
    (JobNotFoundError, 404),
    (InstanceNotFoundError, 404),
    (DuplicateEventError, 409),
    (InvalidStateError, 409),
    (ExecutionError, 500),
    (StorageError, 503),
    (SchedulerError, 503),
]

_ACTIONS: dict[tuple[str, str, str], str] = {
    ("continuous", "POST", "start"): "start",
    ("continuous", "POST", "trigger"): "trigger",
    ("continuous", "POST", "terminate"): "terminate",
    ("debounce", "POST", "add"): "add",
    ("debounce", "POST", "flush"): "flush",
    ("debounce", "POST", "clear"): "clear",
    ("task", "POST", "send"): "send",
    ("task", "POST", "trigger"): "trigger",
    ("task", "POST", "terminate"): "terminate",
    ("continuous", "GET", ""): "status",
    ("debounce", "GET", ""): "status",
    ("task", "GET", ""): "status",
    ("continuous", "GET", "state"): "get_state",
    ("debounce", "GET", "state"): "get_state",
    ("task", "GET", "state"): "get_state",
}


def json_response(data: object, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, headers={"content-type": "application/json"})


def error_body(error: TaggedError) -> dict[str, Any]:
    """The error as data: its tag, its message and its fields."""
    fields = {name: value for name, value in vars(error).items() if not name.startswith("_")}
    return {"_tag": error._tag, "message": error.message, **fields}


def error_response(error: TaggedError) -> Response:
    status = next((code for cls, code in ERROR_STATUS if isinstance(error, cls)), 500)
    return json_response({"error": error_body(error)}, status)


def _plain(jobs: DurableJobs, job_type: str, job: str, op: str, value: Any) -> Any:
    """A call's result as JSON data (typed states are encoded with their job's schema)."""
    definition = jobs.engine.definition(job_type, job)
    if op == "get_state" and definition is not None:
        if isinstance(value, TaskStateResult):
            state = None if value.state is None else definition.state_schema.encode(value.state)
            return {"state": state, "scheduled_at": value.scheduled_at}
        return definition.state_schema.encode(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


async def handle(request: Request, jobs: DurableJobs, binding: Any, *, prefix: str = "") -> Response:
    """Serve one HTTP request of the API with the jobs of ``jobs`` hosted behind ``binding`` (``env.JOBS``)."""
    path = urlparse(str(request.url)).path
    if prefix and path.startswith(prefix):
        path = path[len(prefix) :]
    parts = [part for part in path.split("/") if part]
    method = str(request.method).upper()
    if parts in ([], ["health"]):
        return Response("ok")
    if len(parts) not in (3, 4):
        return json_response({"error": {"_tag": "NotFound", "message": f"no route {method} {path}"}}, 404)
    job_type, job, id = parts[:3]
    op = _ACTIONS.get((job_type, method, parts[3] if len(parts) == 4 else ""))
    if op is None:
        return json_response({"error": {"_tag": "NotFound", "message": f"no route {method} {path}"}}, 404)
    body: dict[str, Any] = {}
    if method == "POST":
        text = await request.text()
        try:
            parsed = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            return json_response({"error": {"_tag": "BadRequest", "message": f"body is not JSON: {exc}"}}, 400)
        if not isinstance(parsed, dict):
            return json_response({"error": {"_tag": "BadRequest", "message": "body must be a JSON object"}}, 400)
        body = parsed

    client = jobs.JobsClient.from_binding(binding)
    accessor: Any = getattr(client, job_type)(job)
    method_of = getattr(accessor, op)
    if op == "start":
        effect = method_of(id, input=body.get("input"), event_id=body.get("event_id"))
    elif op in ("add", "send"):
        effect = method_of(id, event=body.get("event"), event_id=body.get("event_id"))
    elif op == "terminate":
        effect = method_of(id, reason=body.get("reason"))
    else:
        effect = method_of(id)
    try:
        value = await Effect.run_promise(effect)
    except TaggedError as error:
        return error_response(error)
    return json_response({"result": _plain(jobs, job_type, job, op, value)})
