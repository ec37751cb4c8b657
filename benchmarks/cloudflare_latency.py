"""Warm call latency and storage operations per call of the ``Jobs`` Durable Object under workerd, against a
hand-written JavaScript Durable Object doing the same storage operations, in the same workerd process.

Run:  .venv/bin/python benchmarks/cloudflare_latency.py [--calls 300] [--rounds 7] [--storage tmpfs|disk] [--json]

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
Rounds alternate the two targets so that both see the same background load; each figure is given for the
fastest round (the least disturbed) and the median one. Storage operations are the objects' own counters
divided by the calls they served. Durable Object storage goes to a tmpfs (``/dev/shm``) when there is one,
so that disk contention on a shared machine does not drown the runtimes' own costs (``--storage disk``).
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
    rpc_best_ms: float
    """The fastest round's mean time per RPC call (least disturbed by other load)."""
    rpc_median_ms: float
    """The median round's mean time per RPC call."""
    http_best_ms: float
    """The fastest round's median HTTP request time."""
    http_median_ms: float
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
    targets = ("py", "js")
    requests_per_round = max(1, calls // 5)
    with tempfile.TemporaryDirectory(prefix="cf-bench-", dir=base) as tmp:
        bench_port = free_port()
        config = write_jobs_config(
            Path(tmp), services=[_baseline_worker()], sockets=[Socket("bench", "bench", bench_port)]
        )
        with (
            WorkerdProcess(toolchain, config, ready_path="/health") as workerd,
            httpx.Client(base_url=workerd.base_url, timeout=60.0) as python_api,
            httpx.Client(base_url=f"http://127.0.0.1:{bench_port}", timeout=120.0) as driver,
        ):
            api = {"py": python_api, "js": driver}

            def http_round(target: str, op: str, count: int) -> list[float]:
                samples = []
                for i in range(count):
                    method, path, body = _http_path(target, op, f"bench-{target}", i)
                    started = time.perf_counter()
                    response = api[target].request(method, path, json=body)
                    samples.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
                return samples

            def rpc_round(target: str, op: str, count: int) -> float:
                params: dict[str, str | int] = {"target": target, "op": op, "id": f"bench-{target}", "n": count}
                per_call: float = _json(driver.get("/loop", params=params))["per_call_ms"]
                return per_call

            def ops_of(target: str) -> dict[str, int]:
                counters: dict[str, int] = _json(driver.get("/ops", params={"target": target, "id": f"bench-{target}"}))
                return counters

            # Warm up: create each instance, load its object, and run every path before timing.
            for target in targets:
                for op in OPS:
                    rpc_round(target, op, 50)
                    http_round(target, op, 20)
            results: list[Figures] = []
            for op in OPS:
                before = {target: ops_of(target) for target in targets}
                rpc: dict[str, list[float]] = {target: [] for target in targets}
                for _ in range(rounds):  # alternate the targets, so that both see the same load
                    for target in targets:
                        rpc[target].append(rpc_round(target, op, calls))
                after = {target: ops_of(target) for target in targets}
                http: dict[str, list[list[float]]] = {target: [] for target in targets}
                for _ in range(rounds):
                    for target in targets:
                        http[target].append(http_round(target, op, requests_per_round))
                for target in targets:
                    served = max(1, after[target]["calls"] - before[target]["calls"])
                    samples = sorted(sample for round_ in http[target] for sample in round_)
                    results.append(
                        Figures(
                            target=target,
                            op=op,
                            rpc_best_ms=min(rpc[target]),
                            rpc_median_ms=statistics.median(rpc[target]),
                            http_best_ms=min(statistics.median(round_) for round_ in http[target]),
                            http_median_ms=statistics.median(samples),
                            http_p90_ms=samples[int(len(samples) * 0.9)],
                            reads=(after[target]["reads"] - before[target]["reads"]) / served,
                            writes=(after[target]["writes"] - before[target]["writes"]) / served,
                            alarm_writes=(after[target]["alarm_writes"] - before[target]["alarm_writes"]) / served,
                        )
                    )
            return results


def report(results: list[Figures], calls: int, rounds: int) -> str:
    by_key = {(f.target, f.op): f for f in results}
    lines = [
        f"workerd, warm objects, sequential calls, {rounds} rounds alternating the targets; "
        f"rpc: {calls} calls per round, http: {max(1, calls // 5)} requests per round. "
        "best = the fastest round, median = the median round (rpc) or request (http).",
        "",
        "| op | target | rpc best | rpc median | http best | http median | http p90 | reads | writes | alarm writes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op in OPS:
        for target, label in (("py", "Python `Jobs`"), ("js", "JS baseline")):
            f = by_key[(target, op)]
            lines.append(
                f"| {op} | {label} | {f.rpc_best_ms:.2f} | {f.rpc_median_ms:.2f} | {f.http_best_ms:.2f} | "
                f"{f.http_median_ms:.2f} | {f.http_p90_ms:.2f} | "
                f"{f.reads:.2f} | {f.writes:.2f} | {f.alarm_writes:.2f} |"
            )
    lines += ["", "times in ms; reads, writes and alarm writes are storage operations per call", ""]
    for op in OPS:
        py, js = by_key[("py", op)], by_key[("js", op)]
        lines.append(
            f"{op}: Python/JS per RPC call {py.rpc_best_ms / js.rpc_best_ms:.1f}x best, "
            f"{py.rpc_median_ms / js.rpc_median_ms:.1f}x median; per HTTP request "
            f"{py.http_best_ms / js.http_best_ms:.1f}x best, {py.http_median_ms / js.http_median_ms:.1f}x median"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=300, help="calls per round (default 300)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per figure (default 7)")
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
