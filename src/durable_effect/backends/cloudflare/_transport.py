"""The client side: reach an instance's Durable Object through the ``Jobs`` namespace binding."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...jobs._client import TransportFailure
from ...jobs._protocol import Request

if TYPE_CHECKING:
    from workers import DurableObjectNamespace


class BindingTransport:
    """Sends each request to the Durable Object named after its instance (``idFromName(instance_id)``)
    through the ``call`` RPC method; the response comes back as JSON text, errors as data."""

    def __init__(self, namespace: DurableObjectNamespace) -> None:
        self._namespace = namespace

    async def call(self, request: Request) -> dict[str, Any]:
        name = request.instance_id
        body = json.dumps(request.to_wire(), separators=(",", ":"))
        try:
            stub = self._namespace.get(self._namespace.idFromName(name))
            reply = await stub.call(body)
        except Exception as exc:
            raise TransportFailure(f"Durable Object call to {name!r} failed: {type(exc).__name__}: {exc}") from exc
        if not isinstance(reply, str):
            raise TransportFailure(f"Durable Object {name!r} answered {type(reply).__name__}, expected JSON text")
        try:
            response: dict[str, Any] = json.loads(reply)
        except ValueError as exc:
            raise TransportFailure(f"Durable Object {name!r} answered malformed JSON: {exc}") from exc
        return response


def binding_transport(binding: Any) -> BindingTransport:
    """The transport of ``JobsClient.from_binding(env.JOBS)``: ``binding`` is the ``Jobs`` namespace."""
    if not callable(getattr(binding, "idFromName", None)):
        raise TypeError(
            f"expected a Durable Object namespace binding (env.JOBS), got {type(binding).__name__}; "
            "bind the Jobs class in wrangler.jsonc (durable_objects.bindings)"
        )
    return BindingTransport(binding)
