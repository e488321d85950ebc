"""The 202 goes once a job is admitted, and its run starts right after: a Temporal that refuses the start for
a while delays the run, not the answer, and loses nothing."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client

from comfyloom import starts
from comfyloom.settings import Settings
from tests.helpers.jobs import create_character, done, run_of, wait_for
from tests.helpers.parts import serve_api


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_start_temporal_refuses_at_first_is_tried_again_and_the_job_renders(
    settings: Settings, pool: asyncpg.Pool, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    tries: list[float] = []
    real_launch = starts.launch

    async def refused_twice(*args: Any, **kwargs: Any) -> None:
        tries.append(time.monotonic())
        if len(tries) <= 2:
            raise RuntimeError("Temporal is restarting")
        await real_launch(*args, **kwargs)

    monkeypatch.setattr(starts, "launch", refused_twice)
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
    assert await starts.pending_for(pool, accepted["workflowId"]) is None
    await (await run_of(client, accepted["workflowId"])).result()
