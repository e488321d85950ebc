"""Two ready jobs never share one image: runs of one character and kind whose first workflow tasks start in the
same millisecond (a CPU worker restarted under a backlog takes them so) each publish an object of their own.

The start time is held fixed by a workflow interceptor, as the restarted worker's clock made it: before keys
named their job, every job below published to one key, the later overwriting the earlier's WebP.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import (
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from tests.helpers.auth import as_user
from tests.helpers.history import record
from tests.helpers.jobs import create_character, done, post, wait_for
from worker_cpu.worker import build_cpu_worker

USER = "one-millisecond"


class OneStartTime(Interceptor):
    """Every run's `workflow.info().start_time` is `start`, to the microsecond."""

    def __init__(self, start: datetime) -> None:
        self.start = start

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        start = self.start

        class Outbound(WorkflowOutboundInterceptor):
            def info(self) -> workflow.Info:
                return dataclasses.replace(super().info(), start_time=start)

        class Inbound(WorkflowInboundInterceptor):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(Outbound(outbound))

        return Inbound


@pytest.mark.usefixtures("gpu_worker")
async def test_jobs_of_one_character_started_in_one_millisecond_publish_distinct_images(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    character = await create_character(api, USER)
    story = await api.post(
        "/api/v1/stories",
        json={"title": "Uma noite", "synopsis": "Duas amigas numa cidade de neon.", "genre": "fantasy"},
        headers=as_user(USER),
    )
    assert story.status_code == 201, story.text
    requests: list[tuple[str, dict[str, Any]]] = [
        *(("avatar", {"characterId": character["id"], "seed": seed}) for seed in range(4)),
        *(("sticker", {"characterId": character["id"], "emotion": "feliz", "seed": seed}) for seed in range(3)),
        *(("cover", {"storyId": story.json()["id"], "seed": seed}) for seed in range(3)),
    ]
    async with build_cpu_worker(client, pool, store, settings, interceptors=[OneStartTime(datetime.now(UTC))]):
        accepted = []
        for kind, body in requests:
            response = await post(api, f"/api/v1/image-generation/{kind}", body, user=USER)
            assert response.status_code == 202, response.text
            accepted.append(response.json())
        statuses = await asyncio.gather(
            *(wait_for(api, job["jobId"], done, within=120, headers=as_user(USER)) for job in accepted)
        )
    assert [s["status"] for s in statuses] == ["ready"] * len(requests), statuses
    urls = [s["resultUrl"] for s in statuses]
    assert len(set(urls)) == len(urls), f"two jobs share an image: {urls}"
    for status in statuses:
        assert status["jobId"] in status["resultUrl"], "the key names its job"
    rows = await pool.fetch(
        "select job_id, object_key from images where job_id = any($1::uuid[])",
        [uuid.UUID(job["jobId"]) for job in accepted],
    )
    assert len(rows) == len(requests) and len({row["object_key"] for row in rows}) == len(requests)
    under_character = await store.list_keys(f"characters/{USER}/{character['id']}/")
    assert len(under_character) == 4 + 3 * 2, "an avatar each, a sticker and its messenger variant each"
    under_story = await store.list_keys(f"stories/{story.json()['id']}/")
    assert len(under_story) == 3
    for key in [*under_character, *under_story]:
        held = await store.describe(key)
        assert held is not None and held.owner is not None and held.owner in key, "each object names its job"
    await record(client, accepted[0]["workflowId"], "avatar_ready_keyed_by_job")
    await record(client, accepted[4]["workflowId"], "sticker_ready_keyed_by_job")
    await record(client, accepted[7]["workflowId"], "cover_ready_keyed_by_job")
