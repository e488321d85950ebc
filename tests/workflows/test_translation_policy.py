"""TRANSLATION_POLICY: `warn` renders untranslated with a warning (the other tests); `wait` holds the job,
saying so, until Gemini answers; `fail` refuses the job before any GPU work and gives the credits back."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
from temporalio.client import Client

from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack.gemini_endpoint import FakeGemini, answer, error
from tests.helpers.jobs import create_character, done, renders, wait_for
from tests.helpers.prompts import REM_ANSWER
from worker_cpu.worker import build_cpu_worker

AVATAR = "/api/v1/image-generation/avatar"


async def start(api: httpx.AsyncClient) -> dict[str, Any]:
    character = await create_character(api)
    response = await api.post(AVATAR, json={"characterId": character["id"]})
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


async def test_wait_holds_the_job_saying_so_until_gemini_answers(
    api: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    store: ObjectStore,
    gemini: FakeGemini,
    gemini_settings: Settings,
    gpu_worker: None,
) -> None:
    down = error(503, "UNAVAILABLE", "The model is overloaded", retry_delay="1s")
    gemini.script(*[down] * 8, answer(REM_ANSWER))  # more failures than `warn` would wait through
    settings = gemini_settings.model_copy(update={"translation_policy": "wait"})
    async with build_cpu_worker(client, pool, store, settings):
        accepted = await start(api)
        waiting = await wait_for(api, accepted["jobId"], lambda s: s["stage"] == "waiting_for_translation")
        assert "Gemini" in waiting["waiting"] and waiting["waitingSince"]
        status = await wait_for(api, accepted["jobId"], done, within=60)
    assert status["status"] == "ready", status
    assert status["warnings"] == []
    assert len(gemini.requests) == 9


async def test_fail_refuses_before_any_gpu_work_and_gives_the_credits_back(
    api: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    store: ObjectStore,
    gemini: FakeGemini,
    gemini_settings: Settings,
    gpu_worker: None,
) -> None:
    gemini.script(error(400, "INVALID_ARGUMENT", "API key not valid"))
    settings = gemini_settings.model_copy(update={"translation_policy": "fail"})
    before = await renders(settings.comfyui_url)
    async with build_cpu_worker(client, pool, store, settings):
        accepted = await start(api)
        status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "failed"
    assert "TRANSLATION_POLICY=fail" in status["error"] and "no credits were charged" in status["error"]
    hold = await pool.fetchval("select status from credit_holds where workflow_id = $1", accepted["workflowId"])
    assert hold == "released"
    assert await renders(settings.comfyui_url) == before


async def test_fail_without_a_gemini_key_says_so(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    strict = settings.model_copy(update={"translation_policy": "fail"})
    async with build_cpu_worker(client, pool, store, strict):
        accepted = await start(api)
        status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "failed" and "GEMINI_API_KEY is not set" in status["error"]
