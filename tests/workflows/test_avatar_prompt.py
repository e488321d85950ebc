"""The prompt pipeline inside a real run: Gemini retried by the activity policy, provenance that
re-renders the same graph, and refusals before any GPU work, at request time or at prompt time."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from activities.comfy import filename_prefix_for, prompt_id_for
from comfy_templates import RenderParams, load_template
from comfyloom.comfyui.client import ComfyClient
from comfyloom.contracts.domain import Lora
from comfyloom.db import characters
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack.gemini_endpoint import FakeGemini, answer, error
from tests.helpers.auth import as_user
from tests.helpers.history import record, steps
from tests.helpers.jobs import done, wait_for
from tests.helpers.prompts import REM_ANSWER, REM_DESCRIPTION
from worker_cpu.worker import build_cpu_worker

USER = as_user("user-1")


async def start_avatar(api: httpx.AsyncClient, character_id: str, **body: Any) -> httpx.Response:
    return await api.post("/api/v1/image-generation/avatar", json={"characterId": character_id, **body}, headers=USER)


@pytest.mark.usefixtures("gpu_worker")
async def test_translated_avatar_records_provenance_that_renders_the_same_graph(
    api: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    store: ObjectStore,
    gemini: FakeGemini,
    gemini_settings: Settings,
) -> None:
    # Gemini is rate-limited once: the activity's retry policy backs off (Gemini's 1 s) and asks again.
    gemini.script(error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", retry_delay="1s"), answer(REM_ANSWER))
    body = {"name": "Rem Dragneel", "description": REM_DESCRIPTION, "visualFeatures": {"gender": "female"}}
    character = (await api.post("/api/v1/characters", json=body, headers=USER)).json()
    lora = {"name": "add_detail.safetensors", "strengthModel": 0.6, "triggerWords": ["detailed"]}
    async with build_cpu_worker(client, pool, store, gemini_settings):
        accepted = (await start_avatar(api, character["id"], seed=1234, loras=[lora])).json()
        status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "ready", status
    assert status["warnings"] == []
    assert len(gemini.requests) == 2

    images = (await api.get(f"/api/v1/characters/{character['id']}/images", headers=USER)).json()
    [image] = images
    assert image["translator"] == "gemini-2.5-flash-lite"
    assert image["sourceText"] == f"Rem Dragneel: {REM_DESCRIPTION}"
    assert image["tags"]["characters"][0]["eyes"][1] == "heterochromia"
    assert image["seed"] == 1234 and image["template"] == "avatar"
    assert image["loras"] == [
        {"name": "add_detail.safetensors", "strengthModel": 0.6, "strengthClip": 1.0, "triggerWords": ["detailed"]}
    ]
    assert image["positivePrompt"].startswith(
        "(score_9, score_8_up, score_7_up), masterpiece, best quality, ultra-detailed, cinematic lighting, (ANIME), "
        "detailed, (close-up portrait:1.2)"
    )
    template = load_template(image["template"])
    assert image["templateSha256"] == template.sha256
    assert image["checkpoint"] == gemini_settings.comfyui_checkpoint

    # The provenance alone rebuilds exactly the graph ComfyUI ran (only the output file name differs).
    step = "render-1"
    comfy = ComfyClient(gemini_settings.comfyui_url, client_id="test")
    try:
        entry = await comfy.history(prompt_id_for(accepted["workflowId"], step))
    finally:
        await comfy.aclose()
    assert entry is not None
    ran = entry["prompt"][2]
    rebuilt = template.render(
        RenderParams(
            positive=image["positivePrompt"],
            negative=image["negativePrompt"],
            seed=image["seed"],
            width=image["width"],
            height=image["height"],
            checkpoint=image["checkpoint"],
            filename_prefix=filename_prefix_for(accepted["workflowId"], step),
        ),
        [
            Lora(name=lora["name"], strength_model=lora["strengthModel"], strength_clip=lora["strengthClip"])
            for lora in image["loras"]
        ],
    )
    assert rebuilt == ran


@pytest.mark.usefixtures("gpu_worker")
async def test_a_second_avatar_of_a_read_character_asks_gemini_nothing_and_has_no_prompt_task(
    api: httpx.AsyncClient, client: Client, gemini_cpu_worker: FakeGemini
) -> None:
    gemini_cpu_worker.script(answer(REM_ANSWER))
    body = {"name": "Rem Again", "description": REM_DESCRIPTION, "visualFeatures": {"gender": "female"}}
    character = (await api.post("/api/v1/characters", json=body, headers=USER)).json()
    histories = []
    for seed in (1, 2):
        accepted = (await start_avatar(api, character["id"], seed=seed)).json()
        status = await wait_for(api, accepted["jobId"], done)
        assert status["status"] == "ready" and status["warnings"] == [], status
        histories.append(await client.get_workflow_handle(accepted["workflowId"]).fetch_history())
        await record(client, accepted["workflowId"], f"avatar_prompt_{'translated' if seed == 1 else 'cached'}")
    assert len(gemini_cpu_worker.requests) == 1, "the character was read once"
    first, second = ([name for name, _ in steps(client, h)][:3] for h in histories)
    assert first == ["open_job", "build_cached_prompt", "build_prompt"]
    assert second == ["open_job", "build_cached_prompt", "check_renderable"]
    images = (await api.get(f"/api/v1/characters/{character['id']}/images", headers=USER)).json()
    assert {image["translator"] for image in images} == {"gemini-2.5-flash-lite"}
    assert len({image["positivePrompt"] for image in images}) == 1, "the same words, the same prompt"


async def test_character_creation_refuses_minors_with_sexual_content(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    body = {"name": "Aiko", "description": "Uma dançarina muito sensual", "visualFeatures": {"age": 15}}
    response = await api.post("/api/v1/characters", json=body, headers=as_user(user))
    assert response.status_code == 422
    error_ = response.json()["error"]
    assert error_["type"] == "content_refused"
    assert [f["field"] for f in error_["fields"]] == ["visualFeatures.age", "description"]
    assert await pool.fetchval("select count(*) from characters where user_id = $1", user) == 0
    assert await pool.fetchval("select stage from content_refusals where user_id = $1", user) == "request"


async def test_an_avatar_of_an_unsafe_character_is_refused_at_request_time(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    # Written straight to the database, as a character created before a rule changed would be.
    row = await characters.create_character(
        pool, user_id="user-1", name="Yui", description="criança de lingerie", visual_features={}
    )
    response = await start_avatar(api, str(row.id))
    assert response.status_code == 422, response.text
    error_ = response.json()["error"]
    assert error_["type"] == "content_refused" and error_["fields"][0]["field"] == "characterId"
    assert "crianca" in error_["message"] and "lingerie" in error_["message"]
    assert await pool.fetchval("select count(*) from generation_jobs where character_id = $1", row.id) == 0

    safe = await characters.create_character(pool, user_id="user-1", name="Yui", description="ok", visual_features={})
    response = await start_avatar(api, str(safe.id), loras=[{"name": "x.safetensors", "triggerWords": ["loli nsfw"]}])
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "loras[0].triggerWords"


@pytest.mark.usefixtures("gpu_worker")
async def test_geminis_reading_refuses_at_prompt_time_with_no_gpu_work(
    api: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    store: ObjectStore,
    gemini: FakeGemini,
    gemini_settings: Settings,
) -> None:
    gemini.script(answer({**REM_ANSWER, "apparent_age": "child"}))
    body = {"name": "Lia", "description": "Uma pequena de nove primaveras, dançarina provocante"}
    character = (await api.post("/api/v1/characters", json=body, headers=USER)).json()
    async with build_cpu_worker(client, pool, store, gemini_settings):
        accepted = (await start_avatar(api, character["id"])).json()
        status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "failed" and status["error"].startswith("refused: sexual content involving a minor")
    assert len(gemini.requests) == 1, "a refusal is never retried"
    refusal = await pool.fetchrow("select * from content_refusals where job_id = $1", uuid.UUID(accepted["jobId"]))
    assert refusal is not None and refusal["stage"] == "prompt"
    # A refusal is never charged.
    hold = await pool.fetchval("select status from credit_holds where workflow_id = $1", accepted["workflowId"])
    assert hold == "released"
    comfy = ComfyClient(gemini_settings.comfyui_url, client_id="test")
    try:
        assert await comfy.history(prompt_id_for(accepted["workflowId"], "render-1")) is None
    finally:
        await comfy.aclose()
    history = await client.get_workflow_handle(accepted["workflowId"]).fetch_history()
    # The cached prompt needs Gemini here, so the prompt is built (and refused) by build_prompt.
    assert [name for name, _ in steps(client, history)] == [
        "open_job",
        "build_cached_prompt",
        "build_prompt",
        "fail_job",
    ]
