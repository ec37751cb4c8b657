"""Instance summaries: what ``list`` shows for a stored instance (its job, status and next alarm)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..backends.sqlite import InstanceRow


@dataclass(frozen=True, slots=True)
class InstanceSummary:
    """One stored instance. ``status`` uses the words of the client's ``status`` call: ``running``
    (continuous), ``debouncing``/``idle`` (debounce), ``active``/``idle`` (task). ``next_alarm`` is the due
    time of its alarm (epoch ms) and ``alarm_attempts`` how many runs of that alarm committed nothing."""

    instance_id: str
    job_type: str
    job_name: str
    id: str
    status: str
    next_alarm: int | None
    alarm_attempts: int
    created_at: int | None
    counts: dict[str, int]

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)


def summarize(row: InstanceRow) -> InstanceSummary:
    job_type, job_name, id = row.instance_id.split(":", 2)
    record = row.record
    counts: dict[str, int] = {}
    if job_type == "continuous":
        status = "retrying" if record.get("retry_attempt") else "running"
        counts["run_count"] = int(record.get("run_count", 0))
    elif job_type == "debounce":
        status = "debouncing" if record.get("event_count") else "idle"
        counts["event_count"] = int(record.get("event_count", 0))
    else:
        status = "active" if row.alarm is not None else "idle"
        counts["event_count"] = int(record.get("event_count", 0))
        counts["execute_count"] = int(record.get("execute_count", 0))
    created_at = record.get("created_at")
    return InstanceSummary(
        instance_id=row.instance_id,
        job_type=job_type,
        job_name=job_name,
        id=id,
        status=status,
        next_alarm=row.alarm,
        alarm_attempts=row.alarm_attempts,
        created_at=created_at if isinstance(created_at, int) else None,
        counts=counts,
    )
