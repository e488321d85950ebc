"""Stickers end to end: keyed out on the CPU worker or transparent from RMBG, each with a 512 messenger sticker;
a render that fails validation fails its job instead of being published."""

from __future__ import annotations

import io
import uuid

import asyncpg
import httpx
import pytest
from PIL import Image
from temporalio.client import Client

from comfyloom.contracts.domain import Emotion
from comfyloom.contracts.requests import StickerRequest
from comfyloom.db import credits, jobs
from comfyloom.settings import CPU_TASK_QUEUE
from comfyloom.storage import ObjectStore
from tests.helpers.auth import as_user
from tests.helpers.gpu import staging_left
from tests.helpers.history import record
from tests.helpers.jobs import create_character, done, wait_for
from workflows.kinds import StickerWorkflow

USER = as_user("user-1")


async def fetch_image(url: str) -> Image.Image:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/webp"
    img = Image.open(io.BytesIO(response.content))
    img.load()
    img.info["bytes"] = len(response.content)
    return img


def assert_cut_out(img: Image.Image, size: tuple[int, int]) -> None:
    assert (img.format, img.size, img.mode) == ("WEBP", size, "RGBA")
    assert img.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert img.getpixel((size[0] // 2, size[1] // 2))[3] == 255  # type: ignore[index]


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_sticker_is_keyed_out_and_has_a_messenger_version(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore
) -> None:
    character = await create_character(api)
    response = await api.post(
        "/api/v1/image-generation/sticker", json={"characterId": character["id"], "emotion": "feliz"}, headers=USER
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["workflowId"] == f"sticker-{accepted['jobId']}"
    status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "ready", status

    row = await pool.fetchrow("select * from character_stickers where job_id = $1", uuid.UUID(accepted["jobId"]))
    assert row is not None and row["emotion"] == "happy" and row["url"] == status["resultUrl"]
    assert row["url"].endswith(".webp") and "/stickers/happy_" in row["url"]
    assert_cut_out(await fetch_image(row["url"]), (768, 1152))
    messenger = await fetch_image(row["messenger_url"])
    assert_cut_out(messenger, (512, 512))
    assert messenger.info["bytes"] <= 100 * 1024

    # The prompt asked for a key colour the character (blue hair and eyes) does not wear.
    image = await pool.fetchrow("select positive_prompt from images where job_id = $1", row["job_id"])
    assert image is not None and "(happy:1.2)" in image["positive_prompt"]
    assert "background:1.3)" in image["positive_prompt"] and "(blue background" not in image["positive_prompt"]
    assert await staging_left(store, accepted["workflowId"]) == []
    await record(client, accepted["workflowId"], "sticker_ready")


async def start_sticker(
    client: Client, pool: asyncpg.Pool, character_id: str, *, template: str, background: str, price: int = 0
) -> tuple[str, str]:
    """Straight to Temporal, as the API does, with a template and background of the test's choosing."""
    job_id = uuid.uuid4()
    workflow_id = f"sticker-{job_id}"
    await jobs.create_job(
        pool,
        job_id=job_id,
        user_id="user-1",
        kind="sticker",
        character_id=uuid.UUID(character_id),
        workflow_id=workflow_id,
        request={},
    )
    request = StickerRequest(
        job_id=job_id,
        user_id="user-1",
        character_ids=[uuid.UUID(character_id)],
        emotion=Emotion.crying,
        template=template,
        width=768,
        height=1152,
        background=background,
        price=price,
    )
    await client.start_workflow(StickerWorkflow.run, request, id=workflow_id, task_queue=CPU_TASK_QUEUE)
    return str(job_id), workflow_id


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_the_rmbg_template_gives_a_transparent_sticker(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool
) -> None:
    character = await create_character(api)
    job_id, _ = await start_sticker(client, pool, character["id"], template="sticker_rmbg", background="transparent")
    status = await wait_for(api, job_id, done)
    assert status["status"] == "ready", status
    assert_cut_out(await fetch_image(status["resultUrl"]), (768, 1152))


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_render_without_the_promised_transparency_fails_and_publishes_nothing(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore
) -> None:
    character = await create_character(api)
    # Started without the API, so the workflow's own hold (at open_job) is the one that takes the credits.
    balance = (await credits.balance(pool, "user-1")).balance
    job_id, workflow_id = await start_sticker(
        client, pool, character["id"], template="sticker", background="transparent", price=3
    )
    status = await wait_for(api, job_id, done)
    assert status["status"] == "failed"
    assert await pool.fetchval("select status from credit_holds where workflow_id = $1", workflow_id) == "released"
    assert (await credits.balance(pool, "user-1")).balance == balance
    assert status["error"] == (
        "the render is unusable: image has no alpha channel, but its background should be transparent"
    )
    assert await staging_left(store, workflow_id) == []
    assert await store.list_keys(f"characters/user-1/{character['id']}/stickers/") == []
    assert await pool.fetchval("select count(*) from character_stickers where job_id = $1", uuid.UUID(job_id)) == 0
    await record(client, workflow_id, "sticker_unusable_render_failed")


async def test_an_unknown_emotion_is_a_422_naming_the_choices(api: httpx.AsyncClient) -> None:
    character = await create_character(api)
    response = await api.post(
        "/api/v1/image-generation/sticker", json={"characterId": character["id"], "emotion": "hangry"}, headers=USER
    )
    assert response.status_code == 422
    [field] = response.json()["error"]["fields"]
    assert field["field"] == "emotion" and "happy, sad" in field["message"]
