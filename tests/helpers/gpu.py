"""A ComfyUI simulator of a test's own with a GPU worker over it, and what a job must leave behind."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
from temporalio.client import Client

from comfyloom.contracts.health import GpuWorkerReport
from comfyloom.gpu_fleet import gpu_worker_reports
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack import localstack
from devstack.simulator import SIMULATOR, SimConfig, Simulator, serve
from tests.helpers.parts import running_gpu_worker


@dataclass
class Rig:
    sim: Simulator
    settings: Settings


@contextlib.asynccontextmanager
async def simulated(settings: Settings, config: SimConfig) -> AsyncIterator[Rig]:
    port = localstack.free_port()
    runner = await serve(config, "127.0.0.1", port)
    # A worker that stops here stops at once, as if killed: what it leaves behind is under test.
    rig_settings = settings.model_copy(update={"comfyui_url": f"http://127.0.0.1:{port}", "shutdown_grace_seconds": 0})
    try:
        yield Rig(runner.app[SIMULATOR], rig_settings)
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def gpu(client: Client, rig: Rig, worker_id: str = "test-gpu") -> AsyncIterator[None]:
    async with running_gpu_worker(client, rig.settings, worker_id):
        yield


async def reported(client: Client, worker_id: str) -> GpuWorkerReport:
    """The worker's report, as the gpu-fleet run holds it (its presence heartbeat reaches Temporal just after it
    is sent)."""
    for _ in range(100):
        found = [r for r in await gpu_worker_reports(client) if r.worker_id == worker_id and not r.stopped]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{worker_id} sent no report")


async def staging_left(store: ObjectStore, workflow_id: str, within: float = 10.0) -> list[str]:
    """What is still staged for a run, once its workflow has had `within` seconds to clear it: a ready job's
    staging goes in the step after the one that made it ready."""
    deadline = time.monotonic() + within
    while (left := await store.list_keys(f"staging/{workflow_id}/")) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return left


async def assert_no_leftovers(store: ObjectStore, pool: asyncpg.Pool, accepted: dict[str, Any], *, ready: bool) -> None:
    assert await staging_left(store, accepted["workflowId"]) == []
    images = await pool.fetchval("select count(*) from images where job_id = $1", accepted["jobId"])
    assert images == (1 if ready else 0)
    # Credits: charged with the image, or given back; never both, never neither.
    hold = await pool.fetchval("select status from credit_holds where workflow_id = $1", accepted["workflowId"])
    assert hold == ("charged" if ready else "released")


async def activity_attempts(client: Client, workflow_id: str, name: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    return sum(
        1
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and scheduled[e.activity_task_started_event_attributes.scheduled_event_id] == name
    )
