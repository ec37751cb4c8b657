"""Fixtures for the jobs tests: anyio on asyncio, virtual time through the ``jobs_harness`` fixture."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """The jobs engine is backend-agnostic through anyio; asyncio is enough here."""
    return "asyncio"
