"""The real parts tests run against, and ways to run the API and a GPU worker over them."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import uvicorn
from temporalio.client import Client
from temporalio.worker import Worker

from api.main import create_app
from comfyloom.gpu_fleet import ensure_gpu_fleet, gpu_worker_reports
from comfyloom.settings import CPU_TASK_QUEUE, GPU_FLEET_WORKFLOW_ID, Settings
from devstack import localstack
from tests.helpers.auth import as_user, store_keys_hook
from worker_gpu.worker import FIRST_REPORT_SECONDS, gpu_workers
from workflows.fleet import GpuFleetWorkflow
from workflows.registry import WORKFLOW_RUNNER

RENDER_SECONDS = 0.3
# A namespace of its own for health tests: only the GPU workers they start poll there.
HEALTH_NAMESPACE = "health-tests"


@dataclass
class LocalParts:
    database_url: str
    s3_url: str
    comfyui_url: str


@contextlib.asynccontextmanager
async def running_gpu_worker(
    client: Client, settings: Settings, worker_id: str = "test-gpu", *, observer: Client | None = None
) -> AsyncIterator[None]:
    """A GPU worker polling, entered once its first readiness report reached the cloud (the gpu-fleet run, which
    the session's `client` fixture starts), so a job started next is checked against it. `observer` reads the
    run where `client` may not (a GPU worker's connection through the mTLS door cannot describe workflows)."""
    async with gpu_workers(client, settings, worker_id=worker_id) as started:
        async with contextlib.AsyncExitStack() as stack:
            for worker in started.workers:
                await stack.enter_async_context(worker)
            with contextlib.suppress(TimeoutError):  # no report (ComfyUI slow to answer): the test says what follows
                async with asyncio.timeout(FIRST_REPORT_SECONDS):
                    await started.first_report.wait()
                    # Sent is not yet recorded: the heartbeat reaches Temporal a moment later.
                    while not [r for r in await gpu_worker_reports(observer or client) if r.worker_id == worker_id]:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
            yield


@contextlib.asynccontextmanager
async def serve_api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """The API under uvicorn; requests act as user-1 unless they send another test user's key."""
    port = localstack.free_port()
    app_settings = settings.model_copy(update={"api_public_url": f"http://127.0.0.1:{port}"})
    server = uvicorn.Server(uvicorn.Config(create_app(app_settings), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        timeout=30,
        headers=as_user("user-1"),
        event_hooks={"request": [store_keys_hook(pool)]},
    ) as http:
        yield http
    server.should_exit = True
    await task


# Presence slots of a test's gpu-fleet run: more than the GPU workers any test runs at once.
TEST_FLEET_SIZE = 8


async def start_gpu_fleet(client: Client) -> None:
    """The gpu-fleet run in `client`'s namespace, its first task done by a worker of its own, so that its presence
    slots wait for GPU workers whether or not a test runs a CPU worker (which the production CPU worker does at
    start: comfyloom.gpu_fleet.ensure_gpu_fleet)."""
    await ensure_gpu_fleet(client, TEST_FLEET_SIZE)
    handle = client.get_workflow_handle(GPU_FLEET_WORKFLOW_ID)
    async with Worker(client, task_queue=CPU_TASK_QUEUE, workflows=[GpuFleetWorkflow], workflow_runner=WORKFLOW_RUNNER):
        async with asyncio.timeout(30):
            while len((await handle.describe()).raw_description.pending_activities) < TEST_FLEET_SIZE:  # noqa: ASYNC110
                await asyncio.sleep(0.1)


def worker_env(settings: Settings) -> dict[str, str]:
    assert settings.database_url and settings.s3_endpoint_url
    given = {
        "DATABASE_URL": settings.database_url,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "COMFYUI_URL": settings.comfyui_url,
    }
    return {**{k: v for k, v in os.environ.items() if k != "GEMINI_API_KEY"}, **given}
