"""ComfyUI's failure modes, injected into a simulator of the test's own: every job ends in the right
state, renders exactly once (or never, when it cannot succeed), and leaves no staged object behind."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack import localstack
from devstack.simulator import SIMULATOR, Fault, SimConfig, serve
from tests.helpers.gpu import Rig, activity_attempts, assert_no_leftovers, gpu
from tests.helpers.jobs import done, rendering, start_avatar, wait_for
from tests.helpers.parts import running_gpu_worker


async def avatar_despite(
    fault: Fault, api: httpx.AsyncClient, client: Client, store: ObjectStore, rig: Rig
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Inject a fault, run one avatar to its end with a GPU worker up; the job's 202 body and final status."""
    rig.sim.faults.append(fault)
    async with gpu(client, rig):
        accepted = await start_avatar(api)
        status = await wait_for(api, accepted["jobId"], done)
    return accepted, status


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="slow", seconds=2.0),
        Fault(kind="drop_ws"),
        Fault(kind="stall_ws"),
    ],
    ids=lambda f: f.kind,
)
async def test_survivable_faults_still_render_exactly_once(
    api: httpx.AsyncClient,
    cpu_worker: None,
    client: Client,
    store: ObjectStore,
    pool: asyncpg.Pool,
    rig: Rig,
    fault: Fault,
) -> None:
    accepted, status = await avatar_despite(fault, api, client, store, rig)
    assert status["status"] == "ready", status
    assert rig.sim.renders == 1
    await assert_no_leftovers(store, pool, accepted, ready=True)


async def test_out_of_memory_frees_vram_and_renders_again(
    api: httpx.AsyncClient, cpu_worker: None, client: Client, store: ObjectStore, pool: asyncpg.Pool, rig: Rig
) -> None:
    accepted, status = await avatar_despite(Fault(kind="oom"), api, client, store, rig)
    assert status["status"] == "ready", status
    assert rig.sim.free_requests == [{"unload_models": True, "free_memory": True}]
    assert rig.sim.renders == 1
    await assert_no_leftovers(store, pool, accepted, ready=True)


async def test_comfyui_restart_mid_render_is_detected_and_requeued_once(
    api: httpx.AsyncClient, cpu_worker: None, client: Client, store: ObjectStore, pool: asyncpg.Pool, rig: Rig
) -> None:
    accepted, status = await avatar_despite(Fault(kind="restart"), api, client, store, rig)
    assert status["status"] == "ready", status
    assert rig.sim.renders == 1
    assert await activity_attempts(client, accepted["workflowId"], "queue_comfy_prompt") == 2
    await assert_no_leftovers(store, pool, accepted, ready=True)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            Fault(kind="fail", node="8", message="decoder exploded"),
            ["node 8 (VAEDecode) raised RuntimeError", "ComfyUI log says why; no credits were charged"],
        ),
        (Fault(kind="reject"), ["ComfyUI rejected the graph", "Simulated rejection"]),
    ],
    ids=["execution_error", "rejected_graph"],
)
async def test_unrecoverable_errors_fail_once_with_the_reason(
    api: httpx.AsyncClient,
    cpu_worker: None,
    client: Client,
    store: ObjectStore,
    pool: asyncpg.Pool,
    rig: Rig,
    fault: Fault,
    expected: list[str],
) -> None:
    accepted, status = await avatar_despite(fault, api, client, store, rig)
    assert status["status"] == "failed", status
    for words in expected:
        assert words in status["error"]
    assert rig.sim.renders == 0
    assert await activity_attempts(client, accepted["workflowId"], "queue_comfy_prompt") == 1
    await assert_no_leftovers(store, pool, accepted, ready=False)


async def test_unreachable_comfyui_shows_waiting_for_gpu_then_recovers(
    api: httpx.AsyncClient, cpu_worker: None, client: Client, store: ObjectStore, pool: asyncpg.Pool, settings: Settings
) -> None:
    port = localstack.free_port()
    offline = settings.model_copy(update={"comfyui_url": f"http://127.0.0.1:{port}"})
    async with running_gpu_worker(client, offline):
        accepted = await start_avatar(api)
        waiting = await wait_for(api, accepted["jobId"], lambda s: s["stage"] == "waiting_for_gpu", within=30)
        assert waiting["status"] == "running"
        runner = await serve(SimConfig(render_seconds=0.2), "127.0.0.1", port)
        sim = runner.app[SIMULATOR]
        try:
            status = await wait_for(api, accepted["jobId"], done, within=60)
        finally:
            await runner.cleanup()
    assert status["status"] == "ready", status
    assert sim.renders == 1
    await assert_no_leftovers(store, pool, accepted, ready=True)


async def test_cancelling_a_job_stops_the_render_in_comfyui(
    api: httpx.AsyncClient, cpu_worker: None, client: Client, store: ObjectStore, pool: asyncpg.Pool, rig: Rig
) -> None:
    rig.sim.faults.append(Fault(kind="slow", seconds=20.0))
    async with gpu(client, rig):
        accepted = await start_avatar(api)
        started = await wait_for(api, accepted["jobId"], rendering)
        assert started["stage"] == "rendering" and started["progress"]["total"] == 28
        cancelling = await api.delete(f"/api/v1/image-generation/jobs/{accepted['jobId']}")
        assert cancelling.status_code == 202, cancelling.text
        seen: list[str] = []

        def ended(status: dict[str, Any]) -> bool:
            seen.append(status["stage"])
            return done(status)

        status = await wait_for(api, accepted["jobId"], ended, within=30)
    assert status["status"] == "cancelled" and status["stage"] == "cancelled"
    # While the worker takes the prompt out of ComfyUI, the job says so (never "waiting for a GPU").
    assert "cancelling" in seen and "waiting_for_gpu" not in seen, seen
    assert rig.sim.running is None and rig.sim.renders == 0
    [entry] = rig.sim.history.values()
    assert [event for event, _ in entry["status"]["messages"]][-1] == "execution_interrupted"
    await assert_no_leftovers(store, pool, accepted, ready=False)


async def test_a_restarted_gpu_worker_reattaches_instead_of_rendering_again(
    api: httpx.AsyncClient, cpu_worker: None, client: Client, store: ObjectStore, pool: asyncpg.Pool, rig: Rig
) -> None:
    rig.sim.faults.append(Fault(kind="slow", seconds=4.0))
    async with gpu(client, rig):
        accepted = await start_avatar(api)
        await wait_for(api, accepted["jobId"], rendering)
    assert rig.sim.running is not None, "the render must go on while no worker runs"
    await asyncio.sleep(0.5)
    async with gpu(client, rig):
        status = await wait_for(api, accepted["jobId"], done, within=60)
    assert status["status"] == "ready", status
    assert rig.sim.renders == 1
    assert await activity_attempts(client, accepted["workflowId"], "queue_comfy_prompt") == 1
    await assert_no_leftovers(store, pool, accepted, ready=True)


async def test_work_moves_to_another_gpu_worker_when_one_never_comes_back(
    api: httpx.AsyncClient, cpu_worker: None, client: Client, store: ObjectStore, pool: asyncpg.Pool, rig: Rig
) -> None:
    """Worker A vanishes mid-render; worker B (same ComfyUI here) takes over and re-attaches to the prompt."""
    rig.sim.faults.append(Fault(kind="slow", seconds=3.0))
    async with gpu(client, rig, worker_id="gpu-a"):
        accepted = await start_avatar(api)
        await wait_for(api, accepted["jobId"], rendering)
    async with gpu(client, rig, worker_id="gpu-b"):
        status = await wait_for(api, accepted["jobId"], done, within=90)
    assert status["status"] == "ready", status
    assert rig.sim.renders == 1
    assert await activity_attempts(client, accepted["workflowId"], "queue_comfy_prompt") == 2
    await assert_no_leftovers(store, pool, accepted, ready=True)
