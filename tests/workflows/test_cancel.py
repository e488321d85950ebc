"""DELETE /jobs/{id} at every stage: the job ends `cancelled`, its credits come back, nothing is left staged,
and nothing renders afterwards; a set cancels the stickers still running; an ended job is a 409."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack.gemini_endpoint import FakeGemini, error
from tests.helpers.auth import as_user
from tests.helpers.gpu import staging_left
from tests.helpers.history import record, steps
from tests.helpers.jobs import create_character, done, renders, wait_for
from tests.helpers.parts import LocalParts, running_gpu_worker
from worker_cpu.worker import build_cpu_worker

AVATAR = "/api/v1/image-generation/avatar"


def jobs_url(job_id: str) -> str:
    return f"/api/v1/image-generation/jobs/{job_id}"


async def start_avatar(api: httpx.AsyncClient) -> dict[str, Any]:
    character = await create_character(api)
    response = await api.post(AVATAR, json={"characterId": character["id"], "seed": 5})
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


async def assert_cancelled_and_refunded(
    api: httpx.AsyncClient, pool: asyncpg.Pool, store: ObjectStore, accepted: dict[str, Any]
) -> None:
    status = await wait_for(api, accepted["jobId"], done, within=30)
    assert (status["status"], status["stage"], status["error"]) == ("cancelled", "cancelled", "cancelled")
    hold = await pool.fetchval("select status from credit_holds where workflow_id = $1", accepted["workflowId"])
    assert hold == "released"
    assert await pool.fetchval("select count(*) from images where job_id = $1", uuid.UUID(accepted["jobId"])) == 0
    assert await staging_left(store, accepted["workflowId"]) == []


async def test_cancelled_while_queued_before_any_worker(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    accepted = await start_avatar(api)
    assert (await api.delete(jobs_url(accepted["jobId"]))).status_code == 202
    # The CPU worker that finally runs it finds the cancellation first and only cleans up.
    async with build_cpu_worker(client, pool, store, settings):
        await assert_cancelled_and_refunded(api, pool, store, accepted)
    history = await client.get_workflow_handle(accepted["workflowId"]).fetch_history()
    # Nothing reached a task queue but the compensation; open_job, a local activity, may have been tried
    # in the very workflow task that saw the cancellation.
    assert [name for name, _ in steps(client, history) if name != "open_job"] == ["fail_job"]
    await record(client, accepted["workflowId"], "avatar_cancelled_before_any_worker")


async def test_cancelled_while_building_the_prompt(
    api: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    store: ObjectStore,
    gemini: FakeGemini,
    gemini_settings: Settings,
) -> None:
    gemini.script(*[error(503, "UNAVAILABLE", "overloaded")] * 5)
    async with build_cpu_worker(client, pool, store, gemini_settings):
        accepted = await start_avatar(api)
        await wait_for(api, accepted["jobId"], lambda s: s["stage"] == "building_prompt" and gemini.requests)
        assert (await api.delete(jobs_url(accepted["jobId"]))).status_code == 202
        await assert_cancelled_and_refunded(api, pool, store, accepted)


@pytest.mark.usefixtures("cpu_worker")
async def test_cancelled_while_waiting_for_a_gpu(
    api: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    store: ObjectStore,
    settings: Settings,
    local_parts: LocalParts,
) -> None:
    accepted = await start_avatar(api)
    await wait_for(api, accepted["jobId"], lambda s: s["stage"] == "waiting_for_gpu")
    before = await renders(local_parts.comfyui_url)
    assert (await api.delete(jobs_url(accepted["jobId"]))).status_code == 202
    await assert_cancelled_and_refunded(api, pool, store, accepted)
    # A GPU worker that comes up afterwards finds nothing to render.
    async with running_gpu_worker(client, settings):
        assert (await wait_for(api, accepted["jobId"], done))["status"] == "cancelled"
    assert await renders(local_parts.comfyui_url) == before
    await record(client, accepted["workflowId"], "avatar_cancelled_waiting_for_gpu")


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_cancelling_a_set_cancels_its_stickers_and_refunds_each(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, local_parts: LocalParts
) -> None:
    character = await create_character(api)
    seed = 5_150_000  # each sticker's own slow render (a set's seeds count up), whatever else the simulator draws
    async with httpx.AsyncClient() as http:
        for i in range(8):
            slow = {"kind": "slow", "seconds": 3.0, "seed": seed + i}
            (await http.post(f"{local_parts.comfyui_url}/sim/faults", json=slow)).raise_for_status()
    bulk = {"characterId": character["id"], "seed": seed}
    accepted = (await api.post("/api/v1/image-generation/stickers/bulk", json=bulk)).json()
    await wait_for(api, accepted["jobId"], lambda s: any(x["status"] == "running" for x in s["stickers"] or []))
    assert (await api.delete(jobs_url(accepted["jobId"]))).status_code == 202
    status = await wait_for(api, accepted["jobId"], done, within=60)
    assert status["status"] == "cancelled"
    assert {s["status"] for s in status["stickers"]} <= {"cancelled", "ready"}
    assert any(s["status"] == "cancelled" for s in status["stickers"])
    holds = await pool.fetch(
        "select h.status, j.status as job from credit_holds h join generation_jobs j on j.id = h.job_id"
        " where j.set_id = $1",
        uuid.UUID(accepted["jobId"]),
    )
    assert len(holds) == 8
    assert all((h["status"], h["job"]) in {("charged", "ready"), ("released", "cancelled")} for h in holds), holds
    await record(client, accepted["workflowId"], "sticker_set_cancelled")
    async with httpx.AsyncClient() as http:  # leave no slow fault for later tests
        await http.delete(f"{local_parts.comfyui_url}/sim/faults")


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_an_ended_job_cannot_be_cancelled_and_another_users_is_not_found(api: httpx.AsyncClient) -> None:
    accepted = await start_avatar(api)
    assert (await wait_for(api, accepted["jobId"], done))["status"] == "ready"
    ended = await api.delete(jobs_url(accepted["jobId"]))
    assert ended.status_code == 409 and ended.json()["error"]["type"] == "already_finished"
    theirs = await api.delete(jobs_url(accepted["jobId"]), headers=as_user("user-2"))
    assert theirs.status_code == 404
