"""Health tells an operator whether jobs can render now, and why not: in a Temporal namespace of its own,
so only the GPU workers these tests start are seen polling."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack import localstack
from devstack.simulator import SimConfig, serve
from tests.helpers.packs import COVER_REFUSED, NEWER_IMPACT_PACK
from tests.helpers.parts import HEALTH_NAMESPACE, running_gpu_worker, serve_api

HEALTH = "/api/v1/image-generation/health"


@pytest.fixture
async def ops(settings: Settings, pool: asyncpg.Pool, store: ObjectStore) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_api(settings.model_copy(update={"temporal_namespace": HEALTH_NAMESPACE}), pool) as http:
        yield http


@pytest.fixture
async def health_client(client: Client) -> Client:
    return await Client.connect(
        client.service_client.config.target_host, namespace=HEALTH_NAMESPACE, data_converter=pydantic_data_converter
    )


Predicate = Callable[[dict[str, Any]], bool]


def checked(worker_id: str) -> Predicate:
    """Health has the worker polling, with a report of its ComfyUI."""
    return lambda body: any(
        r["workerId"] == worker_id and r["polling"] and r["checkedAt"] for r in body["gpuWorkerReports"]
    )


async def health_until(ops: httpx.AsyncClient, predicate: Predicate, within: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await ops.get(HEALTH)
        body: dict[str, Any] = response.json()
        assert response.status_code == 200, body
        if predicate(body):
            return body
        assert time.monotonic() < deadline, f"timed out; last health {body}"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def worker(
    health_client: Client, store: ObjectStore, settings: Settings, worker_id: str, **update: Any
) -> AsyncIterator[None]:
    async with running_gpu_worker(health_client, settings.model_copy(update=update), worker_id):
        yield


async def test_without_a_gpu_worker_health_is_unavailable_and_says_why(ops: httpx.AsyncClient) -> None:
    body = await health_until(ops, lambda b: b["gpuWorkers"] == 0)
    assert body["status"] == "unavailable"
    assert body["temporal"]["ok"] and body["database"]["ok"] and body["storage"]["ok"]
    assert body["reasons"] == [
        "no GPU worker polls Temporal: the GPU machine is off, asleep, or its worker is not running"
    ]


async def test_a_gpu_worker_that_can_render_everything_is_ok_and_a_stopped_one_drops_out_at_once(
    ops: httpx.AsyncClient, health_client: Client, store: ObjectStore, settings: Settings
) -> None:
    async with worker(health_client, store, settings, "health-complete"):
        body = await health_until(ops, lambda b: b["status"] == "ok")
    assert body["reasons"] == [] and body["gpuWorkers"] == 1
    [report] = [r for r in body["gpuWorkerReports"] if r["workerId"] == "health-complete"]
    assert report["polling"] and set(report["renders"]) == set(body["templatesInUse"])
    assert report["comfyuiVersion"] == "0.3.64" and report["notes"] == []
    gone = await health_until(ops, lambda b: b["gpuWorkers"] == 0, within=5)
    assert gone["status"] == "unavailable"


@pytest.mark.parametrize(
    ("config", "because"),
    [
        (
            SimConfig(custom_nodes=False),
            "template 'cover' needs node 'FaceDetailer', which this ComfyUI does not have (custom node missing?)",
        ),
        # An Impact-Pack release whose FaceDetailer requires one input more than the cover template sets.
        (SimConfig(node_inputs=NEWER_IMPACT_PACK), COVER_REFUSED),
    ],
    ids=["bare-comfyui", "newer-impact-pack"],
)
async def test_a_comfyui_that_cannot_render_a_template_is_degraded_naming_the_kind_and_why(
    ops: httpx.AsyncClient,
    health_client: Client,
    store: ObjectStore,
    settings: Settings,
    config: SimConfig,
    because: str,
) -> None:
    port = localstack.free_port()
    runner = await serve(config, "127.0.0.1", port)
    worker_id = "health-bare" if not config.custom_nodes else "health-newer"
    try:
        async with worker(health_client, store, settings, worker_id, comfyui_url=f"http://127.0.0.1:{port}"):
            body = await health_until(ops, checked(worker_id))
    finally:
        await runner.cleanup()
    assert body["status"] == "degraded"
    assert "no GPU worker can render template 'cover': cover jobs fail at once, charging nothing" in body["reasons"]
    assert f"{worker_id}: {because}" in body["reasons"]
    [report] = [r for r in body["gpuWorkerReports"] if r["workerId"] == worker_id]
    assert "cover" not in report["renders"] and "avatar" in report["renders"]


async def test_a_missing_checkpoint_makes_every_template_unavailable(
    ops: httpx.AsyncClient, health_client: Client, store: ObjectStore, settings: Settings
) -> None:
    async with worker(health_client, store, settings, "health-nockpt", comfyui_checkpoint="gone.safetensors"):
        body = await health_until(ops, checked("health-nockpt"))
    assert body["status"] == "unavailable"
    assert any("checkpoint 'gone.safetensors'" in reason for reason in body["reasons"])


async def test_an_unreachable_comfyui_is_unavailable_until_it_answers_again(
    ops: httpx.AsyncClient, health_client: Client, store: ObjectStore, settings: Settings
) -> None:
    port = localstack.free_port()
    async with worker(health_client, store, settings, "health-later", comfyui_url=f"http://127.0.0.1:{port}"):
        down = await health_until(ops, checked("health-later"))
        assert down["status"] == "unavailable"
        assert any("does not answer" in reason for reason in down["reasons"])
        runner = await serve(SimConfig(), "127.0.0.1", port)
        started = time.monotonic()
        try:
            await health_until(ops, lambda b: b["status"] == "ok", within=15)
            print(f"ComfyUI back -> health ok: {time.monotonic() - started:.2f} s")
        finally:
            await runner.cleanup()
