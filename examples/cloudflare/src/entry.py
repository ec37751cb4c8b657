"""The example Python Worker: the three example jobs on Durable Objects, driven over HTTP.

``Jobs`` is the Durable Object class (bound as ``JOBS`` in wrangler.jsonc, one object per job instance);
``Default`` serves the HTTP API of ``jobs_api`` and reaches the instances with
``JobsClient.from_binding(env.JOBS)``. The jobs themselves are ``examples/demo_jobs.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workers import Request, Response, WorkerEntrypoint

if TYPE_CHECKING:  # the Worker's modules are flat; in this repository they live in packages
    from examples.cloudflare.src.jobs_api import handle
    from examples.demo_jobs import jobs
else:
    from demo_jobs import jobs
    from jobs_api import handle

Jobs = jobs.Jobs


class Default(WorkerEntrypoint):
    async def fetch(self, request: Request) -> Response:
        binding: Any = self.env.JOBS
        return await handle(request, jobs, binding)
