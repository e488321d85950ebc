"""An API that dies between admitting a job (its row, its credit hold) and starting its workflow strands
nothing: the same request sent again starts it, and so does the CPU worker's sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

import api.generation
from comfyloom import starts
from comfyloom.settings import Settings
from tests.helpers.jobs import create_character, done, wait_for
from tests.helpers.parts import serve_api


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
    async with serve_api(settings, pool) as http:
        yield http


async def stranded_avatar(api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, key: str) -> dict[str, Any]:
    character = await create_character(api)
    body = {"characterId": character["id"]}
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
    assert await starts.pending_for(pool, stranded["workflowId"]) is None


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_the_sweep_starts_a_job_a_crash_left_unstarted_and_only_once(
    crashing_api: httpx.AsyncClient, api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool
) -> None:
    stranded = await stranded_avatar(crashing_api, client, pool, "stranded-sweep")
    assert stranded["workflowId"] not in await starts.sweep(pool, client), "younger than the grace: left alone"
    assert stranded["workflowId"] in await starts.sweep(pool, client, grace=timedelta(0))
    status = await wait_for(api, stranded["jobId"], done)
    assert status["status"] == "ready", status
    assert await starts.sweep(pool, client, grace=timedelta(0)) == []
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{stranded['workflowId']}'")]
    assert len(runs) == 1


@pytest.mark.usefixtures("cpu_worker")
async def test_a_job_cancelled_before_its_workflow_started_is_never_started(
    crashing_api: httpx.AsyncClient, api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool
) -> None:
    stranded = await stranded_avatar(crashing_api, client, pool, "stranded-cancelled")
    cancelled = await api.delete(f"/api/v1/image-generation/jobs/{stranded['jobId']}")
    assert cancelled.status_code == 202, cancelled.text
    assert stranded["workflowId"] not in await starts.sweep(pool, client, grace=timedelta(0))
    status = (await api.get(f"/api/v1/image-generation/status/{stranded['jobId']}")).json()
    assert status["status"] == "cancelled"
    hold = await pool.fetchval("select status from credit_holds where workflow_id = $1", stranded["workflowId"])
    assert hold == "released"
    with pytest.raises(RPCError):
        await client.get_workflow_handle(stranded["workflowId"]).describe()
