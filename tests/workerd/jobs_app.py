"""Build the workerd config of the jobs Worker: the example Worker plus short-timed jobs (tests, benchmarks).

The Worker's modules are ``jobs_worker/worker.py`` (main), ``jobs_worker/fast_jobs.py``, the example's
``entry.py`` and ``jobs_api.py``, ``examples/demo_jobs.py``, this package and its pure-Python dependencies
from the current environment (Pyodide runs Python 3.14; these are all pure Python).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path

from .runtime import (
    Binding,
    DurableObjectNamespace,
    ExternalService,
    Module,
    PythonModule,
    Service,
    Socket,
    collect_installed,
    collect_package,
    write_config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_SRC = REPO_ROOT / "examples" / "cloudflare" / "src"
DEMO_JOBS = REPO_ROOT / "examples" / "demo_jobs.py"
WORKER_DIR = Path(__file__).resolve().parent / "jobs_worker"
PACKAGE_DIR = REPO_ROOT / "src" / "durable_effect"

DEPENDENCIES: tuple[str, ...] = ("returns", "anyio", "sniffio", "idna", "typing_extensions")
"""Pure-Python runtime dependencies embedded next to the package (``pydantic`` is not: plain schemas)."""

JOBS = DurableObjectNamespace("Jobs", "JOBS", "durable-effect-example-jobs")
FAST_JOBS = DurableObjectNamespace("FastJobs", "FAST_JOBS", "durable-effect-fast-jobs")

COLLECTOR_SERVICE = "collector"


def stage_modules(modules: Sequence[Module], directory: Path) -> list[Module]:
    """Copy the modules' files under ``directory`` (by module name) and point the modules at the copies.

    workerd reads embedded files when it starts, and a restart's Python snapshot is keyed by their
    contents: a staged copy keeps a restart on exactly the code of the first start.
    """
    staged: list[Module] = []
    for module in modules:
        target = directory / module.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(module.path, target)
        staged.append(dataclasses.replace(module, path=target))
    return staged


def jobs_worker_modules() -> list[Module]:
    modules: list[Module] = [
        PythonModule("worker.py", WORKER_DIR / "worker.py"),
        PythonModule("fast_jobs.py", WORKER_DIR / "fast_jobs.py"),
        PythonModule("entry.py", EXAMPLE_SRC / "entry.py"),
        PythonModule("jobs_api.py", EXAMPLE_SRC / "jobs_api.py"),
        PythonModule("demo_jobs.py", DEMO_JOBS),
    ]
    modules += collect_package(PACKAGE_DIR)
    for name in DEPENDENCIES:
        modules += collect_installed(name)
    return modules


def write_jobs_config(
    root: Path,
    *,
    collector_address: str | None = None,
    services: Sequence[Service] = (),
    bindings: Sequence[Binding] = (),
    sockets: Sequence[Socket] = (),
) -> Path:
    """Write ``root/config.capnp`` for the jobs Worker (modules staged in ``root/modules``, storage in
    ``root/storage``).

    With ``collector_address`` (``host:port``), every ``fetch`` of the Worker (telemetry) goes to that HTTP
    server.
    """
    extra: list[Service] = list(services)
    outbound = None
    if collector_address is not None:
        extra.append(ExternalService(COLLECTOR_SERVICE, collector_address))
        outbound = COLLECTOR_SERVICE
    return write_config(
        root / "config.capnp",
        modules=stage_modules(jobs_worker_modules(), root / "modules"),
        durable_objects=[JOBS, FAST_JOBS],
        storage_dir=root / "storage",
        port=0,
        bindings=bindings,
        services=extra,
        global_outbound=outbound,
        sockets=sockets,
    )
