"""Starting jobs through the API as a client does, and waiting for them to reach a state."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from tests.helpers.auth import as_user

CHARACTER = {
    "name": "Rem Dragneel",
    "description": "Uma oni de cabelo azul, olhos azuis, baixinha e gentil.",
    "visualFeatures": {"gender": "female", "hair": "blue hair", "eyes": "blue eyes, heterochromia", "body": "slender"},
}


async def create_character(api: httpx.AsyncClient, user: str = "user-1") -> dict[str, Any]:
    response = await api.post("/api/v1/characters", json=CHARACTER, headers=as_user(user))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def start_avatar(api: httpx.AsyncClient, user: str = "user-1") -> dict[str, Any]:
    """A new character of `user`'s and an avatar of it: the 202's body."""
    character = await create_character(api, user)
    response = await api.post(
        "/api/v1/image-generation/avatar", json={"characterId": character["id"]}, headers=as_user(user)
    )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


async def wait_for(
    api: httpx.AsyncClient, job_id: str, predicate: Any, within: float = 60, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        status = (await api.get(f"/api/v1/image-generation/status/{job_id}", headers=headers)).json()
        if predicate(status):
            return status  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"timed out; last status {status}"
        await asyncio.sleep(0.1)


def done(status: dict[str, Any]) -> bool:
    return status["status"] in ("ready", "failed", "cancelled")


async def post(api: httpx.AsyncClient, path: str, body: dict[str, Any], user: str = "user-1") -> httpx.Response:
    return await api.post(path, json=body, headers=as_user(user))


async def renders(comfy: str) -> int:
    async with httpx.AsyncClient() as http:
        count: int = (await http.get(f"{comfy}/sim/stats")).json()["renders"]
    return count


def rendering(status: dict[str, Any]) -> bool:
    """The job is rendering, and ComfyUI has reported a sampler step."""
    return status["stage"] == "rendering" and bool((status.get("progress") or {}).get("step"))


async def run_of(client: Client, workflow_id: str, within: float = 10) -> WorkflowHandle[Any, Any]:
    """The job's run, once it exists: the API answers 202 when the job is admitted and starts the run right
    after (api/launcher.py)."""
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + within
    while True:
        try:
            await handle.describe()
            return handle
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def terminate_runs_of(pool: asyncpg.Pool, client: Client, users: list[str]) -> None:
    """Every run the users' jobs started, once no start of theirs is still on its way: a job a test left
    unfinished (no worker drew it) must not be taken by a later test's worker."""
    for _ in range(100):
        if not await pool.fetchval("select count(*) from workflow_starts where user_id = any($1::text[])", users):
            break
        await asyncio.sleep(0.1)
    rows = await pool.fetch(
        "select workflow_id from generation_jobs where user_id = any($1::text[]) and status in ('queued', 'running')",
        users,
    )
    for row in rows:
        try:
            await client.get_workflow_handle(row["workflow_id"]).terminate("the test is over")
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
