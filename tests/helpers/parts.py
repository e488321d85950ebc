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

from api.main import create_app
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack import localstack
from tests.helpers.auth import as_user, store_keys_hook
from worker_gpu.worker import gpu_workers

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
    client: Client, store: ObjectStore, settings: Settings, worker_id: str = "test-gpu"
) -> AsyncIterator[None]:
    async with gpu_workers(client, store, settings, worker_id=worker_id) as workers:
        async with contextlib.AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
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


def worker_env(settings: Settings) -> dict[str, str]:
    assert settings.database_url and settings.s3_endpoint_url
    given = {
        "DATABASE_URL": settings.database_url,
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "COMFYUI_URL": settings.comfyui_url,
    }
    return {**{k: v for k, v in os.environ.items() if k != "GEMINI_API_KEY"}, **given}
