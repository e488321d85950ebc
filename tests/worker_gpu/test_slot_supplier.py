"""Several GPU workers share one queue: a worker takes a job only when its ComfyUI has room for it, so no
GPU sits idle while another holds jobs it cannot start yet."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from temporalio.client import Client

from comfyloom import temporal
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack.simulator import SimConfig
from tests.helpers.auth import as_user
from tests.helpers.gpu import gpu, simulated
from tests.helpers.jobs import done, start_avatar, wait_for


async def comfy_backlog(url: str) -> int:
    async with httpx.AsyncClient(base_url=url) as http:
        queue = (await http.get("/queue")).json()
    return len(queue["queue_running"]) + len(queue["queue_pending"])


@pytest.mark.usefixtures("cpu_worker")
async def test_a_busy_gpu_leaves_the_next_job_to_an_idle_one(
    api: httpx.AsyncClient, client: Client, store: ObjectStore, settings: Settings
) -> None:
    async with (
        simulated(settings, SimConfig(render_seconds=3.0)) as busy,
        simulated(settings, SimConfig(render_seconds=0.3)) as idle,
        gpu(client, busy, worker_id="busy-gpu"),
    ):
        users = ["room-0", "room-1", "room-2"]
        first = [await start_avatar(api, user) for user in users[:2]]
        while await comfy_backlog(busy.settings.comfyui_url) < 2:  # noqa: ASYNC110 (one rendering, one next)
            await asyncio.sleep(0.1)
        third = await start_avatar(api, users[2])
        await asyncio.sleep(1.0)  # time enough for the busy worker to take it, if it took jobs it has no room for
        # Another machine: a connection of its own (one client may not run two workers on a queue).
        other = await temporal.connect(settings, identity="idle-gpu")
        async with gpu(other, idle, worker_id="idle-gpu"):
            status = await wait_for(api, third["jobId"], done, within=30, headers=as_user(users[2]))
            assert status["status"] == "ready", status
            # The idle GPU rendered it while the busy one was still on its first two.
            assert idle.sim.renders == 1
            assert busy.sim.renders < 2
            for user, accepted in zip(users, first, strict=False):
                status = await wait_for(api, accepted["jobId"], done, within=30, headers=as_user(user))
                assert status["status"] == "ready", status
    assert busy.sim.renders == 2


@pytest.mark.usefixtures("cpu_worker")
async def test_a_backlog_waits_in_temporal_with_comfyui_one_prompt_deep_and_two_gpus_both_busy(
    api: httpx.AsyncClient, client: Client, store: ObjectStore, settings: Settings
) -> None:
    """Ten avatars on two GPU workers: neither ComfyUI ever holds more than one prompt waiting behind the one it
    renders (the rest wait in Temporal, where priority and fairness order them), and both render."""
    async with (
        simulated(settings, SimConfig(render_seconds=0.8)) as one,
        simulated(settings, SimConfig(render_seconds=0.8)) as two,
        gpu(client, one, worker_id="deep-gpu-1"),
    ):
        other = await temporal.connect(settings, identity="deep-gpu-2")
        async with gpu(other, two, worker_id="deep-gpu-2"):
            jobs = [await start_avatar(api, f"deep-{i}") for i in range(10)]
            deepest = 0
            watching = asyncio.gather(
                *(
                    wait_for(api, job["jobId"], done, within=60, headers=as_user(f"deep-{i}"))
                    for i, job in enumerate(jobs)
                )
            )
            while not watching.done():
                for rig in (one, two):
                    deepest = max(deepest, await comfy_backlog(rig.settings.comfyui_url))
                await asyncio.sleep(0.05)
            statuses = await watching
    assert [s["status"] for s in statuses] == ["ready"] * 10
    assert deepest <= 2  # one rendering, one next
    assert one.sim.renders >= 3 and two.sim.renders >= 3 and one.sim.renders + two.sim.renders == 10
