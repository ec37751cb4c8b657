"""The OpenAPI 3.1 document of the host's HTTP API (hand-written; the job names come from the registry)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..jobs._errors import ERROR_CLASSES
from ..jobs._protocol import JOB_TYPES, OPERATIONS

if TYPE_CHECKING:
    from ..jobs._registry import DurableJobs

PROTOCOL_ERRORS = (
    "Unauthorized",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "NotFound",
    "MethodNotAllowed",
    "HttpError",
)
"""The tags of the server's own errors, besides the job errors."""


def _error_response(description: str, tags: list[str]) -> dict[str, Any]:
    return {
        "description": description + " (" + ", ".join(tags) + ")",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }


def openapi_document(jobs: DurableJobs, max_body_bytes: int, *, auth: bool) -> dict[str, Any]:
    ops = sorted({op for ops in OPERATIONS.values() for op in ops})
    security: list[dict[str, list[str]]] = [{"bearer": []}] if auth else []
    call_errors = {
        "400": _error_response("Malformed JSON or request; `error.schema` is `request`", ["ValidationError"]),
        "401": _error_response("Missing or wrong bearer token", ["Unauthorized"]),
        "404": _error_response("Unknown job, or missing instance", ["JobNotFoundError", "InstanceNotFoundError"]),
        "409": _error_response(
            "Repeated event id, or a stored record that does not allow the operation",
            ["DuplicateEventError", "InvalidStateError"],
        ),
        "413": _error_response(f"Body over {max_body_bytes} bytes", ["PayloadTooLarge"]),
        "415": _error_response("Body is not application/json", ["UnsupportedMediaType"]),
        "422": _error_response("Input, event or state does not match its schema", ["ValidationError"]),
        "500": _error_response("The job's own code failed, or the server itself did", ["ExecutionError", "HttpError"]),
        "503": _error_response("Storage or scheduler failure; nothing was kept", ["StorageError", "SchedulerError"]),
        "405": _error_response("Method not allowed (with an `Allow` header)", ["MethodNotAllowed"]),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "durable-effect host",
            "version": "1",
            "description": (
                "Drive the durable jobs of one registry served from a SQLite file. Every call on an instance "
                "is committed before it is answered. Instance names are `{job_type}:{job_name}:{id}`."
            ),
        },
        "paths": {
            "/v1/call": {
                "post": {
                    "operationId": "call",
                    "summary": "Run one operation on one job instance",
                    "description": "Allowed `op` per `job_type`: "
                    + "; ".join(f"{t}: {', '.join(OPERATIONS[t])}" for t in JOB_TYPES)
                    + ". A rejected request changes nothing.",
                    "security": security,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallRequest"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "The operation's result (its shape depends on `op`)",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallOk"}}},
                        },
                        **call_errors,
                    },
                }
            },
            "/v1/instances": {
                "get": {
                    "operationId": "listInstances",
                    "summary": "Stored instances in name order, with status and next alarm",
                    "security": security,
                    "parameters": [
                        {"name": "job_type", "in": "query", "schema": {"type": "string", "enum": list(JOB_TYPES)}},
                        {"name": "job", "in": "query", "schema": {"type": "string"}, "description": "a job name"},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                        },
                        {
                            "name": "after",
                            "in": "query",
                            "schema": {"type": "string"},
                            "description": "continue after this instance name (`next_after` of the previous page)",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of instances",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InstanceList"}}},
                        },
                        "400": call_errors["400"],
                        "401": call_errors["401"],
                        "404": _error_response("Unknown job", ["JobNotFoundError"]),
                        "500": _error_response("The server itself failed", ["HttpError"]),
                        "503": _error_response("The file could not be read", ["StorageError"]),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness (no token needed)",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Serving",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
                        },
                        "503": {"description": "The host is not running"},
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1 document"}},
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "CallRequest": {
                    "type": "object",
                    "required": ["op", "job_type", "job_name", "id"],
                    "description": "Other properties are ignored.",
                    "properties": {
                        "op": {"type": "string", "enum": ops},
                        "job_type": {"type": "string", "enum": list(JOB_TYPES)},
                        "job_name": {
                            "type": "string",
                            "examples": sorted(jobs.definitions),
                            "description": "a job of the served registry: "
                            + ", ".join(sorted(jobs.definitions))
                            + " (another name is answered 404 `JobNotFoundError`)",
                        },
                        "id": {"type": "string", "minLength": 1},
                        "payload": {"description": "`input` of start, `event` of add/send (validated by the job)"},
                        "event_id": {"type": ["string", "null"], "description": "idempotency key"},
                        "reason": {"type": ["string", "null"], "description": "terminate reason"},
                    },
                },
                "CallOk": {
                    "type": "object",
                    "required": ["ok", "value"],
                    "properties": {"ok": {"const": True}, "value": {}},
                },
                "Error": {
                    "type": "object",
                    "required": ["_tag", "message"],
                    "description": "A typed error; the job errors carry their fields (e.g. `instance_id`, "
                    "`schema` and `issues`, `event_id`).",
                    "properties": {
                        "_tag": {"type": "string", "enum": sorted(ERROR_CLASSES) + list(PROTOCOL_ERRORS)},
                        "message": {"type": "string"},
                    },
                    "additionalProperties": True,
                },
                "ErrorResponse": {
                    "type": "object",
                    "required": ["ok", "error"],
                    "properties": {"ok": {"const": False}, "error": {"$ref": "#/components/schemas/Error"}},
                },
                "Instance": {
                    "type": "object",
                    "required": ["instance_id", "job_type", "job_name", "id", "status", "next_alarm"],
                    "properties": {
                        "instance_id": {"type": "string"},
                        "job_type": {"type": "string", "enum": list(JOB_TYPES)},
                        "job_name": {"type": "string"},
                        "id": {"type": "string"},
                        "status": {
                            "type": "string",
                            "enum": ["running", "retrying", "debouncing", "active", "idle"],
                        },
                        "next_alarm": {"type": ["integer", "null"], "description": "epoch ms"},
                        "alarm_attempts": {"type": "integer"},
                        "created_at": {"type": ["integer", "null"], "description": "epoch ms"},
                        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                    },
                },
                "InstanceList": {
                    "type": "object",
                    "required": ["instances", "next_after", "now"],
                    "properties": {
                        "instances": {"type": "array", "items": {"$ref": "#/components/schemas/Instance"}},
                        "next_after": {"type": ["string", "null"]},
                        "now": {"type": "integer", "description": "the host clock, epoch ms"},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"const": "ok"},
                        "jobs": {"type": "array", "items": {"type": "string"}},
                        "alarm_runs": {"type": "integer"},
                        "alarms_in_flight": {"type": "integer"},
                        "now": {"type": "integer", "description": "the host clock, epoch ms"},
                    },
                },
            },
        },
    }
