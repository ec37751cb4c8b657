"""Fixtures for the host tests: real SQLite files in a temporary directory, servers in subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ._support import ServerProcess, start_server


@pytest.fixture
def anyio_backend() -> str:
    """The host runs on asyncio (uvicorn's loop); tests that also cover trio ask for it themselves."""
    return "asyncio"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "jobs.sqlite"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server process (uvicorn on 127.0.0.1, a free port) per test module, with a token."""
    process = start_server(tmp_path_factory.mktemp("server") / "jobs.sqlite", token="s3cret")
    try:
        yield process
    finally:
        process.stop()
