"""The embedded host: run durable jobs on one machine from a SQLite file, with nothing else to install.

- :class:`Host` serves a registry (``create_durable_jobs(...)``) from one SQLite file: per-instance
  serialized calls, one commit per call, one alarm scheduler task, telemetry sent in the background.
- ``jobs.JobsClient.local("jobs.sqlite")`` (in process) and ``jobs.JobsClient.from_url(url, token=...)``
  (over HTTP) are the clients; :func:`create_app`/:func:`serve` and the ``durable-effect`` command serve the
  HTTP API.
- :class:`AcceleratedClock` runs a host's time faster than real time, for demos and tests.

See ``docs/host.md``.
"""

from ..backends.sqlite import SqliteStore
from ._clock import AcceleratedClock
from ._host import Host, HostError, running_host
from ._http_client import HttpTransport, http_transport
from ._instances import InstanceSummary
from ._local import HostTransport, LocalTransport, local_transport
from ._server import ERROR_STATUS, MAX_BODY_BYTES, check_bind, create_app, serve

__all__ = [
    "ERROR_STATUS",
    "MAX_BODY_BYTES",
    "AcceleratedClock",
    "Host",
    "HostError",
    "HostTransport",
    "HttpTransport",
    "InstanceSummary",
    "LocalTransport",
    "SqliteStore",
    "check_bind",
    "create_app",
    "http_transport",
    "local_transport",
    "running_host",
    "serve",
]
