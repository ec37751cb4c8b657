"""``create_durable_jobs``: the registry of job definitions, its engine, client class and actor class."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from ._client import JobsClient
from ._definitions import JobDefinition
from ._engine import Engine
from ._telemetry import EventFactory, TrackerConfig


class DurableJobs:
    """The result of :func:`create_durable_jobs`: ``JobsClient`` to drive jobs, ``Jobs`` to host them on
    Cloudflare, and the engine every backend runs."""

    def __init__(self, definitions: Mapping[str, JobDefinition], tracker: TrackerConfig | None) -> None:
        self.definitions = dict(definitions)
        self.tracker = tracker
        self.engine = Engine(self.definitions, EventFactory(tracker))
        self._names = {id(definition): name for name, definition in self.definitions.items()}
        self.JobsClient: type[JobsClient] = type("JobsClient", (JobsClient,), {"_jobs": self})

    def name_of(self, definition: JobDefinition) -> str | None:
        """The name a definition is registered under."""
        return self._names.get(id(definition))

    @cached_property
    def Jobs(self) -> Any:
        """The Durable Object class a Cloudflare Worker exports (``class_name: "Jobs"`` in wrangler)."""
        from ..backends.cloudflare import make_jobs_class

        return make_jobs_class(self)


def create_durable_jobs(
    definitions: Mapping[str, JobDefinition], *, tracker: TrackerConfig | None = None
) -> DurableJobs:
    """Register job definitions by name; the names appear in instance names ``{type}:{name}:{id}``."""
    from ._definitions import ContinuousDefinition, DebounceDefinition, TaskDefinition

    for name, definition in definitions.items():
        if not isinstance(name, str) or not name or ":" in name:
            raise ValueError(f"job name {name!r} must be a non-empty string without ':'")
        if not isinstance(definition, ContinuousDefinition | DebounceDefinition | TaskDefinition):
            raise TypeError(
                f"job {name!r}: expected a definition from Continuous.make, Debounce.make or Task.make, "
                f"got {type(definition).__name__}"
            )
    return DurableJobs(definitions, tracker)
