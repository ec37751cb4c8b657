"""Test helpers: ``TestClock`` for effects, ``JobsHarness`` (and the ``jobs_harness`` fixture) for jobs."""

from ..effect._internal.test_clock import TestClock
from ._harness import JobsHarness

__all__ = ["JobsHarness", "TestClock"]
