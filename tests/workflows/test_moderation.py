"""Output moderation on the real open_nsfw model: what the GPU drew is scored before anyone sees it, and the
deployment's policy decides: published, published and flagged, or blocked with nothing published or charged."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from PIL import Image
from temporalio.client import Client

from comfyloom.db import credits
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from tests.helpers import moderation as test_classifiers
from tests.helpers.auth import as_user
from tests.helpers.gpu import staging_left
from tests.helpers.history import record, steps
from tests.helpers.jobs import CHARACTER, done, wait_for
from worker_cpu.worker import build_cpu_worker

AVATAR = "/api/v1/image-generation/avatar"
STICKER = "/api/v1/image-generation/sticker"


@asynccontextmanager
async def cpu_worker_with(
    client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings, **moderation: Any
) -> AsyncIterator[None]:
    async with build_cpu_worker(client, pool, store, settings.model_copy(update=moderation)):
        yield


async def character_of(api: httpx.AsyncClient, user: str, **features: Any) -> str:
    body = {**CHARACTER, "visualFeatures": {**CHARACTER["visualFeatures"], **features}}  # type: ignore[dict-item]
    response = await api.post("/api/v1/characters", json=body, headers=as_user(user))
    assert response.status_code == 201, response.text
    character_id: str = response.json()["id"]
    return character_id


async def generate(api: httpx.AsyncClient, path: str, body: dict[str, Any], user: str) -> dict[str, Any]:
    accepted = await api.post(path, json=body, headers=as_user(user))
    assert accepted.status_code == 202, accepted.text
    return await wait_for(api, accepted.json()["jobId"], done, headers=as_user(user))


def xmp_of(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        xmp: bytes = image.info["xmp"]
    return xmp.decode()


@pytest.mark.usefixtures("gpu_worker")
async def test_a_plain_render_scores_low_and_is_published_with_its_score(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    user = f"mod-{uuid.uuid4().hex[:8]}"
    character = await character_of(api, user)
    async with cpu_worker_with(client, pool, store, settings):
        status = await generate(api, AVATAR, {"characterId": character}, user)
    assert status["status"] == "ready", status
    moderation = status["moderation"]
    assert moderation["model"] == "open_nsfw" and moderation["action"] == "pass" and moderation["label"] == "safe"
    assert 0 <= moderation["score"] < 0.2
    images = (await api.get(f"/api/v1/characters/{character}/images", headers=as_user(user))).json()
    assert images[0]["moderation"] == moderation
    history = await client.get_workflow_handle(status["workflowId"]).fetch_history()
    names = [name for name, _ in steps(client, history)]
    assert names.index("publish_render") < names.index("finish_job") and "convert_webp" not in names
    await record(client, status["workflowId"], "avatar_moderated")


@pytest.mark.usefixtures("gpu_worker")
async def test_a_blocked_image_is_never_published_and_costs_nothing(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    user = f"mod-{uuid.uuid4().hex[:8]}"
    character = await character_of(api, user)
    before = await credits.balance(pool, user)
    async with cpu_worker_with(client, pool, store, settings, moderation_threshold=0.0, moderation_minor_threshold=0.0):
        status = await generate(api, AVATAR, {"characterId": character}, user)
    assert status["status"] == "failed"
    assert "blocked by output moderation: open_nsfw scored it" in status["error"]
    assert "no credits were charged" in status["error"] and status["resultUrl"] is None
    after = await credits.balance(pool, user)
    assert (after.balance, after.reserved) == (before.balance, 0)
    assert await store.list_keys(f"characters/{user}/") == []
    assert await staging_left(store, status["workflowId"]) == []
    assert await pool.fetchval("select count(*) from images where job_id = $1", uuid.UUID(status["jobId"])) == 0
    refusal = await pool.fetchrow("select * from content_refusals where job_id = $1", uuid.UUID(status["jobId"]))
    assert refusal is not None
    assert (refusal["stage"], refusal["model"], refusal["kind"]) == ("output", "open_nsfw", "avatar")
    assert 0 <= refusal["score"] <= 1 and refusal["user_id"] == user
    await record(client, status["workflowId"], "avatar_blocked")


@pytest.mark.usefixtures("gpu_worker")
async def test_a_request_showing_a_minor_is_held_to_the_stricter_threshold(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    user = f"mod-{uuid.uuid4().hex[:8]}"
    adult = await character_of(api, user, age=25)
    minor = await character_of(api, user, age=16)
    # Off for everyone else; anything scoring above 0 is blocked when the request shows a minor.
    async with cpu_worker_with(client, pool, store, settings, moderation_policy="off", moderation_minor_threshold=0.0):
        of_adult = await generate(api, AVATAR, {"characterId": adult}, user)
        of_minor = await generate(api, AVATAR, {"characterId": minor}, user)
    assert of_adult["status"] == "ready" and of_adult["moderation"] is None
    assert of_minor["status"] == "failed"
    assert "the request shows a minor, so a stricter limit applies" in of_minor["error"]
    refusal = await pool.fetchrow("select * from content_refusals where job_id = $1", uuid.UUID(of_minor["jobId"]))
    assert refusal is not None and "age 16" in refusal["matched"]


@pytest.mark.usefixtures("gpu_worker")
async def test_a_flagged_sticker_is_published_marked_in_the_api_and_in_both_webps(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    user = f"mod-{uuid.uuid4().hex[:8]}"
    character = await character_of(api, user)
    async with cpu_worker_with(
        client,
        pool,
        store,
        settings,
        moderation_policy="flag",
        moderation_threshold=0.0,
        moderation_minor_threshold=0.0,
    ):
        status = await generate(api, STICKER, {"characterId": character, "emotion": "happy"}, user)
    assert status["status"] == "ready", status
    assert status["moderation"]["action"] == "flag" and status["moderation"]["label"] == "unsafe"
    published = await store.list_keys(f"characters/{user}/{character}/stickers/")
    assert len(published) == 2  # the sticker and its messenger variant
    for key in published:
        xmp = xmp_of(await store.get(key))
        assert "<comfyloom:moderationAction>flag</comfyloom:moderationAction>" in xmp
        assert "<comfyloom:moderationModel>open_nsfw</comfyloom:moderationModel>" in xmp
        assert "<comfyloom:seed>" in xmp  # the provenance written at conversion is kept
    await record(client, status["workflowId"], "sticker_flagged")


@pytest.mark.usefixtures("gpu_worker")
async def test_a_failing_classifier_is_tried_again_and_another_model_can_be_swapped_in(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    user = f"mod-{uuid.uuid4().hex[:8]}"
    character = await character_of(api, user)
    test_classifiers.calls = 0
    async with cpu_worker_with(client, pool, store, settings, moderation_model="tests.helpers.moderation:fails_once"):
        status = await generate(api, AVATAR, {"characterId": character}, user)
    assert status["status"] == "ready", status
    assert status["moderation"]["model"] == "fails-once" and test_classifiers.calls == 2
