"""An app's backend acts for its users with one service key: it names them in X-On-Behalf-Of, keeps its own
ids for characters and stories, and reaches no other app's users; a user key reaches only itself."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from comfyloom.storage import ObjectStore
from tests.helpers.auth import as_user
from tests.helpers.jobs import CHARACTER, done, wait_for

CHARACTERS = "/api/v1/characters"
ADMIN = as_user("ops", admin=True)


async def service_key(api: httpx.AsyncClient, tenant: str) -> str:
    created = await api.post("/api/v1/admin/api-keys", json={"tenant": tenant, "name": "backend"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.json()["tenant"] == tenant and created.json()["userId"] is None
    assert created.json()["webhookSecret"].startswith("whsec_")
    secret: str = created.json()["key"]
    return secret


def acting(secret: str, app_user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", "X-On-Behalf-Of": app_user}


async def test_a_service_key_keeps_its_apps_ids_and_renders_for_its_users(
    api: httpx.AsyncClient, pool: asyncpg.Pool, store: ObjectStore, cpu_worker: None, gpu_worker: None
) -> None:
    secret = await service_key(api, "chatapp")
    maria = acting(secret, "maria-77")

    first = await api.put(f"{CHARACTERS}/by-external-id/char:9001", json=CHARACTER, headers=maria)
    assert first.status_code == 201, first.text
    renamed = await api.put(f"{CHARACTERS}/by-external-id/char:9001", json={**CHARACTER, "name": "Rem"}, headers=maria)
    assert renamed.status_code == 200
    character: dict[str, Any] = renamed.json()
    assert (character["id"], character["name"], character["externalId"]) == (first.json()["id"], "Rem", "char:9001")
    found = await api.get(f"{CHARACTERS}/by-external-id/char:9001", headers=maria)
    assert found.json()["id"] == character["id"]
    again = await api.post(CHARACTERS, json={**CHARACTER, "externalId": "char:9001"}, headers=maria)
    assert again.status_code == 409 and again.json()["error"]["fields"][0]["field"] == "externalId"

    # The app sells Maria credits; she has none until then.
    credits = await api.get("/api/v1/credits", headers=maria)
    assert credits.json()["balance"] == 0
    granted = await api.post("/api/v1/credits/grants", json={"amount": 5, "note": "order 12"}, headers=maria)
    assert granted.status_code == 200 and granted.json()["balance"] == 5

    accepted = await api.post("/api/v1/image-generation/avatar", json={"characterId": character["id"]}, headers=maria)
    assert accepted.status_code == 202, accepted.text
    status = await wait_for(api, accepted.json()["jobId"], done, headers=maria)
    assert status["status"] == "ready", status
    # Every row the key made is Maria's, as this service knows her: her app's id under its tenant.
    user = "chatapp.maria-77"
    first_key = await pool.fetchval("select first_key_id from app_users where user_id = $1", user)
    assert first_key == await pool.fetchval("select id from api_keys where tenant = 'chatapp'")
    for table in ("characters", "generation_jobs", "images", "credit_ledger"):
        owners = await pool.fetch(f"select distinct user_id from {table} where user_id like 'chatapp.%'")
        assert [r["user_id"] for r in owners] == [user], table
    assert await store.list_keys(f"characters/{user}/{character['id']}/")
    assert (await api.get("/api/v1/credits", headers=maria)).json()["balance"] == 0


async def test_no_key_reaches_another_apps_users_or_another_user(api: httpx.AsyncClient) -> None:
    app_a, app_b = await service_key(api, "app-a"), await service_key(api, "app-b")
    made = await api.put(f"{CHARACTERS}/by-external-id/hero", json=CHARACTER, headers=acting(app_a, "u1"))
    assert made.status_code == 201
    hero = made.json()["id"]

    # Another user of the same app, and the same user id in another app: neither sees the character.
    for other in (acting(app_a, "u2"), acting(app_b, "u1")):
        assert (await api.get(f"{CHARACTERS}/{hero}", headers=other)).status_code == 404
        assert (await api.get(f"{CHARACTERS}/by-external-id/hero", headers=other)).status_code == 404
        assert (await api.get(CHARACTERS, headers=other)).json()["items"] == []
    # The other app's "u1" with the same external id gets a character of its own.
    theirs = await api.put(f"{CHARACTERS}/by-external-id/hero", json=CHARACTER, headers=acting(app_b, "u1"))
    assert theirs.status_code == 201 and theirs.json()["id"] != hero
    # An app's user id cannot be had as a plain user's key: user ids have no '.'.
    spoof = await api.post("/api/v1/admin/api-keys", json={"userId": "app-a.u1"}, headers=ADMIN)
    assert spoof.status_code == 422

    # A user key cannot act for anyone; a service key must name its user, and is no operator.
    as_someone = await api.get(CHARACTERS, headers={**as_user("user-1"), "X-On-Behalf-Of": "u1"})
    assert as_someone.status_code == 403 and as_someone.json()["error"]["fields"][0]["field"] == "X-On-Behalf-Of"
    unnamed = await api.get(CHARACTERS, headers={"Authorization": f"Bearer {app_a}"})
    assert unnamed.status_code == 422 and unnamed.json()["error"]["fields"][0]["field"] == "X-On-Behalf-Of"
    malformed = await api.get(CHARACTERS, headers=acting(app_a, "u1.other"))
    assert malformed.status_code == 422
    assert (
        await api.post("/api/v1/admin/api-keys", json={"userId": "x"}, headers=acting(app_a, "u1"))
    ).status_code == 403
    # Granting credits is the app's, for its own users; a user cannot grant itself any.
    assert (await api.post("/api/v1/credits/grants", json={"amount": 5})).status_code == 403
    mine = await api.post("/api/v1/credits/grants", json={"amount": 3}, headers=acting(app_b, "u1"))
    assert mine.json()["userId"] == "app-b.u1"
    assert (await api.get("/api/v1/credits", headers=acting(app_a, "u1"))).json()["balance"] == 0
