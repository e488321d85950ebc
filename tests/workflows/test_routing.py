"""A render goes only to a GPU worker whose ComfyUI accepts its template; when none that reports does, the job
fails at once, saying why, and charges nothing."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from comfyloom import temporal
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack.simulator import SimConfig
from tests.helpers.gpu import assert_no_leftovers, gpu, reported, simulated
from tests.helpers.history import record
from tests.helpers.jobs import create_character, done, post, wait_for
from tests.helpers.packs import COVER_REFUSED, NEWER_IMPACT_PACK


async def start_cover(api: httpx.AsyncClient) -> dict[str, Any]:
    character = await create_character(api)
    body = {"title": "A Lua", "synopsis": "Uma floresta encantada.", "characterIds": [character["id"]]}
    response = await post(api, "/api/v1/image-generation/cover", body)
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


@pytest.mark.usefixtures("cpu_worker")
async def test_a_job_no_gpu_worker_can_render_fails_at_once_saying_why_and_charging_nothing(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    async with (
        simulated(settings, SimConfig(node_inputs=NEWER_IMPACT_PACK)) as newer,
        gpu(client, newer, worker_id="newer-pack-gpu"),
    ):
        report = await reported(client, "newer-pack-gpu")
        assert report.problems == [COVER_REFUSED]
        accepted = await start_cover(api)
        status = await wait_for(api, accepted["jobId"], done, within=30)
        avatar = await post(
            api, "/api/v1/image-generation/avatar", {"characterId": (await create_character(api))["id"]}
        )
        drawn = await wait_for(api, avatar.json()["jobId"], done, within=30)
    assert status["status"] == "failed"
    assert COVER_REFUSED in status["error"] and status["error"].endswith("no credits were charged")
    assert status["error"].startswith("no GPU machine can draw this image now")
    assert newer.sim.renders == 1 and drawn["status"] == "ready"  # the avatar: that ComfyUI renders the rest
    await assert_no_leftovers(store, pool, accepted, ready=False)
    await record(client, accepted["workflowId"], "cover_no_gpu_can_render_failed_at_once")


@pytest.mark.usefixtures("cpu_worker")
async def test_with_two_gpu_workers_a_cover_goes_to_the_one_whose_comfyui_accepts_it(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    async with (
        simulated(settings, SimConfig(node_inputs=NEWER_IMPACT_PACK, render_seconds=0.2)) as newer,
        simulated(settings, SimConfig(render_seconds=0.2)) as stock,
        gpu(client, newer, worker_id="newer-pack-gpu"),
    ):
        await reported(client, "newer-pack-gpu")
        # A second machine: a connection of its own (one client may not run two workers on a queue).
        other = await temporal.connect(settings, identity="stock-gpu")
        async with gpu(other, stock, worker_id="stock-gpu"):
            await reported(client, "stock-gpu")
            covers = [await start_cover(api) for _ in range(3)]
            statuses = [await wait_for(api, c["jobId"], done, within=60) for c in covers]
    assert [s["status"] for s in statuses] == ["ready"] * 3, statuses
    assert (stock.sim.renders, newer.sim.renders) == (3, 0)
    for accepted in covers:
        await assert_no_leftovers(store, pool, accepted, ready=True)
    await record(client, covers[0]["workflowId"], "cover_routed_to_the_gpu_that_accepts_it")
