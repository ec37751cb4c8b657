"""Fixtures for the jobs tests: anyio on asyncio, virtual time through the ``jobs_harness`` fixture."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # ``examples`` is importable however pytest is started (``pytest`` or ``python -m``)
    sys.path.append(_ROOT)


@pytest.fixture
def anyio_backend() -> str:
    """The jobs engine is backend-agnostic through anyio; asyncio is enough here."""
    return "asyncio"
