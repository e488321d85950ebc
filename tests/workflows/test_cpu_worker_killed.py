"""A CPU worker killed between the steps after a render (a deploy, an OOM kill) neither fails the job nor
splits it: the next worker runs the steps again and the job ends ready, with one image and nothing orphaned.

Publishing the render and recording it are local activities of one workflow task, so a kill runs both again; each
must give the same result the second time (keys fixed before the first attempt, the staged render kept until that
task is recorded, an object this job already published, or a record already there, left as it is)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from tests.helpers.auth import as_user
from tests.helpers.crashing_cpu_worker import KILLED
from tests.helpers.gpu import assert_no_leftovers
from tests.helpers.history import record
from tests.helpers.jobs import done, start_avatar, wait_for
from tests.helpers.parts import worker_env
from worker_cpu.worker import build_cpu_worker


@pytest.mark.parametrize("killed_after", ["publish_render", "finish_job"])
@pytest.mark.usefixtures("gpu_worker")
async def test_a_cpu_worker_killed_after_a_post_render_step_still_ends_the_job_ready_once(
    killed_after: str,
    api: httpx.AsyncClient,
    client: Client,
    store: ObjectStore,
    pool: asyncpg.Pool,
    settings: Settings,
    tmp_path: Path,
) -> None:
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        doomed = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.helpers.crashing_cpu_worker",
            killed_after,
            env=worker_env(settings),
            stdout=out,
            stderr=out,
        )
    try:
        for _ in range(300):
            if b"polling" in log.read_bytes():
                break
            await asyncio.sleep(0.1)
        accepted = await start_avatar(api, "killed-user")
        exit_code = await asyncio.wait_for(doomed.wait(), 60)
    finally:
        if doomed.returncode is None:
            doomed.kill()
    assert exit_code == KILLED, log.read_text()
    async with build_cpu_worker(client, pool, store, settings):
        status = await wait_for(api, accepted["jobId"], done, within=60, headers=as_user("killed-user"))
        handle = client.get_workflow_handle(accepted["workflowId"])
        await handle.result()
    assert status["status"] == "ready", status
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    character = status["characterId"]
    assert len(await store.list_keys(f"characters/killed-user/{character}/")) == 1, "one WebP, none orphaned"
    await assert_no_leftovers(store, pool, accepted, ready=True)
    await record(client, accepted["workflowId"], f"avatar_cpu_worker_killed_after_{killed_after}")
