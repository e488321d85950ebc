"""A deploy with runs in flight: jobs started and waiting for a GPU under the CPU worker of an earlier
release finish under the current one, with no non-determinism and no render twice.

The earlier release is main as it was before this release retired the patches past the rule
(workflows/patches.py): its runs are the ones still inside the retirement window. Taken from this clone's
history with `git archive`.
"""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from comfyloom.storage import ObjectStore
from tests.helpers.auth import as_user
from tests.helpers.gpu import Rig, assert_no_leftovers, gpu
from tests.helpers.history import patches, record
from tests.helpers.jobs import done, start_avatar, wait_for
from tests.helpers.parts import worker_env
from worker_cpu.worker import build_cpu_worker
from workflows.patches import (
    JOB_ID_IN_KEYS,
    KEEP_STAGING_UNTIL_RECORDED,
    MODERATE_OUTPUT,
    READY_BEFORE_CLEARING,
    RENDER_UNTIL_DEADLINE,
    ROUTE_BY_TEMPLATE,
)

EARLIER_RELEASE = "dc7c56f"
ROOT = Path(__file__).parents[2]
USER = "deploy-user"


@pytest.fixture(scope="module")
def earlier_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    found = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{EARLIER_RELEASE}^{{commit}}"], capture_output=True, check=False
    )
    if found.returncode != 0:
        pytest.skip(f"this clone's history lacks {EARLIER_RELEASE} (a shallow clone?)")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", EARLIER_RELEASE], capture_output=True, check=True)
    folder = tmp_path_factory.mktemp("earlier-release")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


@pytest.fixture
async def earlier_cpu_worker(
    earlier_release: Path, rig: Rig, tmp_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The earlier release's CPU worker, its own code first on the path."""
    log = tmp_path / "earlier-worker.log"
    env = {**worker_env(rig.settings), "PYTHONPATH": str(earlier_release)}
    with log.open("wb") as out:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "worker_cpu", cwd=earlier_release, env=env, stdout=out, stderr=out
        )
    for _ in range(300):
        if b"CPU worker polling" in log.read_bytes():
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(log.read_text())
    yield worker
    if worker.returncode is None:
        worker.kill()
        await worker.wait()


async def test_runs_started_by_the_earlier_release_finish_under_this_one(
    earlier_cpu_worker: asyncio.subprocess.Process,
    api: httpx.AsyncClient,
    client: Client,
    store: ObjectStore,
    pool: asyncpg.Pool,
    rig: Rig,
) -> None:
    jobs = [await start_avatar(api, USER) for _ in range(3)]
    for job in jobs:  # the earlier release's workflow code has scheduled the GPU step
        await wait_for(api, job["jobId"], lambda s: s["stage"] == "waiting_for_gpu", headers=as_user(USER))
    earlier_cpu_worker.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(earlier_cpu_worker.wait(), 30) == 0

    async with build_cpu_worker(client, pool, store, rig.settings), gpu(client, rig):
        statuses = [await wait_for(api, job["jobId"], done, within=90, headers=as_user(USER)) for job in jobs]
        for job in jobs:  # a job is ready before its run clears staging and ends: the workers must outlive that
            await asyncio.wait_for(client.get_workflow_handle(job["workflowId"]).result(), 60)
    assert [s["status"] for s in statuses] == ["ready"] * 3, statuses
    assert rig.sim.renders == 3
    for job in jobs:
        handle = client.get_workflow_handle(job["workflowId"])
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        history = await handle.fetch_history()
        failed_tasks = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
        assert failed_tasks == [], failed_tasks[0].workflow_task_failed_event_attributes.failure.message
        # Queued by the earlier release's render loop; converted, moderated, published and recorded by this
        # one's as the earlier release would have (fewer-steps is asked as a run starts), whose deprecated patches
        # still write their markers.
        assert patches(history) == [
            p.id
            for p in (
                RENDER_UNTIL_DEADLINE,
                ROUTE_BY_TEMPLATE,
                KEEP_STAGING_UNTIL_RECORDED,
                JOB_ID_IN_KEYS,
                MODERATE_OUTPUT,
                READY_BEFORE_CLEARING,
            )
        ]
        await assert_no_leftovers(store, pool, job, ready=True)
    await record(client, jobs[0]["workflowId"], f"avatar_started_by_{EARLIER_RELEASE}_finished_after")
