"""Credits: held at admission, charged with the image, released on failure; never overdrawn, even by many
requests at once; a set refunds the share of each sticker that failed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from comfyloom.db import credits
from tests.helpers.auth import as_user
from tests.helpers.jobs import CHARACTER, done, wait_for
from tests.helpers.parts import LocalParts

AVATAR = "/api/v1/image-generation/avatar"
SEED = 4_242_000


async def funded_user(api: httpx.AsyncClient, pool: asyncpg.Pool, amount: int) -> tuple[str, dict[str, str], str]:
    """A user of this test alone with exactly `amount` credits (test users start rich), and a character."""
    user = f"payer-{uuid.uuid4().hex[:8]}"
    headers = as_user(user)
    character = await api.post("/api/v1/characters", json=CHARACTER, headers=headers)
    account = await credits.balance(pool, user)
    async with pool.acquire() as conn:
        await credits.grant(conn, user, amount - account.balance, "test")
    return user, headers, character.json()["id"]


async def inject(local_parts: LocalParts, message: str, seed: int) -> None:
    """The render with `seed` fails at the decoder (other tests' runs may render on the same simulator)."""
    async with httpx.AsyncClient() as http:
        fault = {"kind": "fail", "node": "8", "message": message, "seed": seed}
        (await http.post(f"{local_parts.comfyui_url}/sim/faults", json=fault)).raise_for_status()


async def failed_avatar(
    api: httpx.AsyncClient, pool: asyncpg.Pool, local_parts: LocalParts, *, amount: int, seed: int
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A user with `amount` credits, and their avatar, which failed at the decoder: the user, their headers, the
    job as accepted."""
    user, headers, character = await funded_user(api, pool, amount)
    await inject(local_parts, "decoder exploded", seed=seed)
    accepted: dict[str, Any] = (
        await api.post(AVATAR, json={"characterId": character, "seed": seed}, headers=headers)
    ).json()
    assert (await wait_for(api, accepted["jobId"], done, headers=headers))["status"] == "failed"
    return user, headers, accepted


async def account(api: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.get("/api/v1/credits", headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_an_avatar_is_charged_once_when_it_is_ready(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    _, headers, character = await funded_user(api, pool, 12)
    accepted = (await api.post(AVATAR, json={"characterId": character}, headers=headers)).json()
    held = await account(api, headers)
    assert (held["balance"], held["reserved"]) in ((7, 5), (7, 0))
    status = await wait_for(api, accepted["jobId"], done, headers=headers)
    assert status["status"] == "ready"
    after = await account(api, headers)
    assert (after["balance"], after["reserved"]) == (7, 0)
    assert after["prices"] == {"avatar": 5, "sticker": 3, "stickerSet": 20, "cover": 8, "scene": 5}
    # One hold, though both the API and the workflow asked for it.
    assert [(e["entry"], e["amount"]) for e in after["ledger"][:2]] == [("hold", -5), ("grant", 12 - 1_000_000)]
    assert after["ledger"][0]["workflowId"] == accepted["workflowId"]


async def test_a_short_balance_is_a_402_with_balance_and_price(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    user, headers, character = await funded_user(api, pool, 4)
    response = await api.post(AVATAR, json={"characterId": character}, headers=headers)
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["type"], error["balance"], error["price"]) == ("insufficient_credits", 4, 5)
    cover = await api.post("/api/v1/image-generation/cover", json={"title": "Sem dinheiro"}, headers=headers)
    assert cover.status_code == 402 and cover.json()["error"]["price"] == 8
    # Nothing was started or saved: no job, no hold, no story.
    for table in ("generation_jobs", "credit_holds", "stories"):
        assert await pool.fetchval(f"select count(*) from {table} where user_id = $1", user) == 0


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_many_simultaneous_requests_never_overdraw(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    _, headers, character = await funded_user(api, pool, 23)
    responses = await asyncio.gather(
        *(api.post(AVATAR, json={"characterId": character, "seed": i}, headers=headers) for i in range(12))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] * 4 + [402] * 8, codes
    assert (await account(api, headers))["balance"] == 3
    for response in responses:
        if response.status_code == 202:
            assert (await wait_for(api, response.json()["jobId"], done, headers=headers))["status"] == "ready"
    after = await account(api, headers)
    assert (after["balance"], after["reserved"]) == (3, 0)


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_failed_render_gives_the_credits_back(
    api: httpx.AsyncClient, pool: asyncpg.Pool, local_parts: LocalParts
) -> None:
    _, headers, _ = await failed_avatar(api, pool, local_parts, amount=5, seed=SEED)
    after = await account(api, headers)
    assert (after["balance"], after["reserved"]) == (5, 0)
    assert [(e["entry"], e["amount"]) for e in after["ledger"][:2]] == [("release", 5), ("hold", -5)]
    assert "node 8 (VAEDecode) raised RuntimeError" in after["ledger"][0]["note"]


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_set_charges_its_price_and_refunds_each_failed_stickers_share(
    api: httpx.AsyncClient, pool: asyncpg.Pool, local_parts: LocalParts
) -> None:
    _, headers, character = await funded_user(api, pool, 20)
    await inject(local_parts, "one bad sticker", seed=SEED + 3)  # the fourth sticker: a set's seeds count up
    bulk = "/api/v1/image-generation/stickers/bulk"
    accepted = (await api.post(bulk, json={"characterId": character, "seed": SEED}, headers=headers)).json()
    status = await wait_for(api, accepted["jobId"], done, within=90, headers=headers)
    [failed] = [s for s in status["stickers"] if s["status"] == "failed"]
    share = await pool.fetchval("select amount from credit_holds where job_id = $1", uuid.UUID(failed["jobId"]))
    assert share in (2, 3)
    after = await account(api, headers)
    assert (after["balance"], after["reserved"]) == (share, 0)
    holds = await pool.fetch(
        "select h.status, h.amount from credit_holds h join generation_jobs j on j.id = h.job_id where j.set_id = $1",
        uuid.UUID(accepted["jobId"]),
    )
    assert sorted(h["status"] for h in holds) == ["charged"] * 7 + ["released"]
    assert sum(h["amount"] for h in holds) == 20


async def test_operators_grant_credits_and_users_cannot(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    admin = as_user("ops", admin=True)
    user = f"granted-{uuid.uuid4().hex[:6]}"
    grant = {"userId": user, "amount": 50, "note": "welcome"}
    granted = await api.post("/api/v1/admin/credits", json=grant, headers=admin)
    assert granted.status_code == 200 and granted.json()["balance"] == 50
    overdraw = await api.post("/api/v1/admin/credits", json={"userId": user, "amount": -51}, headers=admin)
    assert overdraw.status_code == 402 and overdraw.json()["error"]["fields"][0]["field"] == "amount"
    assert (await api.get(f"/api/v1/admin/credits/{user}", headers=admin)).json()["balance"] == 50
    assert (await api.post("/api/v1/admin/credits", json={"userId": user, "amount": 5})).status_code == 403
