"""Helpers for the host tests: server subprocesses, the CLI, and polling with deadlines (never bare sleeps)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx

from durable_effect import Effect

from .app import jobs

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
APP = "tests.host.app:jobs"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli_command() -> list[str]:
    """The installed ``durable-effect`` console script next to this interpreter (or ``python -m``)."""
    script = Path(sys.executable).parent / "durable-effect"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "durable_effect.host._cli"]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("DURABLE_EFFECT_URL", None)
    env.pop("DURABLE_EFFECT_TOKEN", None)
    return env


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli_command(), *args],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class ServerProcess:
    """A ``durable-effect serve`` process on 127.0.0.1."""

    db: Path
    port: int
    token: str | None
    process: subprocess.Popen[bytes]
    log: Path
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def client(self) -> Any:
        return jobs.JobsClient.from_url(self.url, token=self.token)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def start_server(
    db: Path, *, token: str | None = None, extra: Sequence[str] = (), ready_timeout: float = 30
) -> ServerProcess:
    port = free_port()
    args = ["serve", APP, "--db", str(db), "--port", str(port), "--log-level", "warning", *extra]
    if token:
        args += ["--token", token]
    log = db.with_name(f"{db.name}.server-{port}.log")
    with log.open("wb") as out:
        process = subprocess.Popen([*cli_command(), *args], cwd=REPO, env=subprocess_env(), stdout=out, stderr=out)
    server = ServerProcess(db=db, port=port, token=token, process=process, log=log, args=args)
    deadline = time.monotonic() + ready_timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"server not ready after {ready_timeout} s:\n{server.output()}")
        time.sleep(0.05)  # polling a subprocess's readiness, bounded by the deadline


async def eventually(check: Callable[[], Awaitable[T | None]], *, timeout: float = 10, what: str = "condition") -> T:
    """Poll ``check`` until it returns something other than None/False, within ``timeout`` real seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await anyio.sleep(0.01)


async def run(effect: Any) -> Any:
    return await Effect.run_promise(effect)


async def run_exit(effect: Any) -> Any:
    return await Effect.run_promise_exit(effect)
