"""An :class:`~durable_effect.jobs.InstanceStore` over one Durable Object's ``ctx.storage``.

One Durable Object holds one job instance: its record is JSON text under one key, its alarm is the
object's alarm. A save issues the record's put (or delete) and the alarm change back to back, with no
``await`` in between, so the runtime commits them as one atomic write (write coalescing) and the object's
output gate holds the response until they are durable.

The store keeps the last record it read or wrote in memory. All writes go through it (an object has
exactly one live instance), so that copy is the committed value; a warm object answers loads without a
storage read. A failed write forgets it, so the next load reads storage again.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final

from ...jobs._errors import InvalidStateError, SchedulerError, StorageError
from ...jobs._protocol import instance_name

if TYPE_CHECKING:
    from workers import DurableObjectStorage

RECORD_KEY: Final = "record"
"""The storage key of the instance record (JSON text)."""

MAX_VALUE_BYTES: Final = 2_000_000
"""The most a SQLite-backed Durable Object holds under one key (key and value: 2 MB)."""

_log = logging.getLogger("durable_effect.cloudflare")

_UNKNOWN: Final = object()


def record_instance_name(record: dict[str, Any]) -> str | None:
    """The ``{type}:{name}:{id}`` name an engine record belongs to (records carry all three parts)."""
    job_type, job_name, id = record.get("job_type"), record.get("job_name"), record.get("id")
    if isinstance(job_type, str) and isinstance(job_name, str) and isinstance(id, str):
        return instance_name(job_type, job_name, id)
    return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


async def _settle(promise: Awaitable[Any]) -> Exception | None:
    """Wait for ``promise``; its failure as a value (so that no rejection goes unobserved)."""
    try:
        await promise
    except Exception as exc:
        return exc
    return None


class DurableObjectStore:
    """Instance records in ``ctx.storage`` under :data:`RECORD_KEY`, the alarm in the object's alarm.

    ``ops`` counts storage operations (``reads``, ``writes``, ``alarm_writes``) since creation; on
    SQLite-backed objects each counted operation is one billed row read or written.
    """

    def __init__(self, storage: DurableObjectStorage) -> None:
        self._storage = storage
        self._cached: object = _UNKNOWN  # JSON text, None (no record), or _UNKNOWN (not read yet)
        self.ops: Counter[str] = Counter()

    # ---------------------------------------------------------------- InstanceStore

    async def load(self, instance_id: str) -> dict[str, Any] | None:
        text = await self._text()
        if text is None:
            return None
        record: dict[str, Any] = json.loads(text)
        owner = record_instance_name(record)
        if owner is not None and owner != instance_id:
            # Only reachable when an object is addressed by a name other than its own.
            raise InvalidStateError(instance_id=instance_id, expected=f"the record of {instance_id}", actual=owner)
        return record

    async def save(
        self, instance_id: str, record: dict[str, Any] | None, alarm: int | None, alarm_changed: bool
    ) -> None:
        text = None if record is None else json.dumps(record, separators=(",", ":"))
        operation = "delete" if text is None else "put"
        alarm_operation = "delete_alarm" if alarm is None else "set_alarm"
        if text is not None and len(text.encode()) > MAX_VALUE_BYTES:
            # Refused before anything is issued: a value over the limit fails after the alarm change it was
            # coalesced with has been kept.
            raise StorageError(
                operation=operation,
                cause=f"the record is {len(text.encode()):,} bytes, over the {MAX_VALUE_BYTES:,} a value holds",
            )
        if alarm is not None:
            alarm = max(int(alarm), 1)  # setAlarm refuses times <= 0; any past time fires at once
        storage = self._storage
        previous = self._cached
        self._cached = _UNKNOWN  # until the write is confirmed
        # No await between these calls: the runtime coalesces them into one atomic write. The alarm change goes
        # first, so that one refused at once (a bad time) leaves nothing issued.
        schedule = None
        if alarm_changed:
            try:
                schedule = storage.deleteAlarm() if alarm is None else storage.setAlarm(alarm)
            except Exception as exc:
                raise SchedulerError(operation=alarm_operation, cause=_describe(exc)) from exc
        try:
            write = storage.delete(RECORD_KEY) if text is None else storage.put(RECORD_KEY, text)
        except Exception as exc:
            if schedule is not None:
                await self._undo_alarm(schedule, previous)
            raise StorageError(operation=operation, cause=_describe(exc)) from exc
        schedule_error = None if schedule is None else await _settle(schedule)
        write_error = await _settle(write)
        if write_error is not None or schedule_error is not None:
            # Not one atomic write after all: one half may have been kept. Put it back.
            if write_error is not None and schedule is not None and schedule_error is None:
                await self._restore_alarm(previous)
            if schedule_error is not None and write_error is None:
                await self._restore_record(previous)
            if write_error is not None:
                raise StorageError(operation=operation, cause=_describe(write_error)) from write_error
            assert schedule_error is not None
            raise SchedulerError(operation=alarm_operation, cause=_describe(schedule_error)) from schedule_error
        self._cached = text
        self.ops["writes"] += 1
        if alarm_changed:
            self.ops["alarm_writes"] += 1

    async def _undo_alarm(self, schedule: Awaitable[Any], previous: object) -> None:
        if await _settle(schedule) is None:
            await self._restore_alarm(previous)

    async def _restore_alarm(self, previous: object) -> None:
        """Set the alarm back to what the committed record says (best effort: the call fails either way)."""
        try:
            text = await self._text() if previous is _UNKNOWN else previous
            due = None if text is None else json.loads(text).get("alarm")  # type: ignore[arg-type]
            await (self._storage.deleteAlarm() if due is None else self._storage.setAlarm(max(int(due), 1)))
        except Exception as exc:
            _log.error("could not put the alarm back after a failed write: %s", _describe(exc))

    async def _restore_record(self, previous: object) -> None:
        """Write the record back as it was before a write whose alarm change failed (best effort)."""
        if previous is _UNKNOWN:
            _log.error("a failed alarm change left a new record: the previous one was not known")
            return
        try:
            if previous is None:
                await self._storage.delete(RECORD_KEY)
            else:
                await self._storage.put(RECORD_KEY, previous)
        except Exception as exc:
            _log.error("could not put the record back after a failed alarm change: %s", _describe(exc))

    # ---------------------------------------------------------------- helpers

    async def instance_name(self) -> str | None:
        """The name of the instance stored here (``None`` when the object holds no record)."""
        text = await self._text()
        return None if text is None else record_instance_name(json.loads(text))

    async def _text(self) -> str | None:
        cached = self._cached
        if cached is not _UNKNOWN:
            return cached  # type: ignore[return-value]
        try:
            value = await self._storage.get(RECORD_KEY)
        except Exception as exc:
            raise StorageError(operation="get", cause=_describe(exc)) from exc
        self.ops["reads"] += 1
        # A missing key arrives as None (JS undefined); anything but text is not ours.
        text = value if isinstance(value, str) else None
        self._cached = text
        return text
