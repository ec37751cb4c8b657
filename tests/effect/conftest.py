"""Fixtures for the effect-system tests: async tests run on both anyio backends."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every ``@pytest.mark.anyio`` test here runs once on asyncio and once on trio."""
    backend: str = request.param
    return backend
