"""A request that starts a job is admitted once: a repeat gets the same job back, and per-user limits on
requests per minute and jobs at a time answer 429 with Retry-After."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from comfyloom.settings import Settings
from tests.helpers.auth import as_user
from tests.helpers.jobs import CHARACTER, run_of
from tests.helpers.parts import serve_api

AVATAR = "/api/v1/image-generation/avatar"


class Started:
    """Workflows a test started with no worker to run them: terminated at its end, so no later test runs them."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.ids: set[str] = set()

    def add(self, response: httpx.Response) -> httpx.Response:
        if response.status_code == 202:
            self.ids.add(response.json()["workflowId"])
        return response

    async def terminate(self) -> None:
        for workflow_id in self.ids:
            with contextlib.suppress(RPCError):  # already ended
                await (await run_of(self.client, workflow_id)).terminate("test over")


@pytest.fixture
async def started(client: Client) -> AsyncIterator[Started]:
    tracker = Started(client)
    yield tracker
    await tracker.terminate()


async def new_user(api: httpx.AsyncClient) -> tuple[str, dict[str, str], str]:
    user = f"limited-{uuid.uuid4().hex[:8]}"
    headers = as_user(user)
    character = (await api.post("/api/v1/characters", json=CHARACTER, headers=headers)).json()
    return user, headers, character["id"]


async def test_the_same_idempotency_key_returns_the_same_job(
    api: httpx.AsyncClient, pool: asyncpg.Pool, started: Started
) -> None:
    user, headers, character = await new_user(api)
    keyed = {**headers, "Idempotency-Key": "avatar-attempt-1"}
    answers = await asyncio.gather(
        *(api.post(AVATAR, json={"characterId": character}, headers=keyed) for _ in range(5))
    )
    bodies = [started.add(a).json() for a in answers]
    assert {a.status_code for a in answers} == {202}
    assert len({b["jobId"] for b in bodies}) == 1
    assert sorted(b["replayed"] for b in bodies) == [False] + [True] * 4
    assert await pool.fetchval("select count(*) from generation_jobs where user_id = $1", user) == 1
    assert await pool.fetchval("select count(*) from credit_holds where user_id = $1", user) == 1

    other = await api.post(AVATAR, json={"characterId": character, "seed": 1}, headers=keyed)
    assert other.status_code == 422
    error = other.json()["error"]
    assert error["type"] == "idempotency_key_reused" and error["fields"][0]["field"] == "Idempotency-Key"


async def test_a_repeated_sticker_set_request_is_the_first_set_not_a_server_error(
    api: httpx.AsyncClient, started: Started
) -> None:
    """A set's row has kind `sticker_set`, no image kind: answering a repeat of it once was a 500."""
    _, headers, character = await new_user(api)
    keyed = {**headers, "Idempotency-Key": "set-attempt-1"}
    bulk = "/api/v1/image-generation/stickers/bulk"
    answers = await asyncio.gather(*(api.post(bulk, json={"characterId": character}, headers=keyed) for _ in range(4)))
    assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
    bodies = [started.add(a).json() for a in answers]
    assert len({b["jobId"] for b in bodies}) == 1 and sorted(b["replayed"] for b in bodies) == [False] + [True] * 3
    # Without the key (and no repeat window in the suite's settings): a set of its own.
    again = started.add(await api.post(bulk, json={"characterId": character}, headers=headers))
    assert again.status_code == 202 and again.json()["jobId"] != bodies[0]["jobId"], again.text


async def test_the_same_body_within_the_window_is_one_job(
    settings: Settings, pool: asyncpg.Pool, started: Started
) -> None:
    async with serve_api(settings.model_copy(update={"idempotency_window_seconds": 30}), pool) as api:
        _, headers, character = await new_user(api)
        first = started.add(await api.post(AVATAR, json={"characterId": character}, headers=headers)).json()
        again = started.add(await api.post(AVATAR, json={"characterId": character}, headers=headers)).json()
        other = started.add(await api.post(AVATAR, json={"characterId": character, "seed": 9}, headers=headers))
    assert again["jobId"] == first["jobId"] and again["replayed"]
    assert other.status_code == 202 and other.json()["jobId"] != first["jobId"]


def _wait_for_a_fresh_minute() -> None:
    """The per-minute window is the wall-clock minute: start well inside one."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


async def test_more_requests_a_minute_than_allowed_are_429_with_retry_after(
    settings: Settings, pool: asyncpg.Pool, started: Started
) -> None:
    _wait_for_a_fresh_minute()
    async with serve_api(settings.model_copy(update={"rate_limit_per_minute": 3}), pool) as api:
        _, headers, character = await new_user(api)
        answers = [
            started.add(await api.post(AVATAR, json={"characterId": character, "seed": i}, headers=headers))
            for i in range(5)
        ]
        # Another user has a minute of their own.
        _, other_headers, other_character = await new_user(api)
        other = started.add(await api.post(AVATAR, json={"characterId": other_character}, headers=other_headers))
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
    limited = answers[3]
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert limited.json()["error"] | {"message": ""} == {
        "type": "rate_limited",
        "message": "",
        "retryAfter": retry_after,
    }
    assert other.status_code == 202


async def test_more_jobs_at_a_time_than_allowed_are_429(
    settings: Settings, pool: asyncpg.Pool, client: Client, started: Started
) -> None:
    async with serve_api(settings.model_copy(update={"max_concurrent_jobs": 2}), pool) as api:
        _, headers, character = await new_user(api)

        async def avatar(seed: int) -> httpx.Response:
            return started.add(await api.post(AVATAR, json={"characterId": character, "seed": seed}, headers=headers))

        answers: list[Any] = [await avatar(0), await avatar(1), await avatar(2)]
        assert [a.status_code for a in answers] == [202, 202, 429]
        assert answers[2].json()["error"]["type"] == "too_many_jobs"
        assert answers[2].headers["retry-after"] == "5"
        # Once a job ends, there is room again.
        await (await run_of(client, answers[0].json()["workflowId"])).terminate("done")
        await pool.execute(
            "update generation_jobs set status = 'failed' where id = $1", uuid.UUID(answers[0].json()["jobId"])
        )
        assert (await avatar(3)).status_code == 202
