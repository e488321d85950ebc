"""A home GPU machine that goes away mid-render (asleep, rebooting, offline) or an uplink that drops: the job
waits, shows why and since when, and goes on when the machine is back; only its own deadline fails it.

Outages here last seconds, not minutes: nothing in the GPU steps gives up before the job's deadline, so an
outage of seconds that spans the limits an hour-long one would meet (an attempt's start-to-close, ComfyUI's
WebSocket and HTTP connections dropping) is the same case, shrunk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack.simulator import Fault
from tests.helpers.gpu import Rig, activity_attempts, assert_no_leftovers, gpu
from tests.helpers.history import record
from tests.helpers.jobs import done, rendering, start_avatar, wait_for
from tests.helpers.parts import serve_api
from tests.helpers.tls_proxy import Proxy
from worker_cpu.worker import build_cpu_worker
from workflows.policies import POLICIES


def waiting_for_the_gpu_machine(status: dict[str, Any]) -> bool:
    return status["stage"] == "waiting_for_gpu" and "does not answer" in str(status.get("waiting"))


async def test_an_outage_mid_render_is_waited_out_and_the_render_goes_on(
    api: httpx.AsyncClient, cpu_worker: None, client: Client, store: ObjectStore, pool: asyncpg.Pool, rig: Rig
) -> None:
    """The network drops (or the PC sleeps) while ComfyUI renders: the same prompt is picked up again."""
    rig.sim.faults.append(Fault(kind="slow", seconds=14.0))
    async with gpu(client, rig):
        accepted = await start_avatar(api)
        await wait_for(api, accepted["jobId"], rendering)
        rig.sim.start_outage(4.0, forget=False)
        waiting = await wait_for(api, accepted["jobId"], waiting_for_the_gpu_machine, within=10)
        assert waiting["status"] == "running" and waiting["waitingSince"]
        await rig.sim.came_back.wait()
        assert rig.sim.back_at is not None
        await wait_for(api, accepted["jobId"], rendering, within=10)
        back_to_rendering = time.time() - rig.sim.back_at
        print(f"ComfyUI back -> job rendering again: {back_to_rendering:.2f} s")
        assert back_to_rendering <= 5.0
        status = await wait_for(api, accepted["jobId"], done, within=60)
    assert status["status"] == "ready", status
    assert rig.sim.renders == 1
    assert await activity_attempts(client, accepted["workflowId"], "queue_comfy_prompt") == 1
    await assert_no_leftovers(store, pool, accepted, ready=True)
    await record(client, accepted["workflowId"], "avatar_outage_waited_out")


async def test_a_restart_outage_longer_than_an_attempt_renders_again_exactly_once(
    api: httpx.AsyncClient,
    cpu_worker: None,
    client: Client,
    store: ObjectStore,
    pool: asyncpg.Pool,
    rig: Rig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The PC reboots and stays off past the render attempt's start-to-close (30 min in production, 2 s
    here): attempts come and go without losing the wait's start, and the forgotten prompt renders once."""
    awaiting = POLICIES["await_comfy_result"]
    short = dataclasses.replace(awaiting, start_to_close=timedelta(seconds=2))
    monkeypatch.setitem(POLICIES, "await_comfy_result", short)
    rig.sim.faults.append(Fault(kind="slow", seconds=6.0))
    async with gpu(client, rig):
        accepted = await start_avatar(api)
        await wait_for(api, accepted["jobId"], rendering)
        rig.sim.start_outage(8.0, forget=True)
        first = await wait_for(api, accepted["jobId"], waiting_for_the_gpu_machine, within=10)
        await asyncio.sleep(4)  # attempts time out meanwhile
        later = await wait_for(api, accepted["jobId"], waiting_for_the_gpu_machine, within=10)
        assert later["waitingSince"] == first["waitingSince"]
        status = await wait_for(api, accepted["jobId"], done, within=60)
    assert status["status"] == "ready", status
    assert rig.sim.renders == 1
    assert await activity_attempts(client, accepted["workflowId"], "queue_comfy_prompt") == 2
    await assert_no_leftovers(store, pool, accepted, ready=True)
    await record(client, accepted["workflowId"], "avatar_restart_outage_rendered_again")


@pytest.fixture
async def short_deadline_api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_api(settings.model_copy(update={"gpu_wait_deadline_seconds": 8}), pool) as http:
        yield http


async def test_an_outage_past_the_deadline_fails_the_job_saying_so_and_gives_credits_back(
    short_deadline_api: httpx.AsyncClient,
    cpu_worker: None,
    client: Client,
    store: ObjectStore,
    pool: asyncpg.Pool,
    rig: Rig,
) -> None:
    api = short_deadline_api
    rig.sim.faults.append(Fault(kind="slow", seconds=10.0))
    async with gpu(client, rig):
        accepted = await start_avatar(api)
        await wait_for(api, accepted["jobId"], rendering)
        rig.sim.start_outage(30.0, forget=True)
        status = await wait_for(api, accepted["jobId"], done, within=30)
    assert status["status"] == "failed", status
    assert "the GPU machine was unreachable for" in status["error"]
    assert "deadline (8 s)" in status["error"]
    assert "http" not in status["error"]
    assert rig.sim.renders == 0
    await assert_no_leftovers(store, pool, accepted, ready=False)
    await record(client, accepted["workflowId"], "avatar_outage_past_deadline")


async def test_a_comfyui_that_ignores_client_prompt_ids_renders_each_job_once(
    api: httpx.AsyncClient, cpu_worker: None, client: Client, store: ObjectStore, pool: asyncpg.Pool, legacy_rig: Rig
) -> None:
    """ComfyUI 0.3.44 answers with a prompt id of its own; the worker follows it, also after a restart."""
    rig = legacy_rig
    rig.sim.faults.append(Fault(kind="slow", seconds=4.0))
    async with gpu(client, rig):
        accepted = await start_avatar(api)
        await wait_for(api, accepted["jobId"], rendering)  # steps from `progress` alone
    async with gpu(client, rig):  # a restarted worker re-attaches to the renamed prompt
        status = await wait_for(api, accepted["jobId"], done, within=60)
        second = await start_avatar(api)
        second_status = await wait_for(api, second["jobId"], done, within=60)
    assert status["status"] == "ready" and second_status["status"] == "ready", (status, second_status)
    assert rig.sim.renders == 2
    for job in (accepted, second):
        assert await activity_attempts(client, job["workflowId"], "queue_comfy_prompt") == 1
        await assert_no_leftovers(store, pool, job, ready=True)
    await record(client, accepted["workflowId"], "avatar_legacy_comfyui_reattached")


async def test_a_storage_outage_after_the_render_keeps_the_image_and_uploads_it_later(
    api: httpx.AsyncClient, client: Client, store: ObjectStore, pool: asyncpg.Pool, rig: Rig
) -> None:
    """The home uplink to storage drops as the render ends: the upload through its signed URL is tried again,
    nothing renders twice. The GPU machine reaches storage only at the endpoint the cloud side signs for."""
    assert rig.settings.s3_endpoint_url
    uplink = Proxy(rig.settings.s3_endpoint_url.removeprefix("http://"))
    await uplink.start()
    cloud = rig.settings.model_copy(update={"s3_upload_endpoint_url": f"http://{uplink.address}"})
    try:
        rig.sim.faults.append(Fault(kind="slow", seconds=2.0))
        async with build_cpu_worker(client, pool, ObjectStore(cloud), cloud), gpu(client, rig):
            accepted = await start_avatar(api)
            await wait_for(api, accepted["jobId"], rendering)
            uplink.cut()
            waiting = await wait_for(api, accepted["jobId"], lambda s: "storage" in str(s.get("waiting")), within=15)
            assert waiting["status"] == "running" and waiting["waitingSince"]
            await asyncio.sleep(3)
            uplink.restore()
            status = await wait_for(api, accepted["jobId"], done, within=60)
    finally:
        await uplink.stop()
    assert status["status"] == "ready", status
    assert rig.sim.renders == 1
    await assert_no_leftovers(store, pool, accepted, ready=True)
    await record(client, accepted["workflowId"], "avatar_storage_outage_uploaded_later")
