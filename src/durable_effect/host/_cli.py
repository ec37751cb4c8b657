"""The ``durable-effect`` command: serve a registry over HTTP, and drive a running host.

::

    durable-effect serve examples.demo_jobs:jobs --db jobs.sqlite [--host 127.0.0.1] [--port 8000] [--token T]
    durable-effect list [--job NAME] [--type TYPE] [--db jobs.sqlite]
    durable-effect add webhook_batcher endpoint-1 '{"type": "push"}'
    durable-effect send order_processor order-7 '{"kind": "placed", "amount_cents": 1200}'
    durable-effect start token_refresher user-1 '{"access_token": "", "refresh_token": "r"}'
    durable-effect status|state|trigger|terminate|flush|clear debounce:webhook_batcher:endpoint-1

Client commands talk to ``--url`` (default ``$DURABLE_EFFECT_URL`` or ``http://127.0.0.1:8000``) with
``--token`` (default ``$DURABLE_EFFECT_TOKEN``); ``list --db FILE`` reads a database file directly instead.
Output is a table, or with ``--json`` the call's value (its typed error object when it failed with a job
error). Exit status: 0 success, 1 the call failed with a job error, 2 bad usage, 3 the host could not be
reached or refused the request (``serve``: could not start).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._json import loads_strict

if TYPE_CHECKING:
    from ._http_client import HttpTransport

DEFAULT_URL = "http://127.0.0.1:8000"

_EXIT_JOB_ERROR = 1
_EXIT_USAGE = 2
_EXIT_UNREACHABLE = 3

# command -> (job type or None for "from the instance name", operation)
_INSTANCE_COMMANDS = {
    "status": "status",
    "state": "get_state",
    "trigger": "trigger",
    "terminate": "terminate",
    "flush": "flush",
    "clear": "clear",
}
_EVENT_COMMANDS = {"add": ("debounce", "event"), "send": ("task", "event"), "start": ("continuous", "input")}


class _Failure(Exception):
    def __init__(self, code: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.body = body


# ==================================================================== arguments


def _int_from(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``low..high`` (a bad value is a usage error, exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    return parse


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="durable-effect",
        description="Serve durable jobs from a SQLite file over HTTP, and drive a running host.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve a job registry over HTTP")
    serve.add_argument("app", metavar="MODULE:ATTR", help="the object returned by create_durable_jobs")
    serve.add_argument("--db", default="jobs.sqlite", help="the SQLite file (default: jobs.sqlite)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=_int_from(1, 65535), default=8000, help="port (default: 8000)")
    serve.add_argument(
        "--token",
        default=os.environ.get("DURABLE_EFFECT_TOKEN"),
        help="bearer token clients must send (required unless bound to loopback)",
    )
    serve.add_argument("--concurrency", type=_int_from(1), default=32, help="alarms run at once (default: 32)")
    serve.add_argument(
        "--synchronous",
        choices=["FULL", "NORMAL"],
        default="FULL",
        help="SQLite durability: FULL survives power loss, NORMAL a process crash (default: FULL)",
    )
    serve.add_argument(
        "--accelerate",
        type=_positive_number,
        default=None,
        metavar="FACTOR",
        help="run the host clock FACTOR times faster than real time (demos, tests)",
    )
    serve.add_argument(
        "--max-body", type=_int_from(1), default=1 << 20, help="request size limit in bytes (default: 1 MiB)"
    )
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])

    def client_options(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--url",
            default=os.environ.get("DURABLE_EFFECT_URL", DEFAULT_URL),
            help=f"the host's URL (default: $DURABLE_EFFECT_URL or {DEFAULT_URL})",
        )
        command.add_argument(
            "--token",
            default=os.environ.get("DURABLE_EFFECT_TOKEN"),
            help="bearer token (default: $DURABLE_EFFECT_TOKEN)",
        )
        command.add_argument("--json", action="store_true", help="print the value (or the error) as JSON")

    listing = commands.add_parser("list", help="instances by job, with status and next alarm")
    client_options(listing)
    listing.add_argument("--db", default=None, help="read this database file directly instead of a host")
    listing.add_argument("--job", default=None, help="only this job")
    listing.add_argument("--type", dest="job_type", choices=["continuous", "debounce", "task"], default=None)
    listing.add_argument(
        "--limit", type=_int_from(1, 1000), default=100, help="at most this many (default: 100, max 1000)"
    )
    listing.add_argument("--after", default=None, help="continue after this instance name")

    for name, what in _EVENT_COMMANDS.items():
        job_type, field = what
        command = commands.add_parser(name, help=f"{name} on a {job_type} job ({field} as JSON)")
        client_options(command)
        command.add_argument("job", help=f"the {job_type} job's name")
        command.add_argument("id", help="the instance id")
        command.add_argument(field, metavar=field.upper(), help=f"the {field}, as JSON")
        command.add_argument("--event-id", default=None, help="idempotency key")

    helps = {
        "status": "an instance's status",
        "state": "an instance's state",
        "trigger": "run a continuous or task instance now",
        "terminate": "cancel and delete a continuous or task instance",
        "flush": "flush a debounce instance's batch now",
        "clear": "drop a debounce instance's batch",
    }
    for name in _INSTANCE_COMMANDS:
        command = commands.add_parser(name, help=helps[name])
        client_options(command)
        command.add_argument("instance", metavar="INSTANCE", help="type:name:id, as `list` prints it")
        if name == "terminate":
            command.add_argument("--reason", default=None)
    return parser


# ==================================================================== commands


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "list":
            return _list(args)
        return _call_command(args)
    except _Failure as failure:
        if getattr(args, "json", False) and failure.body is not None:
            print(json.dumps(failure.body.get("error"), indent=2))  # as on success: the answer, not the envelope
        else:
            print(f"durable-effect: {failure}", file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:
        return 130


def _require_host_extra(*modules: str) -> None:
    """The HTTP parts need the ``host`` extra; say so instead of failing on an import."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise _Failure(_EXIT_USAGE, f"{' and '.join(missing)} not installed: pip install 'durable-effect[host]'")


def _serve(args: argparse.Namespace) -> int:
    _require_host_extra("starlette", "uvicorn")
    from ..jobs._registry import DurableJobs
    from ._clock import AcceleratedClock
    from ._server import check_bind, serve

    try:
        check_bind(args.host, args.token)
    except ValueError as exc:
        raise _Failure(_EXIT_USAGE, str(exc)) from None
    jobs = _load_app(args.app)
    if not isinstance(jobs, DurableJobs):
        raise _Failure(_EXIT_USAGE, f"{args.app} is a {type(jobs).__name__}, not the result of create_durable_jobs")
    clock = AcceleratedClock(args.accelerate) if args.accelerate is not None else None
    scheme_host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"durable-effect: starting {len(jobs.definitions)} jobs ({', '.join(sorted(jobs.definitions))}) "
        f"from {args.db} on http://{scheme_host}:{args.port}"
        + (f" (clock accelerated x{args.accelerate:g})" if clock else ""),
        file=sys.stderr,
        flush=True,
    )
    serve(
        jobs,
        args.db,
        host=args.host,
        port=args.port,
        token=args.token,
        max_body_bytes=args.max_body,
        log_level=args.log_level,
        clock=clock,
        concurrency=args.concurrency,
        synchronous=args.synchronous,
    )
    return 0


def _load_app(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise _Failure(_EXIT_USAGE, f"expected MODULE:ATTR (e.g. myapp.jobs:jobs), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _Failure(_EXIT_USAGE, f"cannot import {module_name}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise _Failure(_EXIT_USAGE, f"{module_name} has no attribute {attr!r}") from None
    return target


def _list(args: argparse.Namespace) -> int:
    if args.db is not None:
        from ..backends.sqlite import read_instances
        from ._instances import summarize

        job_type = args.job_type
        if args.job is not None and job_type is None:
            raise _Failure(_EXIT_USAGE, "with --db, give --type along with --job")
        try:
            rows = read_instances(args.db, job_type=job_type, job_name=args.job, limit=args.limit + 1, after=args.after)
        except Exception as exc:
            raise _Failure(_EXIT_UNREACHABLE, f"cannot read {args.db}: {exc}") from None
        instances = [summarize(row).to_wire() for row in rows[: args.limit]]  # one more read: is there a next page
        body = {
            "instances": instances,
            "next_after": instances[-1]["instance_id"] if len(rows) > args.limit else None,
            "now": time.time_ns() // 1_000_000,
        }
    else:
        params = {"limit": str(args.limit)}
        for key, value in (("job", args.job), ("job_type", args.job_type), ("after", args.after)):
            if value is not None:
                params[key] = value
        body = _http(args, lambda transport: transport.get("/v1/instances", params))
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    _print_instances(body)
    return 0


def _call_command(args: argparse.Namespace) -> int:
    from ..jobs._protocol import Request

    if args.command in _EVENT_COMMANDS:
        job_type, field = _EVENT_COMMANDS[args.command]
        text = getattr(args, field)
        try:
            payload = loads_strict(text)
        except ValueError as exc:
            raise _Failure(_EXIT_USAGE, f"the {field} is not valid JSON: {exc}") from None
        op = {"add": "add", "send": "send", "start": "start"}[args.command]
        request = Request(
            op=op, job_type=job_type, job_name=args.job, id=args.id, payload=payload, event_id=args.event_id
        )
    else:
        parts = args.instance.split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise _Failure(_EXIT_USAGE, f"expected an instance name type:name:id, got {args.instance!r}")
        job_type, job_name, id = parts
        request = Request(
            op=_INSTANCE_COMMANDS[args.command],
            job_type=job_type,
            job_name=job_name,
            id=id,
            reason=getattr(args, "reason", None),
        )
    try:
        Request.from_wire(request.to_wire())
    except ValueError as exc:
        raise _Failure(_EXIT_USAGE, str(exc)) from None
    response = _http(args, lambda transport: transport.call(request))
    if args.json:
        print(json.dumps(response["value"], indent=2))
    else:
        _print_value(response["value"])
    return 0


# ==================================================================== HTTP


def _http(args: argparse.Namespace, send: Callable[[HttpTransport], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """One request through the client's own transport: a job error (exit 1) comes back as its body; what
    is not a job's answer (unreachable, refused, not this API) is exit 3."""
    import anyio

    _require_host_extra("httpx")
    from ..jobs._client import TransportFailure
    from ._http_client import HttpTransport

    try:
        transport = HttpTransport(args.url, args.token)
    except ValueError as exc:
        raise _Failure(_EXIT_USAGE, str(exc)) from None

    async def run() -> dict[str, Any]:
        try:
            return await send(transport)
        finally:
            await transport.aclose()

    try:
        body = anyio.run(run)
    except TransportFailure as exc:
        raise _Failure(_EXIT_UNREACHABLE, f"the request did not get through: {exc}") from None
    if body.get("ok") is False:
        error = body.get("error", {})
        raise _Failure(_EXIT_JOB_ERROR, f"{error.get('_tag')}: {error.get('message')}", body)
    return body


# ==================================================================== output


def _when(ms: int | None, now: int | None) -> str:
    """An epoch-ms time as UTC, and relative to ``now`` (the host's clock) when it is known."""
    if ms is None:
        return "-"
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return stamp if now is None else f"{stamp} ({_relative((ms - now) / 1000)})"


def _relative(seconds: float) -> str:
    sign = "in " if seconds >= 0 else ""
    suffix = "" if seconds >= 0 else " ago"
    s = round(abs(seconds))
    if s < 60:
        text = f"{s}s"
    elif s < 3600:
        text = f"{s // 60}m{s % 60:02d}s"
    elif s < 86400:
        text = f"{s // 3600}h{s % 3600 // 60:02d}m"
    else:
        text = f"{s / 86400:.1f}d"
    return f"{sign}{text}{suffix}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(headers[i]), *(len(row[i]) for row in rows)) if rows else len(headers[i]) for i in range(len(headers))
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)
    return "\n".join(lines)


def _print_instances(body: dict[str, Any]) -> None:
    instances = body.get("instances", [])
    now = int(body.get("now") or time.time_ns() // 1_000_000)
    if not instances:
        print("no instances")
        return
    rows = [
        [
            item["instance_id"],
            item["status"],
            _when(item.get("next_alarm"), now),
            " ".join(f"{key}={value}" for key, value in sorted(item.get("counts", {}).items())),
        ]
        for item in instances
    ]
    print(_table(["INSTANCE", "STATUS", "NEXT ALARM", "COUNTS"], rows))
    if body.get("next_after"):
        print(f"(more: --after {body['next_after']})")


def _print_value(value: Any) -> None:
    if isinstance(value, dict):
        rows = [[str(key), _show(key, item)] for key, item in value.items()]
        print(_table(["FIELD", "VALUE"], rows))
    else:
        print(json.dumps(value, indent=2))


def _show(key: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith(("_at", "_time")) and value > 10**11:
        return _when(value, None)  # a call's answer does not carry the host's clock (which may be accelerated)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "-" if value is None else str(value)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
