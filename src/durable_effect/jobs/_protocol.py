"""Requests and responses as they cross a transport (in process, HTTP, Durable Object RPC).

A response is ``{"ok": True, "value": ...}`` or ``{"ok": False, "error": {"_tag": ..., fields...}}``; errors
travel as data and are rebuilt as the same classes on the client side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..effect import TaggedError
from ._errors import error_from_wire, error_to_wire

JOB_TYPES = ("continuous", "debounce", "task")
OPERATIONS: dict[str, tuple[str, ...]] = {
    "continuous": ("start", "trigger", "status", "get_state", "terminate"),
    "debounce": ("add", "flush", "clear", "status", "get_state"),
    "task": ("send", "trigger", "status", "get_state", "terminate"),
}


def instance_name(job_type: str, job_name: str, id: str) -> str:
    """The readable instance name ``{type}:{name}:{id}``."""
    return f"{job_type}:{job_name}:{id}"


@dataclass(frozen=True, slots=True)
class Request:
    """One call on one instance: a client operation, or ``"alarm"`` when the instance's alarm fires."""

    op: str
    job_type: str
    job_name: str
    id: str
    payload: Any = None
    event_id: str | None = None
    reason: str | None = None
    is_retry: bool = False
    instance_id: str = field(init=False, repr=False, compare=False)
    """``{job_type}:{job_name}:{id}``, made once (every layer of a call uses it)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "instance_id", instance_name(self.job_type, self.job_name, self.id))

    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "job_type": self.job_type, "job_name": self.job_name, "id": self.id}
        if self.payload is not None:
            data["payload"] = self.payload
        if self.event_id is not None:
            data["event_id"] = self.event_id
        if self.reason is not None:
            data["reason"] = self.reason
        if self.is_retry:
            data["is_retry"] = True
        return data

    @staticmethod
    def from_wire(data: Any) -> Request:
        """Parse and check a request; raises ``ValueError`` naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a request must be a JSON object")
        for key in ("op", "job_type", "job_name", "id"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"request field {key!r} must be a non-empty string")
        if data["job_type"] not in JOB_TYPES:
            raise ValueError(f"unknown job_type {data['job_type']!r}: expected one of {', '.join(JOB_TYPES)}")
        if data["op"] not in OPERATIONS[data["job_type"]]:
            raise ValueError(
                f"unknown {data['job_type']} operation {data['op']!r}: expected one of "
                f"{', '.join(OPERATIONS[data['job_type']])}"
            )
        for key in ("event_id", "reason"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValueError(f"request field {key!r} must be a string")
        if data.get("event_id") == "":
            raise ValueError("request field 'event_id' must be a non-empty string (or left out)")
        return Request(
            op=data["op"],
            job_type=data["job_type"],
            job_name=data["job_name"],
            id=data["id"],
            payload=data.get("payload"),
            event_id=data.get("event_id"),
            reason=data.get("reason"),
        )


def ok(value: Any) -> dict[str, Any]:
    return {"ok": True, "value": value}


def err(error: TaggedError) -> dict[str, Any]:
    return {"ok": False, "error": error_to_wire(error)}


def parse_response(response: Any) -> tuple[Any, TaggedError | None]:
    """``(value, None)`` or ``(None, error)`` from a wire response."""
    if isinstance(response, dict) and response.get("ok") is True:
        return response.get("value"), None
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        return None, error_from_wire(response["error"])
    raise ValueError(f"malformed jobs response: {response!r}")
