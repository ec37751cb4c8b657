"""Pytest configuration for the workerd runtime tests: the ``workerd`` marker and shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from .runtime import Toolchain, ensure_toolchain

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "workerd"
"""Toolchain cache shared by test runs and benchmarks (gitignored)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "workerd: runs against the real Cloudflare workerd runtime (slow; needs npm + capnproto)",
    )


@pytest.fixture(scope="session")
def workerd_toolchain() -> Toolchain:
    """The pinned workerd + Pyodide toolchain, installed into ``<repo>/.cache/workerd`` once."""
    return ensure_toolchain(CACHE_DIR)
