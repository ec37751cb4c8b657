"""Warm call latency and storage operations per call of the ``Jobs`` Durable Object under workerd, against a
hand-written JavaScript Durable Object doing the same storage operations, in the same workerd process.

Run:  .venv/bin/python benchmarks/cloudflare_latency.py [--calls 300] [--rounds 5] [--json]

The workerd config is the jobs Worker of the workerd tests (``tests/workerd/jobs_app.py``: the example
Worker, i.e. ``examples/cloudflare/src`` with ``examples/demo_jobs.py``) plus a JavaScript worker
(``tests/workerd/js_baseline/baseline.js``) holding ``BaselineJobs``, a Durable Object that serves the same
wire protocol for the example's order task, and a driver bound to both classes. Workload, on one warm
instance per target (the order task of the example, 15-minute timeout, so no alarm fires meanwhile):

* ``send``: order events, alternately ``placed`` (arms the alarm) and ``paid`` (cancels it) — validate,
  update the state, change the alarm: one record put and one alarm write per call (no read: the object keeps
  its committed record);
* ``status``: read-only, answered from the object's memory (no storage operation);
* ``floor``: the cost of a call by itself — over RPC the objects' trivial ``storage_ops()`` method (no engine,
  no storage), over HTTP each Worker's trivial route (``/health``, ``/``).

Measured two ways: ``rpc`` — the JavaScript driver makes ``calls`` sequential RPC calls to the object and
times them (the Durable Object alone: RPC, the engine or the hand-written code, storage); ``http`` — a
client here sends sequential HTTP requests through each Worker's own entry point (Python ``Default`` with the
example's HTTP API and ``JobsClient.from_binding`` for ``Jobs``; the JavaScript driver for the baseline).
Each figure is the median over ``rounds`` rounds; storage operations are the objects' own counters divided
by the calls they served. Durable Object storage goes to a tmpfs (``/dev/shm``) when there is one, so that
disk contention on a shared machine does not drown the runtimes' own costs (``--storage disk`` to change).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.workerd.jobs_app import JOBS, write_jobs_config  # noqa: E402
from tests.workerd.runtime import (  # noqa: E402
    DurableObjectNamespace,
    JsModule,
    JsWorker,
    RawBinding,
    Socket,
    WorkerdProcess,
    ensure_toolchain,
    free_port,
)

CACHE_DIR = REPO_ROOT / ".cache" / "workerd"
BASELINE_JS = REPO_ROOT / "tests" / "workerd" / "js_baseline" / "baseline.js"
OPS = ("send", "status", "floor")
PY_CLASS = JOBS.class_name
"""The Python Durable Object class the JavaScript driver binds (the example's ``Jobs``)."""


@dataclass
class Figures:
    target: str
    op: str
    rpc_ms: float
    http_ms: float
    http_p90_ms: float
    reads: float
    writes: float
    alarm_writes: float


def _baseline_worker() -> JsWorker:
    return JsWorker(
        "bench",
        [JsModule("baseline.js", BASELINE_JS)],
        durable_objects=[DurableObjectNamespace("BaselineJobs", "JS_JOBS", "durable-effect-js-baseline")],
        bindings=[
            RawBinding(f'(name = "PY_JOBS", durableObjectNamespace = (className = "{PY_CLASS}", serviceName = "main"))')
        ],
        compatibility_date="2026-11-01",
        compatibility_flags=["nodejs_compat"],
    )


def _json(response: httpx.Response) -> Any:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    return response.json()


def _http_path(target: str, op: str, id: str, i: int) -> tuple[str, str, dict[str, Any] | None]:
    """Request ``i``: the Python Worker's own API for ``py``, the JavaScript driver's route for ``js``."""
    if op == "floor":
        return "GET", "/health" if target == "py" else "/", None
    if target == "py":
        if op == "send":
            event = {"kind": "placed", "amount_cents": 1200} if i % 2 == 0 else {"kind": "paid"}
            return "POST", f"/task/order_processor/{id}/send", {"event": event}
        return "GET", f"/task/order_processor/{id}", None
    return "GET", f"/call?target=js&op={op}&id={id}&i={i}", None


def measure(calls: int, rounds: int, storage: str = "tmpfs") -> list[Figures]:
    toolchain = ensure_toolchain(CACHE_DIR)
    shm = Path("/dev/shm")
    base = str(shm) if storage == "tmpfs" and shm.is_dir() else None
    with tempfile.TemporaryDirectory(prefix="cf-bench-", dir=base) as tmp:
        bench_port = free_port()
        config = write_jobs_config(
            Path(tmp), services=[_baseline_worker()], sockets=[Socket("bench", "bench", bench_port)]
        )
        with WorkerdProcess(toolchain, config, ready_path="/health") as workerd:
            python_api = httpx.Client(base_url=workerd.base_url, timeout=60.0)
            driver = httpx.Client(base_url=f"http://127.0.0.1:{bench_port}", timeout=120.0)
            results: list[Figures] = []
            for target in ("py", "js"):
                id = f"bench-{target}"
                api = python_api if target == "py" else driver
                # Warm up: create the instance, load the object, run each path (and Pyodide's JIT-less
                # interpreter caches) before timing.
                for op in OPS:
                    _json(driver.get("/loop", params={"target": target, "op": op, "id": id, "n": 50}))
                    for i in range(20):
                        method, path, body = _http_path(target, op, id, i)
                        response = api.request(method, path, json=body)
                        if response.status_code != 200:
                            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
                for op in OPS:
                    before = _json(driver.get("/ops", params={"target": target, "id": id}))
                    rpc = [
                        _json(driver.get("/loop", params={"target": target, "op": op, "id": id, "n": calls}))[
                            "per_call_ms"
                        ]
                        for _ in range(rounds)
                    ]
                    after = _json(driver.get("/ops", params={"target": target, "id": id}))
                    served = max(1, after["calls"] - before["calls"])
                    samples: list[float] = []
                    for i in range(rounds * calls // 5):
                        method, path, body = _http_path(target, op, id, i)
                        started = time.perf_counter()
                        response = api.request(method, path, json=body)
                        samples.append((time.perf_counter() - started) * 1000)
                        if response.status_code != 200:
                            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
                    samples.sort()
                    results.append(
                        Figures(
                            target=target,
                            op=op,
                            rpc_ms=statistics.median(rpc),
                            http_ms=statistics.median(samples),
                            http_p90_ms=samples[int(len(samples) * 0.9)],
                            reads=(after["reads"] - before["reads"]) / served,
                            writes=(after["writes"] - before["writes"]) / served,
                            alarm_writes=(after["alarm_writes"] - before["alarm_writes"]) / served,
                        )
                    )
            python_api.close()
            driver.close()
            return results


def report(results: list[Figures], calls: int, rounds: int) -> str:
    by_key = {(f.target, f.op): f for f in results}
    lines = [
        f"workerd, warm, sequential; rpc: median over {rounds} rounds of {calls} calls; "
        f"http: median and p90 of {rounds * calls // 5} requests",
        "",
        "| op | target | rpc ms/call | http ms (median) | http ms (p90) | reads/call | writes/call | alarm writes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op in OPS:
        for target, label in (("py", "Python Jobs"), ("js", "JS baseline")):
            f = by_key[(target, op)]
            lines.append(
                f"| {op} | {label} | {f.rpc_ms:.2f} | {f.http_ms:.2f} | {f.http_p90_ms:.2f} | "
                f"{f.reads:.2f} | {f.writes:.2f} | {f.alarm_writes:.2f} |"
            )
    lines.append("")
    for op in OPS:
        py, js = by_key[("py", op)], by_key[("js", op)]
        lines.append(
            f"{op}: Python/JS = {py.rpc_ms / max(js.rpc_ms, 1e-9):.1f}x per RPC call, "
            f"{py.http_ms / max(js.http_ms, 1e-9):.1f}x per HTTP request"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=300, help="calls per round (default 300)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure (default 5)")
    parser.add_argument("--storage", choices=("tmpfs", "disk"), default="tmpfs", help="where objects store data")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    results = measure(args.calls, args.rounds, args.storage)
    if args.json:
        print(json.dumps([vars(f) for f in results], indent=2))
    else:
        print(report(results, args.calls, args.rounds))


if __name__ == "__main__":
    main()
