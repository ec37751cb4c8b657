"""Test helpers: a virtual clock now; the jobs harness joins it with the jobs engine."""

from ..effect._internal.test_clock import TestClock

__all__ = ["TestClock"]
