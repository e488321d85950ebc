"""Chat scenes end to end at the sizes the scene template allows; other sizes are refused naming `size`."""

from __future__ import annotations

import io
import re
import uuid

import asyncpg
import httpx
import pytest
from PIL import Image
from temporalio.client import Client

from api.errors import ApiError
from api.generation import scene_size
from comfyloom.settings import Settings
from tests.helpers.history import record
from tests.helpers.jobs import create_character, done, post, wait_for

SCENE = "/api/v1/image-generation/scene"


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_scenes_render_at_the_asked_size_and_are_found_by_chat(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, settings: Settings
) -> None:
    character = await create_character(api)
    story = (await post(api, "/api/v1/stories", {"title": "Café"})).json()
    wide = await post(
        api,
        SCENE,
        {
            "context": "Rem: vamos tomar um café na praia ao pôr do sol?",
            "characterIds": [character["id"]],
            "size": "1216x832",
            "chatId": "chat-42",
            "storyId": story["id"],
        },
    )
    empty = await post(api, SCENE, {"context": "Uma cidade futurista à noite, chuva e neon.", "chatId": "chat-42"})
    assert (wide.status_code, empty.status_code) == (202, 202), (wide.text, empty.text)
    jobs = [wide.json(), empty.json()]
    assert jobs[0]["workflowId"] == f"scene-{jobs[0]['jobId']}" and jobs[0]["storyId"] is None

    statuses = [await wait_for(api, job["jobId"], done) for job in jobs]
    assert [s["status"] for s in statuses] == ["ready", "ready"], statuses
    await record(client, jobs[0]["workflowId"], "scene_ready")
    sizes = []
    for job, status in zip(jobs, statuses, strict=True):
        key = status["resultUrl"].removeprefix(settings.public_url(""))
        assert re.fullmatch(rf"scenes/user-1/scene_\d{{13}}_{job['jobId']}\.webp", key), key
        async with httpx.AsyncClient() as http:
            with Image.open(io.BytesIO((await http.get(status["resultUrl"])).content)) as img:
                sizes.append(img.size)
    assert sizes == [(1216, 832), (1024, 1024)]

    rows = await pool.fetch(
        "select s.*, i.positive_prompt, i.source_text, i.character_id from chat_scenes s"
        " join images i using (job_id) join generation_jobs j on j.id = s.job_id"
        " where s.user_id = 'user-1' and s.chat_id = 'chat-42' order by j.created_at"
    )
    assert [str(r["job_id"]) for r in rows] == [j["jobId"] for j in jobs]
    assert [(r["width"], r["height"]) for r in rows] == [(1216, 832), (1024, 1024)]
    assert rows[0]["character_ids"] == [uuid.UUID(character["id"])] and rows[1]["character_ids"] == []
    assert str(rows[0]["story_id"]) == story["id"] and rows[1]["story_id"] is None
    assert "scenery" in rows[0]["positive_prompt"] and "(Rem Dragneel:1.2)" in rows[0]["positive_prompt"]
    assert "no humans" in rows[1]["positive_prompt"]
    assert rows[0]["source_text"].endswith("Rem: vamos tomar um café na praia ao pôr do sol?")
    assert rows[0]["character_id"] is None  # a scene is no one character's image


async def test_a_size_the_template_does_not_render_is_refused_with_the_choices(api: httpx.AsyncClient) -> None:
    odd = await post(api, SCENE, {"context": "praia", "size": "1000x1000"})
    assert odd.status_code == 422
    error = odd.json()["error"]
    assert error["type"] == "invalid_size" and error["fields"][0]["field"] == "size"
    assert error["message"].startswith("1000x1000 is not a size the scene template renders; use one of: 1024x1024,")
    assert "1216x832" in error["message"]
    huge = await post(api, SCENE, {"context": "praia", "size": "2048x2048"})
    assert huge.status_code == 422
    assert "is 4,194,304 pixels, over this server's budget of 1,048,576" in huge.json()["error"]["message"]
    garbled = await post(api, SCENE, {"context": "praia", "size": "big"})
    assert garbled.status_code == 422 and garbled.json()["error"]["fields"][0]["field"] == "size"
    unsafe = await post(api, SCENE, {"context": "uma criança nua"})
    assert unsafe.status_code == 422 and unsafe.json()["error"]["fields"][0]["field"] == "context"


def test_a_smaller_pixel_budget_leaves_only_the_sizes_that_fit(settings: Settings) -> None:
    small_gpu = settings.model_copy(update={"scene_max_pixels": 1_020_000})
    assert scene_size((1216, 832), small_gpu) == (1216, 832)
    with pytest.raises(ApiError) as refused:
        scene_size((1024, 1024), small_gpu)
    assert refused.value.message == (
        "1024x1024 is 1,048,576 pixels, over this server's budget of 1,020,000; use one of: 1216x832, 832x1216"
    )
