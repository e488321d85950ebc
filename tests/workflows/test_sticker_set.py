"""A bulk sticker set: eight child workflows, a partial failure reported per sticker, and a retry that
renders only the failed sticker again."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from temporalio.client import Client

from tests.helpers.auth import as_user
from tests.helpers.history import record
from tests.helpers.jobs import create_character, done, renders, wait_for
from tests.helpers.parts import LocalParts

USER = as_user("user-1")
EIGHT = ["happy", "sad", "angry", "surprised", "shy", "laughing", "crying", "thinking"]


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_failed_sticker_is_retried_without_redoing_the_good_ones(
    api: httpx.AsyncClient, client: Client, local_parts: LocalParts
) -> None:
    character = await create_character(api)
    comfy = local_parts.comfyui_url
    async with httpx.AsyncClient() as http:
        # The first sticker to reach the decoder fails; the other seven render.
        await http.post(f"{comfy}/sim/faults", json={"kind": "fail", "node": "8", "message": "decoder exploded"})
    before = await renders(comfy)
    response = await api.post(
        "/api/v1/image-generation/stickers/bulk", json={"characterId": character["id"]}, headers=USER
    )
    assert response.status_code == 202, response.text
    accepted = response.json()

    status = await wait_for(api, accepted["jobId"], done, within=120)
    assert status["kind"] == "sticker_set" and status["status"] == "failed"
    stickers: list[dict[str, Any]] = status["stickers"]
    assert [s["emotion"] for s in stickers] == EIGHT
    [failed] = [s for s in stickers if s["status"] == "failed"]
    assert "node 8 (VAEDecode) raised RuntimeError" in failed["error"]
    assert status["error"].startswith(f"1 of 8 stickers failed ({failed['emotion']}: ")
    good = {s["emotion"]: s for s in stickers if s["status"] == "ready"}
    assert len(good) == 7 and all(s["resultUrl"].endswith(".webp") for s in good.values())
    assert await renders(comfy) - before == 7

    # Children have deterministic, readable ids under the set's.
    child = client.get_workflow_handle(f"{accepted['workflowId']}-{failed['emotion']}-{failed['jobId'][:8]}")
    assert (await child.describe()).status is not None

    retried = await api.post(f"/api/v1/image-generation/stickers/bulk/{accepted['jobId']}/retry", headers=USER)
    assert retried.status_code == 202, retried.text
    status = await wait_for(api, accepted["jobId"], done, within=60)
    assert status["status"] == "ready", status
    assert status["error"] is None
    after = {s["emotion"]: s for s in status["stickers"]}
    assert all(after[e]["status"] == "ready" for e in EIGHT)
    assert after[failed["emotion"]]["jobId"] != failed["jobId"]
    assert all(after[e]["jobId"] == good[e]["jobId"] for e in good), "good stickers are never redone"
    assert await renders(comfy) - before == 8
    await record(client, accepted["workflowId"], "sticker_set_failed_then_retried")
    await record(
        client, f"{accepted['workflowId']}-{failed['emotion']}-{failed['jobId'][:8]}", "sticker_of_a_set_failed"
    )

    again = await api.post(f"/api/v1/image-generation/stickers/bulk/{accepted['jobId']}/retry", headers=USER)
    assert again.status_code == 409 and again.json()["error"]["type"] == "nothing_to_retry"


async def test_a_set_names_its_emotions_once_each(api: httpx.AsyncClient) -> None:
    character = await create_character(api)
    response = await api.post(
        "/api/v1/image-generation/stickers/bulk",
        json={"characterId": character["id"], "emotions": ["feliz", "happy"]},
        headers=USER,
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "emotions"
