"""Main module of the workerd tests' Worker: the example Worker plus the same jobs with short timings.

* ``Jobs`` is the example's Durable Object class (``examples/cloudflare/src/entry.py``, the jobs of
  ``examples/demo_jobs.py`` with their real timings), bound as ``JOBS``.
* ``FastJobs`` hosts ``fast_jobs`` (second-scale timings, telemetry on), bound as ``FAST_JOBS``.
* ``Default`` serves the example's HTTP API (``jobs_api``): ``/fast/...`` for the fast jobs, everything else
  for the example's jobs; ``GET /ops/<binding>/<type>/<job>/<id>`` answers the storage operations an instance's
  object made since it was loaded (its ``storage_ops()`` RPC).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from workers import Request, Response, WorkerEntrypoint

from durable_effect.backends.cloudflare import make_jobs_class
from durable_effect.jobs import instance_name

if TYPE_CHECKING:  # the Worker's modules are flat; in this repository they live in packages
    from examples.cloudflare.src import entry
    from examples.cloudflare.src.jobs_api import handle
    from examples.demo_jobs import jobs as example_jobs
    from tests.workerd.jobs_worker.fast_jobs import jobs as fast_jobs
else:
    import entry
    from demo_jobs import jobs as example_jobs
    from fast_jobs import jobs as fast_jobs
    from jobs_api import handle

Jobs = entry.Jobs
FastJobs = make_jobs_class(fast_jobs, name="FastJobs")


class Default(WorkerEntrypoint):
    async def fetch(self, request: Request) -> Response:
        env: Any = self.env
        path = urlparse(str(request.url)).path
        if path.startswith("/ops/"):
            binding, job_type, job, id = path.split("/")[2:6]
            namespace = getattr(env, binding)
            stub = namespace.get(namespace.idFromName(instance_name(job_type, job, id)))
            return Response(str(await stub.storage_ops()), headers={"content-type": "application/json"})
        if path.startswith("/fast/"):
            return await handle(request, fast_jobs, env.FAST_JOBS, prefix="/fast")
        return await handle(request, example_jobs, env.JOBS)
