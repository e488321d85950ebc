"""Real parts for the tests, started on 127.0.0.1: Temporal dev server, embedded Postgres, moto_server,
the ComfyUI simulator and the API under uvicorn. Workers run in-process, per test, so a test decides
which of them poll."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from comfyloom import db, temporal
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack import localstack
from devstack.gemini_endpoint import API_KEY as GEMINI_KEY
from devstack.gemini_endpoint import FakeGemini
from tests.helpers.parts import (
    HEALTH_NAMESPACE,
    RENDER_SECONDS,
    LocalParts,
    running_gpu_worker,
    serve_api,
    start_gpu_fleet,
)
from worker_cpu.worker import build_cpu_worker

# Fixtures that start real servers: a test using any of them (or marked itself) is in the `servers` tier.
SERVER_FIXTURES = {"local_parts", "temporal_env"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`pytest -m "not servers"`: the tests that start nothing, in seconds; the full suite is the default."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


# The timeout pytest-timeout set for a test (its marker, --timeout, PYTEST_TIMEOUT or the ini, as it resolved them).
TIMEOUT = pytest.StashKey[float]()


@pytest.hookimpl(optionalhook=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> None:
    item.stash[TIMEOUT] = settings.timeout  # returns None, so pytest-timeout's own hook still sets the timer


@pytest.fixture(autouse=True)
async def tasks_shown_before_the_timeout(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """pytest-timeout prints threads' stacks, and every test here waits in one event loop's thread: a test
    still running shortly before its timeout prints what each of the loop's tasks awaits."""
    seconds = request.node.stash.get(TIMEOUT, 0.0)
    if not seconds:
        yield
        return
    watchdog = asyncio.get_running_loop().call_later(max(seconds - 10, seconds * 0.9), _print_tasks)
    try:
        yield
    finally:
        watchdog.cancel()


def _print_tasks() -> None:
    tasks = asyncio.all_tasks()
    print(f"--- the {len(tasks)} tasks of the test's event loop, near its timeout ---", file=sys.stderr)
    for task in tasks:
        print(f"{task.get_name()}:", file=sys.stderr)
        awaited: Any = task.get_coro()
        while awaited is not None:  # the whole await chain: a task's own stack shows only its outer coroutine
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
            if frame is not None:
                print(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}", file=sys.stderr)
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)


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
        dev_server_extra_args=["--namespace", HEALTH_NAMESPACE, *localstack.temporal_dynamic_config_args()],
    )
    await temporal.register_search_attributes(env.client)
    health = await Client.connect(
        env.client.service_client.config.target_host, namespace=HEALTH_NAMESPACE, data_converter=pydantic_data_converter
    )
    for namespace_client in (env.client, health):
        await start_gpu_fleet(namespace_client)
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
        # The webhook tests' receiver listens here.
        webhook_allowed_networks=["127.0.0.0/8"],
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


@pytest.fixture
async def gpu_worker(client: Client, store: ObjectStore, settings: Settings) -> AsyncIterator[None]:
    async with running_gpu_worker(client, settings):
        yield


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
    return settings.model_copy(update={"gemini_api_key": SecretStr(GEMINI_KEY), "gemini_base_url": gemini.url})


@pytest.fixture
async def gemini_cpu_worker(
    client: Client, pool: asyncpg.Pool, store: ObjectStore, gemini: FakeGemini, gemini_settings: Settings
) -> AsyncIterator[FakeGemini]:
    """A CPU worker whose Gemini is the local endpoint; the test scripts or sets its `responder`."""
    async with build_cpu_worker(client, pool, store, gemini_settings):
        yield gemini
