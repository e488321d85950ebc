"""A client lists its user's characters and stories a page at a time, and erases one: its images leave
storage, its rows go, the ledger stays, and a character a job is still drawing cannot be erased."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client

from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from tests.helpers.auth import as_user
from tests.helpers.gpu import staging_left
from tests.helpers.jobs import CHARACTER, done, wait_for
from worker_cpu.worker import build_cpu_worker

CHARACTERS = "/api/v1/characters"
STORIES = "/api/v1/stories"


async def test_characters_and_stories_are_listed_newest_first_a_page_at_a_time(api: httpx.AsyncClient) -> None:
    user = as_user("lister")
    names = [f"Character {i}" for i in range(5)]
    for name in names:
        assert (await api.post(CHARACTERS, json={**CHARACTER, "name": name}, headers=user)).status_code == 201
        assert (await api.post(STORIES, json={"title": name}, headers=user)).status_code == 201
    for url, field in ((CHARACTERS, "name"), (STORIES, "title")):
        seen: list[str] = []
        cursor = None
        while True:
            page = await api.get(url, params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=user)
            assert page.status_code == 200
            seen += [item[field] for item in page.json()["items"]]
            if (cursor := page.json()["nextCursor"]) is None:
                break
        assert seen == names[::-1]
    assert (await api.get(CHARACTERS, params={"cursor": "nonsense"}, headers=user)).status_code == 422
    assert (await api.get(CHARACTERS, headers=as_user("someone-else"))).json()["items"] == []


async def test_erasing_a_character_removes_its_images_and_rows_and_keeps_the_ledger(
    api: httpx.AsyncClient, pool: asyncpg.Pool, store: ObjectStore, cpu_worker: None, gpu_worker: None
) -> None:
    user = as_user("eraser")
    character: dict[str, Any] = (await api.post(CHARACTERS, json=CHARACTER, headers=user)).json()
    story = (await api.post(STORIES, json={"title": "Saga", "characterIds": [character["id"]]}, headers=user)).json()
    accepted = (
        await api.post("/api/v1/image-generation/avatar", json={"characterId": character["id"]}, headers=user)
    ).json()
    assert (await wait_for(api, accepted["jobId"], done, headers=user))["status"] == "ready"
    prefix = f"characters/eraser/{character['id']}/"
    assert await store.list_keys(prefix)
    ledger_before = await pool.fetchval("select count(*) from credit_ledger where user_id = 'eraser'")

    erased = await api.delete(f"{CHARACTERS}/{character['id']}", headers=user)
    assert erased.status_code == 204, erased.text
    assert await store.list_keys(prefix) == []
    assert await staging_left(store, accepted["workflowId"]) == []
    assert (await api.get(f"{CHARACTERS}/{character['id']}", headers=user)).status_code == 404
    assert await pool.fetchval("select count(*) from images where job_id = $1", uuid.UUID(accepted["jobId"])) == 0
    job = await api.get(f"/api/v1/image-generation/status/{accepted['jobId']}", headers=user)
    assert job.json()["status"] == "ready" and job.json()["resultUrl"] is None
    assert await pool.fetchval("select count(*) from credit_ledger where user_id = 'eraser'") == ledger_before
    assert (await api.get(f"{STORIES}/{story['id']}", headers=user)).json()["characterIds"] == []
    assert (await api.delete(f"{CHARACTERS}/{character['id']}", headers=user)).status_code == 404


async def test_a_character_or_story_a_job_is_drawing_cannot_be_erased(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    user = as_user("eraser-2")
    character = (await api.post(CHARACTERS, json=CHARACTER, headers=user)).json()
    story = (await api.post(STORIES, json={"title": "Saga", "characterIds": [character["id"]]}, headers=user)).json()
    cover = await api.post(f"{STORIES}/{story['id']}/generate-cover", json={}, headers=user)
    assert cover.status_code == 202
    # No worker yet: the cover is queued, so neither its story nor the character on it can go.
    for url, field in ((f"{CHARACTERS}/{character['id']}", "characterId"), (f"{STORIES}/{story['id']}", "storyId")):
        refused = await api.delete(url, headers=user)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["fields"][0]["field"] == field
    job = cover.json()["jobId"]
    assert (await api.delete(f"/api/v1/image-generation/jobs/{job}", headers=user)).status_code == 202
    async with build_cpu_worker(client, pool, store, settings):
        assert (await wait_for(api, job, done, headers=user))["status"] == "cancelled"
    assert (await api.delete(f"{STORIES}/{story['id']}", headers=user)).status_code == 204
    assert (await api.delete(f"{CHARACTERS}/{character['id']}", headers=user)).status_code == 204
    assert (await api.get(STORIES, headers=user)).json()["items"] == []
