"""An avatar end to end through the real stack: API -> Temporal -> CPU and GPU workers -> ComfyUI simulator."""

from __future__ import annotations

import asyncio
import io
import re

import asyncpg
import httpx
import pytest
from PIL import Image
from temporalio.client import Client

from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from tests.helpers.auth import as_user
from tests.helpers.gpu import staging_left
from tests.helpers.history import LOCAL_ACTIVITY_MARKER
from tests.helpers.jobs import create_character, done, wait_for
from tests.helpers.parts import running_gpu_worker


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_avatar_lands_as_webp_with_a_ready_row(
    api: httpx.AsyncClient, store: ObjectStore, pool: asyncpg.Pool, settings: Settings
) -> None:
    character = await create_character(api)
    response = await api.post(
        "/api/v1/image-generation/avatar",
        json={"characterId": character["id"], "loras": [{"name": "add_detail.safetensors", "strengthModel": 0.6}]},
        headers=as_user("user-1"),
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["statusUrl"].endswith(f"/api/v1/image-generation/status/{accepted['jobId']}")

    status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "ready", status
    assert status["stage"] == "done"
    url = status["resultUrl"]
    key = url.removeprefix(settings.public_url(""))
    assert re.fullmatch(
        rf"characters/user-1/{character['id']}/avatar/avatar_\d{{13}}_{accepted['jobId']}\.webp", key
    ), key

    # The public URL serves a real 768x768 WebP with the right headers.
    async with httpx.AsyncClient() as http:
        published = await http.get(url)
    assert published.status_code == 200
    assert published.headers["content-type"] == "image/webp"
    assert "immutable" in published.headers["cache-control"]
    with Image.open(io.BytesIO(published.content)) as img:
        assert img.format == "WEBP" and img.size == (768, 768)
        assert b"comfyloom:workflowId" in img.info.get("xmp", b"")

    # The database holds the record, the character points at its avatar, staging is empty.
    row = await pool.fetchrow("select * from images where job_id = $1", accepted["jobId"])
    assert row is not None
    assert (row["object_key"], row["width"], row["height"]) == (key, 768, 768)
    assert row["size_bytes"] == len(published.content)
    assert "(Rem Dragneel:1.2)" in row["positive_prompt"] and "blue hair" in row["positive_prompt"]
    character_now = (await api.get(f"/api/v1/characters/{character['id']}", headers=as_user("user-1"))).json()
    assert character_now["avatarUrl"] == url
    assert await staging_left(store, accepted["workflowId"]) == []
    assert any("untranslated" in w for w in status["warnings"])


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_history_carries_keys_not_image_bytes(api: httpx.AsyncClient, client: Client) -> None:
    character = await create_character(api)
    accepted = (
        await api.post(
            "/api/v1/image-generation/avatar", json={"characterId": character["id"]}, headers=as_user("user-1")
        )
    ).json()
    await wait_for(api, accepted["jobId"], done)
    history = await client.get_workflow_handle(accepted["workflowId"]).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    print(f"\navatar workflow history: {len(history.events)} events, {len(raw)} bytes")
    assert len(raw) < 64 * 1024
    assert b"\x89PNG" not in raw and b"WEBP" not in raw


async def test_gpu_steps_wait_for_a_gpu_worker_then_finish(
    api: httpx.AsyncClient, cpu_worker: None, client: Client, store: ObjectStore, settings: Settings
) -> None:
    """Only the CPU worker polls: the job waits at the GPU step, and finishes once a GPU worker starts."""
    character = await create_character(api)
    accepted = (
        await api.post(
            "/api/v1/image-generation/avatar", json={"characterId": character["id"]}, headers=as_user("user-1")
        )
    ).json()
    waiting = await wait_for(api, accepted["jobId"], lambda s: s["stage"] == "waiting_for_gpu", within=30)
    assert waiting["status"] == "running"
    await asyncio.sleep(1.0)
    still = await wait_for(api, accepted["jobId"], lambda s: True)
    assert still["stage"] == "waiting_for_gpu"

    async with running_gpu_worker(client, settings):
        status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "ready", status

    # Every ComfyUI activity of the run was executed by the GPU worker, none by the CPU worker.
    handle = client.get_workflow_handle(accepted["workflowId"])
    await handle.result()  # the job is ready before its run clears staging and ends
    history = await handle.fetch_history()
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    by_activity = {scheduled[s.scheduled_event_id].activity_type.name: s.identity for s in started}
    # No Gemini key here, so the prompt needs no translation: built from the cache, with no task of its own.
    assert set(by_activity) == {"queue_comfy_prompt", "await_comfy_result", "clear_staging"}
    for name in ("queue_comfy_prompt", "await_comfy_result"):
        assert by_activity[name].startswith("test-gpu"), by_activity
    assert not by_activity["clear_staging"].startswith("test-gpu"), by_activity
    # open_job, build_cached_prompt, check_renderable, sign_staging, publish_render and finish_job are local
    # activities of the CPU worker that runs the workflow: recorded as markers, never offered to a queue a GPU
    # worker polls.
    markers = [e for e in history.events if e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER]
    assert len(markers) == 6
