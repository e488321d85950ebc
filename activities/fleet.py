"""check_renderable: before queueing, can any GPU worker's ComfyUI render this template? Asked of the reports
the polling GPU workers send (the cloud cannot reach them), so a job no ComfyUI would accept fails at once.
The answer carries the asking job's place in the queue, which the run shows in the Web UI while it waits."""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio import activity
from temporalio.client import Client

from comfyloom.contracts.health import QueueEstimate, Renderable, RenderableQuery
from comfyloom.db import jobs
from comfyloom.gpu_fleet import GpuFleet, gpu_fleet, renderable
from comfyloom.queue_estimate import estimate
from comfyloom.settings import Settings

# A database slower than this costs the job its estimate, never its check (a local activity of 10 s at most).
ESTIMATE_SECONDS = 3.0


class FleetActivities:
    def __init__(self, client: Client, pool: asyncpg.Pool, settings: Settings) -> None:
        self._client = client
        self._pool = pool
        self._settings = settings

    @activity.defn(name="check_renderable")
    async def check_renderable(self, query: RenderableQuery) -> Renderable:
        fleet = await gpu_fleet(self._client, self._client.namespace)
        found = renderable(query.template, fleet)
        if found.verdict == "no":
            activity.logger.warning("no GPU worker can render %s: %s", query.template, found.reasons)
        elif query.workflow_id is not None:
            found.queue = await self._estimate(query.workflow_id, fleet)
        return found

    async def _estimate(self, workflow_id: str, fleet: GpuFleet) -> QueueEstimate | None:
        """None when the database does not answer: the estimate is for people to read, the render goes on."""
        try:
            async with asyncio.timeout(ESTIMATE_SECONDS):  # the check it rides on must answer within 10 s
                job = await jobs.asking_gpu(self._pool, workflow_id)
                return None if job is None else await estimate(self._pool, fleet, self._settings, job)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as e:
            activity.logger.warning("no queue estimate for %s: %r", workflow_id, e)
            return None
