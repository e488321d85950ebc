"""Real parts for the tests, started on 127.0.0.1: Temporal dev server, embedded Postgres, moto_server,
the ComfyUI simulator and the API under uvicorn. Workers run in-process, per test, so a test decides
which of them poll."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import uvicorn
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from comfyloom import db, temporal
from comfyloom.dev import localstack
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from tests.auth import as_user, store_keys_hook
from tests.gemini_endpoint import API_KEY as GEMINI_KEY
from tests.gemini_endpoint import FakeGemini
from worker_cpu.worker import build_cpu_worker
from worker_gpu.worker import gpu_workers

RENDER_SECONDS = 0.3
# Fixtures that start real servers: a test using any of them (or marked itself) is in the `servers` tier.
SERVER_FIXTURES = {"local_parts", "temporal_env"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`pytest -m "not servers"`: the tests that start nothing, in seconds; the full suite is the default."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


# A namespace of its own for health tests: only the GPU workers they start poll there.
HEALTH_NAMESPACE = "health-tests"


@dataclass
class LocalParts:
    database_url: str
    s3_url: str
    comfyui_url: str


@pytest.fixture(scope="session")
def local_parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalParts]:
    logs = tmp_path_factory.mktemp("logs")
    started: list[localstack.Service] = []
    try:
        started.append(localstack.start_postgres(tmp_path_factory.mktemp("pg") / "data", keep=False))
        started.append(localstack.start_moto(port=localstack.free_port(), log_dir=logs))
        started.append(
            localstack.start_simulator(port=localstack.free_port(), render_seconds=RENDER_SECONDS, log_dir=logs)
        )
        yield LocalParts(*(s.url for s in started))
    finally:
        for service in reversed(started):
            service.stop()


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=localstack.bin_path("temporal"),
        data_converter=pydantic_data_converter,
        dev_server_extra_args=["--namespace", HEALTH_NAMESPACE],
    )
    await temporal.register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def settings(local_parts: LocalParts, temporal_env: WorkflowEnvironment) -> Settings:
    return Settings(
        _env_file=None,
        temporal_address=temporal_env.client.service_client.config.target_host,
        database_url=local_parts.database_url,
        s3_endpoint_url=local_parts.s3_url,
        comfyui_url=local_parts.comfyui_url,
        comfyui_poll_seconds=0.5,
        gemini_api_key=None,
        # Many tests start jobs as user-1 within a minute, some with equal bodies: the limits and the
        # replay window are tested with an API of their own (`api_with`).
        rate_limit_per_minute=0,
        max_concurrent_jobs=0,
        idempotency_window_seconds=0,
    )


@pytest.fixture(scope="session")
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    assert settings.database_url
    pool = await db.connect(settings.database_url)
    await db.migrate(pool)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def store(settings: Settings) -> ObjectStore:
    store = ObjectStore(settings)
    await store.ensure_bucket()
    return store


@pytest.fixture
async def cpu_worker(client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings) -> AsyncIterator[None]:
    async with build_cpu_worker(client, pool, store, settings):
        yield


@contextlib.asynccontextmanager
async def running_gpu_worker(
    client: Client, store: ObjectStore, settings: Settings, worker_id: str = "test-gpu"
) -> AsyncIterator[None]:
    async with gpu_workers(client, store, settings, worker_id=worker_id) as workers:
        async with contextlib.AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            yield


@pytest.fixture
async def gpu_worker(client: Client, store: ObjectStore, settings: Settings) -> AsyncIterator[None]:
    async with running_gpu_worker(client, store, settings):
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


@pytest.fixture(scope="session")
async def api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_api(settings, pool) as http:
        yield http


@pytest.fixture(scope="session")
async def gemini_server() -> AsyncIterator[FakeGemini]:
    server = FakeGemini()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def gemini(gemini_server: FakeGemini, pool: asyncpg.Pool) -> FakeGemini:
    """The Gemini endpoint and its answer cache, emptied of earlier tests' requests, replies and answers."""
    gemini_server.reset()
    await pool.execute("delete from prompt_translations")
    return gemini_server


@pytest.fixture
def gemini_settings(settings: Settings, gemini: FakeGemini) -> Settings:
    """Settings whose Gemini is the local endpoint: the real SDK, a key, our base URL."""
    return settings.model_copy(update={"gemini_api_key": GEMINI_KEY, "gemini_base_url": gemini.url})
