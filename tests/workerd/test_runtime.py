"""End-to-end tests of the offline workerd harness with the demo Python Durable Object.

One workerd process serves the whole module (cold start costs seconds); the restart test stops and
starts that same process on the same storage directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .runtime import (
    BUNDLE_FILE_NAME,
    DurableObjectNamespace,
    PythonModule,
    Toolchain,
    ToolchainError,
    WorkerdProcess,
    collect_package,
    patch_pyodide_glue,
    write_config,
)

pytestmark = pytest.mark.workerd

DEMO_WORKER = Path(__file__).resolve().parent / "demo_worker" / "worker.py"

POLL_DEADLINE_S = 20.0
"""Upper bound for waiting on something the runtime does by itself (an alarm firing)."""


@pytest.fixture(scope="module")
def demo(workerd_toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerdProcess]:
    """workerd serving the demo worker, with DO storage and Python snapshots in a temp dir."""
    root = tmp_path_factory.mktemp("workerd-demo")
    config = write_config(
        root / "config.capnp",
        modules=[PythonModule("worker.py", DEMO_WORKER)],
        durable_objects=[DurableObjectNamespace("Counter", "COUNTER", "durable-effect-demo-counter")],
        storage_dir=root / "storage",
        port=0,  # WorkerdProcess binds the socket to a free port it picks
    )
    process = WorkerdProcess(workerd_toolchain, config, ready_path="/health", snapshot_dir=root / "snapshots")
    with process:
        yield process


@pytest.fixture
def client(demo: WorkerdProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.base_url, timeout=30.0) as http:
        yield http


def _state(client: httpx.Client, name: str) -> dict[str, Any]:
    response = client.get(f"/counter/{name}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _increment(client: httpx.Client, name: str) -> int:
    response = client.post(f"/counter/{name}/increment")
    assert response.status_code == 200, response.text
    value: int = response.json()["value"]
    return value


def _schedule_alarm(client: httpx.Client, name: str, delay_ms: int) -> float:
    response = client.post(f"/counter/{name}/alarm", params={"ms": delay_ms})
    assert response.status_code == 200, response.text
    scheduled: float = response.json()["scheduled"]
    return scheduled


def _poll(condition: Callable[[], bool], deadline_s: float = POLL_DEADLINE_S) -> bool:
    """Bounded polling: True as soon as ``condition()`` holds, False once the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_toolchain_is_cached(workerd_toolchain: Toolchain) -> None:
    assert workerd_toolchain.workerd.is_file()
    assert workerd_toolchain.bundle_path.name == BUNDLE_FILE_NAME
    built = workerd_toolchain.bundle_path.stat().st_mtime_ns
    from .runtime import ensure_toolchain

    again = ensure_toolchain(workerd_toolchain.cache_dir)
    assert again == workerd_toolchain
    assert again.bundle_path.stat().st_mtime_ns == built  # not rebuilt


def test_glue_patch_refuses_unexpected_source(workerd_toolchain: Toolchain) -> None:
    glue = (workerd_toolchain.pyodide_dir / "pyodide.asm.mjs").read_text(encoding="utf-8")
    patched = patch_pyodide_glue(glue)
    assert patched.startswith("import{")
    assert "export{_createPyodideModule}" in patched
    with pytest.raises(ToolchainError, match="Date"):
        patch_pyodide_glue(glue.replace("Date.now", "performance.now"))


def test_collect_package_skips_caches_tests_and_stubs(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "pkg"
    for relative in [
        "__init__.py",
        "core.py",
        "core.pyi",
        "py.typed",
        "sub/__init__.py",
        "sub/__pycache__/x.cpython-311.pyc",
        "tests/test_core.py",
    ]:
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    names = [m.name for m in collect_package(package)]
    assert names == ["pkg/__init__.py", "pkg/core.py", "pkg/sub/__init__.py"]


def test_storage_increments(client: httpx.Client) -> None:
    assert [_increment(client, "inc") for _ in range(3)] == [1, 2, 3]
    assert _increment(client, "inc-other") == 1  # another object, another storage
    assert _state(client, "inc")["value"] == 3


def test_alarm_fires(client: httpx.Client) -> None:
    scheduled = _schedule_alarm(client, "alarm", 1500)
    state = _state(client, "alarm")
    assert state["alarm"] == scheduled
    assert state["alarm_fired"] == 0
    assert _poll(lambda: _state(client, "alarm")["alarm_fired"] == 1), _state(client, "alarm")
    assert _state(client, "alarm")["alarm"] is None  # a fired alarm is cleared


def test_state_survives_restart(demo: WorkerdProcess) -> None:
    with httpx.Client(base_url=demo.base_url, timeout=30.0) as http:
        value = _increment(http, "persist")
        value = _increment(http, "persist")
        due_at_ms = _schedule_alarm(http, "late", 1000)
    first_start = demo.snapshot_action

    demo.stop()
    assert not demo.running
    # The alarm falls due while workerd is down; it must fire after the restart.
    assert _poll(lambda: time.time() * 1000 > due_at_ms + 100, deadline_s=10.0)
    demo.start()
    # The first start saved a Python snapshot; the restart loads it (about 1 s instead of 4 s).
    assert (first_start, demo.snapshot_action) == ("saved", "loaded")

    with httpx.Client(base_url=demo.base_url, timeout=30.0) as http:
        assert _state(http, "persist")["value"] == value == 2
        assert _state(http, "inc")["value"] == 3  # written by an earlier test, before the restart
        assert _poll(lambda: _state(http, "late")["alarm_fired"] == 1), _state(http, "late")
