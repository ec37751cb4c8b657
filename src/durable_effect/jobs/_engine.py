"""The jobs engine: pure logic from (request, stored record) to (response, new record, alarm, events).

It never touches a backend. The runtime reads the instance record once, runs :meth:`Engine.handle` as an
effect (time from ``Clock``, randomness from ``Random``), and commits the outcome's record and alarm in one
atomic write. A handler failure discards the run's draft, so nothing of a failed run is committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Never

from ..effect import (
    Clock,
    Effect,
    Random,
    TaggedError,
)
from ..effect._internal.core import GenOp
from . import _continuous as continuous
from . import _debounce as debounce
from . import _task as task
from ._call import Body, Call, Handler, Outcome, Record, is_due
from ._definitions import JobDefinition
from ._errors import (
    InvalidStateError,
    JobNotFoundError,
)
from ._protocol import Request
from ._telemetry import EventFactory

_CLOCK = Effect.service(Clock)  # built once: effects are immutable descriptions
_RANDOM = Effect.service(Random)


class Engine:
    """Runs requests against job definitions; one engine serves every instance of a registry."""

    def __init__(self, definitions: Mapping[str, JobDefinition], events: EventFactory) -> None:
        self._definitions = dict(definitions)
        self._events = events

    def definition(self, job_type: str, name: str) -> JobDefinition | None:
        definition = self._definitions.get(name)
        return definition if definition is not None and definition.job_type == job_type else None

    def handle(self, request: Request, record: Record | None) -> Effect[Outcome, Never, Never]:
        """The effect computing ``request``'s outcome given the instance's stored ``record``."""
        return GenOp(self._handle, (request, record), None)

    def _handle(self, request: Request, record: Record | None) -> Body:
        clock = yield _CLOCK
        rnd = yield _RANDOM
        call = Call(self, request, record, clock, rnd)
        definition = self.definition(request.job_type, request.job_name)
        if definition is None:
            call.outcome.error = JobNotFoundError(job_type=request.job_type, name=request.job_name)
            if request.op == "alarm":
                # A removed job's alarm: consume it, keep the record (disarmed) in case the job comes back.
                call.outcome.write = True
                call.outcome.record = None if record is None else {**record, "alarm": None}
            return call.outcome
        try:
            if record is not None:
                call.check_record(record)
            handler = _HANDLERS[(definition.job_type, request.op)]
        except TaggedError as error:
            call.fail(error)
        except KeyError:
            call.fail(
                InvalidStateError(
                    instance_id=request.instance_id, expected=f"a {definition.job_type} operation", actual=request.op
                )
            )
        else:
            if request.op == "alarm" and record is not None and not is_due(record, call.now):
                # A call that ran while this alarm waited moved or cancelled it: run nothing, re-arm the record's.
                call.commit(record)
                return call.outcome
            try:
                yield from handler(call, definition)
            except TaggedError as error:
                call.fail(error)
            yield call.release()
        if request.op == "alarm" and call.outcome.error is not None and not call.outcome.write:
            # An alarm that cannot run (a record of another version, a stored state its schema rejects) is
            # consumed, not fired again forever; the record is kept for inspection.
            call.outcome.write = True
            call.outcome.record = None if record is None else {**record, "alarm": None}
            call.outcome.alarm = None
        return call.outcome


_HANDLERS: dict[tuple[str, str], Handler] = {
    (job_type, op): handler
    for job_type, handlers in (
        ("continuous", continuous.HANDLERS),
        ("debounce", debounce.HANDLERS),
        ("task", task.HANDLERS),
    )
    for op, handler in handlers.items()
}
