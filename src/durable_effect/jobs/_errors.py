"""The errors a job call can fail with: tagged errors, data rather than strings to parse."""

from __future__ import annotations

from typing import Any

from ..effect import TaggedError


class JobNotFoundError(TaggedError):
    """No job of this type is registered under ``name`` (also for an alarm of a job that was removed)."""

    job_type: str
    name: str

    @property
    def message(self) -> str:
        kind = f"{self.job_type} job" if self.job_type else "job"  # no type: a name looked up across types
        return f"no {kind} named {self.name!r} is registered"


class InstanceNotFoundError(TaggedError):
    """The instance does not exist (never started, or terminated)."""

    instance_id: str

    @property
    def message(self) -> str:
        return f"instance {self.instance_id!r} does not exist"


class InvalidStateError(TaggedError):
    """The instance's stored record does not allow the operation (another job type, an unknown version...)."""

    instance_id: str
    expected: str
    actual: str

    @property
    def message(self) -> str:
        return f"instance {self.instance_id!r}: expected {self.expected}, found {self.actual}"


class ValidationError(TaggedError):
    """Input, event or state does not match its schema; nothing was written."""

    schema: str
    issues: list[str]

    @property
    def message(self) -> str:
        return f"invalid {self.schema}: " + "; ".join(self.issues)


class ExecutionError(TaggedError):
    """The job's own code failed and neither a retry nor ``on_error`` took it; nothing of the run was kept."""

    instance_id: str
    cause: str

    @property
    def message(self) -> str:
        return f"instance {self.instance_id!r} failed: {self.cause}"


class DuplicateEventError(TaggedError):
    """This ``event_id`` was already seen by the instance within the retention window; nothing changed."""

    instance_id: str
    event_id: str

    @property
    def message(self) -> str:
        return f"instance {self.instance_id!r} already processed event {self.event_id!r}"


class StorageError(TaggedError):
    """Reading or committing the instance failed, or the call did not get through; nothing of it was kept.

    One exception: a remote call whose answer was lost after it was sent (``operation="call"``, the cause
    says so) may have committed; retry it with the same ``event_id`` to apply it exactly once.
    """

    operation: str
    cause: str

    @property
    def message(self) -> str:
        return f"storage {self.operation} failed: {self.cause}"


class SchedulerError(TaggedError):
    """Setting or cancelling the instance's alarm failed; nothing of the call was kept."""

    operation: str
    cause: str

    @property
    def message(self) -> str:
        return f"scheduler {self.operation} failed: {self.cause}"


JobError = (
    JobNotFoundError
    | InstanceNotFoundError
    | InvalidStateError
    | ValidationError
    | ExecutionError
    | DuplicateEventError
    | StorageError
    | SchedulerError
)
"""Every error a jobs call can fail with."""

ERROR_CLASSES: dict[str, type[TaggedError]] = {
    cls._tag: cls
    for cls in (
        JobNotFoundError,
        InstanceNotFoundError,
        InvalidStateError,
        ValidationError,
        ExecutionError,
        DuplicateEventError,
        StorageError,
        SchedulerError,
    )
}


def error_to_wire(error: TaggedError) -> dict[str, Any]:
    """An error as JSON data: its ``_tag``, its fields and its message."""
    return {"_tag": error._tag, "message": error.message, **dict(error._field_items())}


def error_from_wire(data: dict[str, Any]) -> TaggedError:
    """Rebuild the same error class from :func:`error_to_wire` data (unknown tags become ``ExecutionError``)."""
    cls = ERROR_CLASSES.get(str(data.get("_tag")))
    if cls is None:
        return ExecutionError(instance_id=str(data.get("instance_id", "?")), cause=str(data.get("message", data)))
    fields = {key: value for key, value in data.items() if key not in ("_tag", "message")}
    try:
        return cls(**fields)
    except TypeError:
        return ExecutionError(instance_id=str(data.get("instance_id", "?")), cause=str(data.get("message", data)))
