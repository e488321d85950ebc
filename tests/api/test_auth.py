"""Every endpoint but health and the docs needs a live API key; keys map to users; admin keys to operators."""

from __future__ import annotations

import re
import uuid

import asyncpg
import httpx
import pytest

from comfyloom.db import api_keys, jobs
from tests.helpers.auth import as_user

OPEN = {"/api/v1/image-generation/health"}


async def test_every_endpoint_but_health_refuses_a_request_without_a_key(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    checked = 0
    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        for path, operations in spec["paths"].items():
            if path in OPEN:
                continue
            url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
            for method in operations:
                response = await anonymous.request(method, url, json={})
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["www-authenticate"] == "Bearer"
                assert response.json()["error"]["type"] == "unauthorized"
                wrong = await anonymous.request(method, url, json={}, headers={"Authorization": "Bearer cl_nope"})
                assert wrong.status_code == 401, (method, path)
                checked += 1
        assert (await anonymous.get("/api/v1/image-generation/health")).status_code in (200, 503)
        assert (await anonymous.get("/docs")).status_code == 200
    assert checked >= 15


async def test_a_revoked_key_stops_working(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    key, secret = await api_keys.create(pool, user_id="revokee")
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await api.post("/api/v1/stories", json={"title": "T"}, headers=headers)).status_code == 201
    assert await api_keys.revoke(pool, key.id)
    refused = await api.post("/api/v1/stories", json={"title": "T"}, headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    stored = await pool.fetchrow("select key_hash, prefix from api_keys where id = $1", key.id)
    assert stored is not None and secret not in (stored["key_hash"], stored["prefix"])


async def test_an_operator_creates_keys_and_a_user_cannot(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/v1/admin/api-keys", json={"userId": "newcomer"}, headers=as_user("ops", admin=True))
    assert created.status_code == 201, created.text
    secret = created.json()["key"]
    story = await api.post("/api/v1/stories", json={"title": "Mine"}, headers={"Authorization": f"Bearer {secret}"})
    assert story.status_code == 201
    # The new key acts as the newcomer: user-1 cannot see the story.
    assert (await api.get(f"/api/v1/stories/{story.json()['id']}")).status_code == 404

    denied = await api.post("/api/v1/admin/api-keys", json={"userId": "x"})
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "forbidden"


@pytest.mark.parametrize("user", ["../etc", "a/b", "", "x" * 65])
async def test_a_user_id_that_cannot_be_an_object_key_segment_gets_no_key(
    api: httpx.AsyncClient, pool: asyncpg.Pool, user: str
) -> None:
    response = await api.post("/api/v1/admin/api-keys", json={"userId": user}, headers=as_user("ops", admin=True))
    assert response.status_code == 422 and response.json()["error"]["fields"][0]["field"] == "userId"
    with pytest.raises(ValueError, match="must be 1-64 letters"):
        await api_keys.create(pool, user_id=user)


async def test_no_endpoint_shows_or_touches_another_users_things(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    """Everything below belongs to user-1; user-2 gets the same 404 as for an id that does not exist."""
    character = (await api.post("/api/v1/characters", json={"name": "A", "description": "b"})).json()["id"]
    story = (await api.post("/api/v1/stories", json={"title": "T"})).json()["id"]
    job = await jobs.create_job(
        pool,
        job_id=uuid.uuid4(),
        user_id="user-1",
        kind="avatar",
        character_id=None,
        workflow_id=f"w-{uuid.uuid4()}",
        request={},
    )
    sticker_set = await jobs.create_job(
        pool,
        job_id=uuid.uuid4(),
        user_id="user-1",
        kind="sticker_set",
        character_id=None,
        workflow_id=f"w-{uuid.uuid4()}",
        request={},
    )
    await jobs.mark_failed(pool, sticker_set.id, "x")
    base = "/api/v1/image-generation"
    requests: list[tuple[str, str, dict[str, object] | None]] = [
        ("GET", f"/api/v1/characters/{character}", None),
        ("GET", f"/api/v1/characters/{character}/images", None),
        ("GET", f"/api/v1/stories/{story}", None),
        ("GET", f"/api/v1/stories/{story}/images", None),
        ("POST", f"/api/v1/stories/{story}/generate-cover", {}),
        ("POST", f"{base}/avatar", {"characterId": character}),
        ("POST", f"{base}/sticker", {"characterId": character, "emotion": "happy"}),
        ("POST", f"{base}/stickers/bulk", {"characterId": character}),
        ("POST", f"{base}/cover", {"storyId": story}),
        ("POST", f"{base}/cover", {"title": "T", "characterIds": [character]}),
        ("POST", f"{base}/scene", {"context": "praia", "characterIds": [character]}),
        ("POST", f"{base}/scene", {"context": "praia", "storyId": story}),
        ("POST", f"{base}/stickers/bulk/{sticker_set.id}/retry", None),
        ("GET", f"{base}/status/{job.id}", None),
        ("DELETE", f"{base}/jobs/{job.id}", None),
        ("GET", f"{base}/jobs/{job.id}/events", None),
    ]
    intruder = as_user("user-2")
    for method, url, body in requests:
        response = await api.request(method, url, json=body, headers=intruder)
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["error"]["type"] == "not_found"
    listed = (await api.get(f"{base}/jobs", headers=intruder)).json()["items"]
    assert str(job.id) not in {item["jobId"] for item in listed}
    assert (await api.get(f"{base}/status/{job.id}")).status_code == 200  # the owner still sees it
