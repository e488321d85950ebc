"""An API that dies between admitting a job (its row, its credit hold) and starting its workflow strands
nothing: the same request sent again starts it, and so does the CPU worker's sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

import api.generation
import api.sticker_sets
from comfyloom import start_outbox
from comfyloom.settings import Settings
from tests.helpers.auth import as_user
from tests.helpers.jobs import create_character, done, wait_for
from tests.helpers.parts import serve_api
from tests.helpers.webhooks import accepted_within, serving_receiver


class Crash(BaseException):
    """The process dying: nothing after this point runs, not even the API's error handling."""


@pytest.fixture
async def crashing_api(
    settings: Settings, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """An API that dies right after the admission transaction commits, before the workflow starts."""

    async def die(*args: Any, **kwargs: Any) -> None:
        raise Crash

    monkeypatch.setattr(api.generation, "launch", die)
    monkeypatch.setattr(api.sticker_sets, "launch", die)
    async with serve_api(settings, pool) as http:
        yield http


async def stranded_avatar(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, key: str, **fields: str
) -> dict[str, Any]:
    character = await create_character(api)
    body = {"characterId": character["id"], **fields}
    with pytest.raises(httpx.HTTPError):
        response = await api.post("/api/v1/image-generation/avatar", json=body, headers={"Idempotency-Key": key})
        response.raise_for_status()
    job = await pool.fetchrow(
        "select j.id, j.workflow_id, j.status, h.status as hold from generation_jobs j"
        " join credit_holds h on h.workflow_id = j.workflow_id where j.idempotency_key = $1",
        key,
    )
    assert job is not None and (job["status"], job["hold"]) == ("queued", "held")
    with pytest.raises(RPCError):
        await client.get_workflow_handle(job["workflow_id"]).describe()
    return {"jobId": str(job["id"]), "workflowId": job["workflow_id"], "body": body}


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_the_same_request_again_starts_a_job_a_crash_left_unstarted(
    crashing_api: httpx.AsyncClient, api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool
) -> None:
    stranded = await stranded_avatar(crashing_api, client, pool, "stranded-retry")
    again = await api.post(
        "/api/v1/image-generation/avatar", json=stranded["body"], headers={"Idempotency-Key": "stranded-retry"}
    )
    assert again.status_code == 202, again.text
    assert again.json()["replayed"] and again.json()["jobId"] == stranded["jobId"]
    status = await wait_for(api, stranded["jobId"], done)
    assert status["status"] == "ready", status
    hold = await pool.fetchval("select status from credit_holds where workflow_id = $1", stranded["workflowId"])
    assert hold == "charged"
    assert await start_outbox.pending_for(pool, stranded["workflowId"]) is None


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_the_sweep_starts_a_job_a_crash_left_unstarted_and_only_once(
    crashing_api: httpx.AsyncClient, api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool
) -> None:
    stranded = await stranded_avatar(crashing_api, client, pool, "stranded-sweep")
    assert stranded["workflowId"] not in await start_outbox.sweep(pool, client), "younger than the grace: left alone"
    assert stranded["workflowId"] in await start_outbox.sweep(pool, client, grace=timedelta(0))
    status = await wait_for(api, stranded["jobId"], done)
    assert status["status"] == "ready", status
    assert await start_outbox.sweep(pool, client, grace=timedelta(0)) == []
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{stranded['workflowId']}'")]
    assert len(runs) == 1


@pytest.mark.usefixtures("cpu_worker")
async def test_a_job_cancelled_before_its_workflow_started_is_never_started(
    crashing_api: httpx.AsyncClient, api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool
) -> None:
    stranded = await stranded_avatar(crashing_api, client, pool, "stranded-cancelled")
    cancelled = await api.delete(f"/api/v1/image-generation/jobs/{stranded['jobId']}")
    assert cancelled.status_code == 202, cancelled.text
    assert stranded["workflowId"] not in await start_outbox.sweep(pool, client, grace=timedelta(0))
    status = (await api.get(f"/api/v1/image-generation/status/{stranded['jobId']}")).json()
    assert status["status"] == "cancelled"
    hold = await pool.fetchval("select status from credit_holds where workflow_id = $1", stranded["workflowId"])
    assert hold == "released"
    with pytest.raises(RPCError):
        await client.get_workflow_handle(stranded["workflowId"]).describe()


@pytest.mark.usefixtures("cpu_worker")
async def test_a_job_cancelled_before_its_workflow_started_tells_its_webhook(
    crashing_api: httpx.AsyncClient, api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool
) -> None:
    async with serving_receiver(api) as hook:
        stranded = await stranded_avatar(crashing_api, client, pool, "stranded-told", webhookUrl=hook.url)
        assert (await api.delete(f"/api/v1/image-generation/jobs/{stranded['jobId']}")).status_code == 202
        await accepted_within(hook, 30)
        [event] = hook.accepted
        assert event["type"] == "job.cancelled" and event["data"]["jobId"] == stranded["jobId"]
        assert hook.forged == 0
    # The delivery's run is not a job's: it carries no job search attributes, so no listing shows it queued.
    [delivery] = [w async for w in client.list_workflows(f"WorkflowId = 'webhook-cancel-{stranded['jobId']}'")]
    assert "JobStatus" not in delivery.search_attributes
    assert await start_outbox.sweep(pool, client, grace=timedelta(0)) == []


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_start_already_on_its_way_when_the_job_is_cancelled_renders_nothing(
    crashing_api: httpx.AsyncClient, api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool
) -> None:
    stranded = await stranded_avatar(crashing_api, client, pool, "stranded-raced")
    on_its_way = await start_outbox.pending_for(pool, stranded["workflowId"])  # a sweep read it just before
    assert on_its_way is not None
    assert (await api.delete(f"/api/v1/image-generation/jobs/{stranded['jobId']}")).status_code == 202
    await start_outbox.launch(pool, client, on_its_way)
    with pytest.raises(WorkflowFailureError) as failed:
        await client.get_workflow_handle(stranded["workflowId"]).result()
    assert "cancelled before its run began" in str(failed.value.cause.__cause__ or failed.value.cause)
    status = (await api.get(f"/api/v1/image-generation/status/{stranded['jobId']}")).json()
    assert status["status"] == "cancelled"
    hold = await pool.fetchval("select status from credit_holds where workflow_id = $1", stranded["workflowId"])
    assert hold == "released"
    assert await pool.fetchval("select count(*) from images where job_id = $1", stranded["jobId"]) == 0


async def test_a_set_cancelled_before_its_run_began_gives_every_stickers_credits_back(
    crashing_api: httpx.AsyncClient, api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    user = as_user("stranded-set-user")
    character = await create_character(api, "stranded-set-user")
    before = (await api.get("/api/v1/credits", headers=user)).json()["balance"]
    body = {"characterId": character["id"]}
    with pytest.raises(httpx.HTTPError):
        response = await crashing_api.post(
            "/api/v1/image-generation/stickers/bulk", json=body, headers={**user, "Idempotency-Key": "stranded-set"}
        )
        response.raise_for_status()
    set_id = await pool.fetchval("select id from generation_jobs where idempotency_key = 'stranded-set'")
    held = await pool.fetchval(
        "select count(*) from credit_holds h join generation_jobs j on j.workflow_id = h.workflow_id"
        " where j.set_id = $1 and h.status = 'held'",
        set_id,
    )
    assert held == 8
    assert (await api.get("/api/v1/credits", headers=user)).json()["balance"] < before

    cancelled = await api.delete(f"/api/v1/image-generation/jobs/{set_id}", headers=user)
    assert cancelled.status_code == 202, cancelled.text
    status = (await api.get(f"/api/v1/image-generation/status/{set_id}", headers=user)).json()
    assert status["status"] == "cancelled"
    assert [s["status"] for s in status["stickers"]] == ["cancelled"] * 8
    assert (await api.get("/api/v1/credits", headers=user)).json()["balance"] == before
