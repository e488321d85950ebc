"""check_renderable: before queueing, can any GPU worker's ComfyUI render this template? Asked of the reports
the polling GPU workers send (the cloud cannot reach them), so a job no ComfyUI would accept fails at once."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from comfyloom.contracts.health import Renderable, RenderableQuery
from comfyloom.gpu_fleet import gpu_fleet, renderable


class FleetActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn(name="check_renderable")
    async def check_renderable(self, query: RenderableQuery) -> Renderable:
        found = renderable(query.template, await gpu_fleet(self._client, self._client.namespace))
        if found.verdict == "no":
            activity.logger.warning("no GPU worker can render %s: %s", query.template, found.reasons)
        return found
