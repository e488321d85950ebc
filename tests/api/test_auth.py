"""Every endpoint but health and the docs needs a live API key; keys map to users; admin keys to operators."""

from __future__ import annotations

import re
import uuid

import asyncpg
import httpx
import pytest

from comfyloom.db import api_keys
from tests.auth import as_user

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
