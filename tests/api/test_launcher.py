"""The 202 goes once a job is admitted, and its run starts right after: a Temporal that refuses the start for
a while delays the run, not the answer, and loses nothing."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client

from comfyloom import start_outbox, temporal
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack import localstack
from tests.helpers.jobs import create_character, done, run_of, wait_for
from tests.helpers.parts import running_gpu_worker, serve_api
from worker_cpu.worker import build_cpu_worker


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_start_temporal_refuses_at_first_is_tried_again_and_the_job_renders(
    settings: Settings, pool: asyncpg.Pool, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    tries: list[float] = []
    real_launch = start_outbox.launch

    async def refused_twice(*args: Any, **kwargs: Any) -> None:
        tries.append(time.monotonic())
        if len(tries) <= 2:
            raise RuntimeError("Temporal is restarting")
        await real_launch(*args, **kwargs)

    monkeypatch.setattr(start_outbox, "launch", refused_twice)
    async with serve_api(settings, pool) as http:
        character = await create_character(http)
        response = await http.post("/api/v1/image-generation/avatar", json={"characterId": character["id"]})
        answered = time.monotonic()
        assert response.status_code == 202, response.text
        accepted = response.json()
        early = (await http.get(f"/api/v1/image-generation/status/{accepted['jobId']}")).json()
        assert early["status"] == "queued"
        status = await wait_for(http, accepted["jobId"], done)
    assert status["status"] == "ready", status
    assert len(tries) == 3 and tries[0] >= answered - 1 and tries[-1] > answered  # the run started after the 202
    assert await start_outbox.pending_for(pool, accepted["workflowId"]) is None
    await (await run_of(client, accepted["workflowId"])).result()


async def test_an_api_started_while_temporal_is_away_admits_jobs_that_render_once_it_is_back(
    tmp_path: Path, settings: Settings, pool: asyncpg.Pool, store: ObjectStore
) -> None:
    port, ui_port = localstack.free_port(), localstack.free_port()
    away = settings.model_copy(update={"temporal_address": f"127.0.0.1:{port}"})
    async with serve_api(away, pool) as http:  # once, this start failed: the API exited with code 3
        health = (await http.get("/api/v1/image-generation/health")).json()
        assert health["status"] == "unavailable" and not health["temporal"]["ok"]
        character = await create_character(http)
        response = await http.post("/api/v1/image-generation/avatar", json={"characterId": character["id"]})
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert (await http.get(f"/api/v1/image-generation/status/{accepted['jobId']}")).json()["status"] == "queued"
        server = localstack.start_temporal(port=port, ui_port=ui_port, db_file=tmp_path / "t.db", log_dir=tmp_path)
        try:
            back = await temporal.connect(away)
            await temporal.register_search_attributes(back)
            async with build_cpu_worker(back, pool, store, away), running_gpu_worker(back, away, "back-gpu"):
                await start_outbox.sweep(pool, back, grace=timedelta(0))  # unless the API's own retries started it
                status = await wait_for(http, accepted["jobId"], done, within=60)
        finally:
            server.stop()
    assert status["status"] == "ready", status
