"""The HTTP API of a host (Starlette; served by uvicorn): ``POST /v1/call``, ``GET /v1/instances``,
``GET /healthz``, ``GET /openapi.json``.

Every error is a typed JSON body ``{"ok": false, "error": {"_tag": ..., "message": ..., fields...}}`` with a
4xx/5xx status: 400 malformed JSON or request (a ``ValidationError`` of ``schema="request"``), 401 missing or
wrong bearer token, 404 ``JobNotFoundError``/``InstanceNotFoundError``, 409 ``DuplicateEventError``/
``InvalidStateError``, 413 body over the limit, 415 not JSON, 422 ``ValidationError`` (input, event or state),
500 ``ExecutionError`` (``HttpError`` for a failure of the server itself, logged there), 503
``StorageError``/``SchedulerError``. A rejected request changes nothing.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..effect import TaggedError
from ..jobs._errors import JobNotFoundError, StorageError, ValidationError, error_to_wire
from ..jobs._protocol import JOB_TYPES, Request
from ._host import Host, HostError
from ._json import loads_strict
from ._openapi import openapi_document

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request as HttpRequest
    from starlette.responses import Response

    from ..jobs._registry import DurableJobs

_log = logging.getLogger("durable_effect.host")

MAX_BODY_BYTES = 1 << 20
"""Default request size limit (1 MiB)."""

ERROR_STATUS: dict[str, int] = {
    "ValidationError": 422,
    "JobNotFoundError": 404,
    "InstanceNotFoundError": 404,
    "DuplicateEventError": 409,
    "InvalidStateError": 409,
    "ExecutionError": 500,
    "StorageError": 503,
    "SchedulerError": 503,
}
"""The HTTP status of each job error."""


class _Reject(Exception):
    """Internal: answer with this status and typed error body."""

    def __init__(self, status: int, error: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error
        self.headers = headers


def is_loopback(bind: str) -> bool:
    """Whether ``bind`` only accepts connections from this machine."""
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def check_bind(bind: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a bearer token."""
    if not is_loopback(bind) and not token:
        raise ValueError(
            f"refusing to serve on {bind} without a bearer token: anyone who can reach it could run your jobs; "
            "pass --token (or DURABLE_EFFECT_TOKEN), or bind to 127.0.0.1"
        )


def create_app(
    host: Host, *, token: str | None = None, max_body_bytes: int = MAX_BODY_BYTES, manage_host: bool = True
) -> Starlette:
    """The Starlette application serving ``host``; it starts and stops the host with the app's lifespan
    unless ``manage_host=False`` (then the caller runs the host)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    expected = token.encode() if token else None  # the scheme's name is compared apart: it is case-insensitive

    def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse(body, status_code=status, headers=headers)

    def rejection(reject: _Reject) -> Response:
        return reply(reject.status, {"ok": False, "error": reject.error}, reject.headers)

    def authorize(request: HttpRequest) -> None:
        if expected is None:
            return
        given = request.headers.get("authorization")
        if given is None:
            raise _Reject(401, _tag("Unauthorized", "missing bearer token"), {"www-authenticate": "Bearer"})
        scheme, _, credentials = given.strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip().encode(), expected):
            raise _Reject(401, _tag("Unauthorized", "wrong bearer token"), {"www-authenticate": "Bearer"})

    async def read_json(request: HttpRequest) -> Any:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise _Reject(415, _tag("UnsupportedMediaType", "send the request as application/json"))
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise _Reject(413, _too_large(max_body_bytes))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise _Reject(413, _too_large(max_body_bytes))
            chunks.append(chunk)
        try:
            return loads_strict(b"".join(chunks))
        except ValueError as exc:
            raise _Reject(400, _invalid_request(f"the body is not valid JSON: {exc}")) from None

    def guarded(handler: Callable[[HttpRequest], Awaitable[Response]]) -> Callable[[HttpRequest], Awaitable[Response]]:
        async def endpoint(request: HttpRequest) -> Response:
            try:
                authorize(request)
                return await handler(request)
            except _Reject as reject:
                return rejection(reject)
            except HostError as exc:
                return reply(503, {"ok": False, "error": error_to_wire(StorageError(operation="call", cause=str(exc)))})
            except TaggedError as error:
                return reply(ERROR_STATUS.get(error._tag, 500), {"ok": False, "error": error_to_wire(error)})
            except ClientDisconnect:  # gone before its body arrived: nothing was done, nobody to answer
                return reply(400, {"ok": False, "error": _tag("ClientDisconnect", "the client went away")})
            except Exception:
                _log.exception("%s %s failed", request.method, request.url.path)
                return reply(500, {"ok": False, "error": _tag("HttpError", "internal error (see the server's log)")})

        return endpoint

    async def call(request: HttpRequest) -> Response:
        data = await read_json(request)
        try:
            job_request = Request.from_wire(data)
        except ValueError as exc:
            raise _Reject(400, _invalid_request(str(exc))) from None
        response = await host.call(job_request)
        if response.get("ok") is True:
            return reply(200, response)
        return reply(ERROR_STATUS.get(response["error"].get("_tag"), 500), response)

    async def instances(request: HttpRequest) -> Response:
        params = request.query_params
        job_type = params.get("job_type") or None
        job = params.get("job") or None
        if job_type is not None and job_type not in JOB_TYPES:
            raise _Reject(400, _invalid_request(f"job_type must be one of {', '.join(JOB_TYPES)}"))
        if job is not None:
            definition = host.jobs.definitions.get(job)
            if definition is None and job_type is None:
                raise _Reject(404, error_to_wire(JobNotFoundError(job_type="", name=job)))
            if definition is not None:
                if job_type is not None and job_type != definition.job_type:
                    raise _Reject(404, error_to_wire(JobNotFoundError(job_type=job_type, name=job)))
                job_type = definition.job_type
        try:
            limit = int(params.get("limit", "100"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            raise _Reject(400, _invalid_request("limit must be an integer from 1 to 1000"))
        after = params.get("after") or None
        rows = await host.list_instances(job_type=job_type, job_name=job, limit=limit + 1, after=after)
        page = rows[:limit]  # one more was read to tell whether there is a next page
        return reply(
            200,
            {
                "instances": [row.to_wire() for row in page],
                "next_after": page[-1].instance_id if len(rows) > limit else None,
                "now": host.clock.current_time_millis(),
            },
        )

    async def healthz(request: HttpRequest) -> Response:
        if not host.running:
            return reply(503, {"status": "stopped"})
        return reply(
            200,
            {
                "status": "ok",
                "jobs": sorted(host.jobs.definitions),
                "alarm_runs": host.scheduler.fired,
                "alarms_in_flight": host.scheduler.in_flight,
                "now": host.clock.current_time_millis(),
            },
        )

    async def openapi(request: HttpRequest) -> Response:
        return reply(200, openapi_document(host.jobs, max_body_bytes, auth=expected is not None))

    async def not_found(request: HttpRequest, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        tag = {404: "NotFound", 405: "MethodNotAllowed"}.get(status, "HttpError")
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        headers = exc.headers if isinstance(exc, HTTPException) else None  # e.g. 405's Allow
        body = {"ok": False, "error": _tag(tag, f"{request.method} {request.url.path}: {detail}")}
        return reply(status, body, dict(headers) if headers else None)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_host:
            async with host:
                yield
        else:
            yield

    return Starlette(
        routes=[
            Route("/v1/call", guarded(call), methods=["POST"]),
            Route("/v1/instances", guarded(instances), methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: not_found},
        lifespan=lifespan,
    )


def _tag(tag: str, message: str) -> dict[str, Any]:
    return {"_tag": tag, "message": message}


def _too_large(limit: int) -> dict[str, Any]:
    return {"_tag": "PayloadTooLarge", "message": f"the request body is over {limit} bytes", "limit": limit}


def _invalid_request(issue: str) -> dict[str, Any]:
    return error_to_wire(ValidationError(schema="request", issues=[issue]))


def serve(
    jobs: DurableJobs,
    db: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    log_level: str = "info",
    **host_options: Any,
) -> None:
    """Serve ``jobs`` from ``db`` over HTTP until interrupted (``durable-effect serve`` calls this).

    ``host_options`` go to :class:`Host` (``clock``, ``concurrency``, ``synchronous``, ``on_events``...).
    """
    import uvicorn

    check_bind(host, token)
    served = Host(jobs, db, **host_options)
    app = _hosting(served, create_app(served, token=token, max_body_bytes=max_body_bytes, manage_host=False))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        access_log=False,
        timeout_keep_alive=30,  # well past the client's pool expiry, so a connection is never reused as it closes
    )
    uvicorn.Server(config).run()  # a host that cannot start ends it with uvicorn's startup-failure exit (3)


def _hosting(host: Host, app: Any) -> Any:
    """``app`` (ASGI) with ``host`` running for the server's lifespan. A host that cannot start (the file is
    taken by another host, not a database, in a missing directory) is reported in one line, not a traceback."""

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        await receive()  # lifespan.startup
        try:
            await host.start()
        except (HostError, StorageError) as exc:
            await send(
                {"type": "lifespan.startup.failed", "message": f"durable-effect: {exc}"}
            )
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await host.aclose()
        await send({"type": "lifespan.shutdown.complete"})

    return asgi
