"""The HTTP transport: ``JobsClient.from_url(url, token=...)`` talks to a host served by ``durable-effect serve``.

A job error comes back as its typed body and is rebuilt as the same class (the client's effect fails with
it). Anything that is not a job's answer — the server cannot be reached, times out, refuses the token
(401), the request is too large (413) — is a :class:`~durable_effect.jobs.TransportFailure`, which the
client reports as ``StorageError(operation="call")`` naming the HTTP status and the server's message. When
the request was sent but no answer came back (a read timeout, a dropped connection), the message says the
outcome is unknown: the call may have committed, and a retry should reuse its ``event_id``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..backends.sqlite_threads import current_loop_key
from ..jobs._client import TransportFailure
from ..jobs._errors import ERROR_CLASSES
from ..jobs._protocol import Request

if TYPE_CHECKING:
    import httpx

KEEPALIVE_EXPIRY_S = 2.0
"""How long an idle pooled connection is reused; below any server keep-alive worth the name."""


class HttpTransport:
    """POSTs requests to ``{url}/v1/call``; one connection pool per event loop."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the host URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if token:
            self._headers["authorization"] = f"Bearer {token}"
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self._loop: object = None

    def _http(self) -> httpx.AsyncClient:
        import httpx

        loop = current_loop_key()
        if self._client is None or self._loop is not loop:
            # A pooled connection is dropped well before the server's keep-alive (durable-effect serve: 30 s) ends
            # it: one reused just as the server closes it fails a call whose outcome is then unknown.
            limits = httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S)
            self._client = httpx.AsyncClient(timeout=self._timeout, headers=self._headers, limits=limits)
            self._loop = loop
        return self._client

    async def call(self, request: Request) -> dict[str, Any]:
        content = json.dumps(request.to_wire(), separators=(",", ":")).encode()
        return await self._send("POST", "/v1/call", content=content)

    async def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """``GET {url}{path}``: the JSON body of a 200 or of a job error; anything else is a TransportFailure."""
        return await self._send("GET", path, params=params)

    async def _send(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        import httpx

        try:
            response = await self._http().request(method, f"{self.url}{path}", **options)
        except httpx.HTTPError as exc:
            detail = f"{self.url}: {type(exc).__name__}: {str(exc) or 'no answer'}"
            sent = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)
            if isinstance(exc, sent):
                detail += (
                    "; the request was sent but no answer came back, so its outcome is unknown (it may have "
                    "committed): retry it with the same event_id to be safe"
                )
            raise TransportFailure(detail) from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise TransportFailure(f"{self.url}: HTTP {response.status_code}: {response.text[:200]!r}")
        body: dict[str, Any] = data
        if response.status_code == 200 and body.get("ok") is not False:
            return body
        error = body.get("error")
        if isinstance(error, dict) and error.get("_tag") in ERROR_CLASSES:
            return body  # a job error: the client rebuilds the same class
        message = error.get("message") if isinstance(error, dict) else response.text[:200]
        raise TransportFailure(f"{self.url}: HTTP {response.status_code}: {message}")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def http_transport(url: str, token: str | None = None, *, timeout: float = 60.0) -> HttpTransport:
    """The transport of ``JobsClient.from_url(url, token)``."""
    return HttpTransport(url, token, timeout=timeout)
