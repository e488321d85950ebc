"""Failures end a job clearly: the reason names what went wrong, and no object is left behind."""

from __future__ import annotations

import asyncpg
import httpx
from temporalio.client import Client

from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from tests.helpers.auth import as_user
from tests.helpers.gpu import staging_left
from tests.helpers.jobs import create_character, done, wait_for
from tests.helpers.parts import running_gpu_worker


async def test_a_graph_comfyui_rejects_fails_the_job_naming_the_node(
    api: httpx.AsyncClient, cpu_worker: None, client: Client, store: ObjectStore, settings: Settings, pool: asyncpg.Pool
) -> None:
    missing_model = settings.model_copy(update={"comfyui_checkpoint": "not-installed.safetensors"})
    character = await create_character(api)
    async with running_gpu_worker(client, missing_model):
        accepted = (
            await api.post(
                "/api/v1/image-generation/avatar",
                json={"characterId": character["id"]},
                headers=as_user("user-1"),
            )
        ).json()
        status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "failed" and status["stage"] == "failed"
    # The worker's readiness check knew: the job fails before it reaches ComfyUI, naming node and model.
    assert "CheckpointLoaderSimple (node 4) input ckpt_name is 'not-installed.safetensors'" in status["error"]
    assert status["error"].endswith("no credits were charged")
    assert await staging_left(store, accepted["workflowId"]) == []
    assert await pool.fetchval("select count(*) from images where job_id = $1", accepted["jobId"]) == 0
    # Rejected once, never retried.
    history = await client.get_workflow_handle(accepted["workflowId"]).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert max(attempts) == 1


async def test_a_lora_comfyui_lacks_fails_naming_the_loader(
    api: httpx.AsyncClient, cpu_worker: None, gpu_worker: None, store: ObjectStore
) -> None:
    character = await create_character(api)
    accepted = (
        await api.post(
            "/api/v1/image-generation/avatar",
            json={
                "characterId": character["id"],
                "loras": [{"name": "missing-style.safetensors", "strengthModel": 0.7}],
            },
            headers=as_user("user-1"),
        )
    ).json()
    status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "failed"
    assert "(LoraLoader)" in status["error"] and "missing-style.safetensors" in status["error"]
    assert await staging_left(store, accepted["workflowId"]) == []
