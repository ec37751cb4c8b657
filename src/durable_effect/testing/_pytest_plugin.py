"""The pytest plugin (entry point ``pytest11``): the ``jobs_harness`` fixture factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._harness import JobsHarness


@pytest.fixture
def jobs_harness() -> Callable[..., JobsHarness]:
    """A factory: ``h = jobs_harness(jobs, start_time=...)`` gives a :class:`JobsHarness` on virtual time."""
    from ._harness import JobsHarness

    def make(jobs: Any, start_time: int = 0, **options: Any) -> JobsHarness:
        return JobsHarness(jobs, start_time=start_time, **options)

    return make
