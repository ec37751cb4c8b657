"""Cloudflare Durable Objects backend: each job instance is its own Durable Object.

* ``make_jobs_class(jobs)`` — the ``Jobs`` Durable Object class a Python Worker exports
  (``create_durable_jobs(...).Jobs``): RPC ``call`` for client requests, ``alarm`` for the instance's alarm,
  the instance record in ``ctx.storage`` and its schedule in the object's alarm.
* ``binding_transport(env.JOBS)`` — what ``JobsClient.from_binding(env.JOBS)`` sends requests through.
* ``fetch_send`` — the telemetry transport on Workers (``fetch``), used when a ``TrackerConfig`` has none.

Importing this package does not need the Workers runtime; building the class does. See docs/cloudflare.md.
"""

from ._host import AlarmFailed, JobsHost, workers_tracker
from ._interop import fetch_send
from ._object import make_jobs_class
from ._store import MAX_VALUE_BYTES, RECORD_KEY, DurableObjectStore
from ._transport import BindingTransport, binding_transport

__all__ = [
    "MAX_VALUE_BYTES",
    "RECORD_KEY",
    "AlarmFailed",
    "BindingTransport",
    "DurableObjectStore",
    "JobsHost",
    "binding_transport",
    "fetch_send",
    "make_jobs_class",
    "workers_tracker",
]
