"""The operators' view of the GPU fleet: `GET /api/v1/admin/gpu-workers`, and the page that shows it in a real
headless Chromium to an operator who signed in with an operator key, never putting the key in a URL. In the
health tests' namespace, where only the GPU workers a test starts poll."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
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
from tests.helpers.auth import as_user
from tests.helpers.browser import chromium
from tests.helpers.gpu import gpu, simulated
from tests.helpers.jobs import done, start_avatar, wait_for
from tests.helpers.packs import COVER_REFUSED, NEWER_IMPACT_PACK
from tests.helpers.parts import HEALTH_NAMESPACE, running_gpu_worker, serve_api

OPERATOR = as_user("fleet-operator", admin=True)
FLEET = "/api/v1/admin/gpu-workers"


@pytest.fixture
async def ops(settings: Settings, pool: asyncpg.Pool, store: ObjectStore) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_api(settings.model_copy(update={"temporal_namespace": HEALTH_NAMESPACE}), pool) as http:
        yield http


async def fleet_until(ops: httpx.AsyncClient, states: dict[str, str], within: float = 30) -> list[dict[str, Any]]:
    """The fleet once each named worker is in its state (the view is read every 2 s)."""
    deadline = time.monotonic() + within
    while True:
        answer = await ops.get(FLEET, headers=OPERATOR)
        assert answer.status_code == 200, answer.text
        workers: list[dict[str, Any]] = answer.json()["workers"]
        seen = {w["workerId"]: w["state"] for w in workers}
        if all(seen.get(worker) == state for worker, state in states.items()):
            return workers
        assert time.monotonic() < deadline, f"timed out; last {seen}"
        await asyncio.sleep(0.3)


async def test_the_fleet_shows_a_worker_that_renders_one_that_cannot_render_cover_and_one_that_stopped(
    ops: httpx.AsyncClient, client: Client, settings: Settings, tmp_path: Path
) -> None:
    async def machine() -> Client:
        """A GPU machine's own connection (one client may not run two workers on a queue)."""
        return await Client.connect(
            client.service_client.config.target_host, namespace=HEALTH_NAMESPACE, data_converter=pydantic_data_converter
        )

    port = localstack.free_port()
    newer = await serve(SimConfig(node_inputs=NEWER_IMPACT_PACK), "127.0.0.1", port)
    try:
        async with running_gpu_worker(await machine(), settings, "fleet-gone"):
            pass  # it polled, reported, and stopped saying so
        async with (
            running_gpu_worker(await machine(), settings, "fleet-renders"),
            running_gpu_worker(
                await machine(),
                settings.model_copy(update={"comfyui_url": f"http://127.0.0.1:{port}"}),
                "fleet-no-cover",
            ),
        ):
            states = {"fleet-renders": "polling", "fleet-no-cover": "polling", "fleet-gone": "stopped"}
            workers = {w["workerId"]: w for w in await fleet_until(ops, states)}
            page_text, rows, url = await the_page_as_an_operator_sees_it(str(ops.base_url), tmp_path)
    finally:
        await newer.cleanup()

    renders = workers["fleet-renders"]
    assert renders["comfyuiVersion"] == "0.3.64" and renders["queue"] == "imagegen-gpu/fleet-renders"
    assert all(t["renders"] for t in renders["templates"]) and "ComfyUI-Impact-Pack" in renders["packs"]
    refused = {t["template"]: t for t in workers["fleet-no-cover"]["templates"]}
    assert not refused["cover"]["renders"] and COVER_REFUSED in refused["cover"]["reasons"]
    assert refused["avatar"]["renders"]
    assert workers["fleet-gone"]["lastSeenAt"] is not None

    # What the operator sees, row by row.
    assert "polling" in rows["fleet-renders"] and "cover: renders" in rows["fleet-renders"]
    assert "cover: cannot render: " + COVER_REFUSED in rows["fleet-no-cover"]
    assert "avatar: renders" in rows["fleet-no-cover"]
    assert "stopped" in rows["fleet-gone"]
    assert "Failed jobs" in page_text
    # The key went in a header, never in the address.
    assert "cl_test_" not in url and "key" not in url


async def the_page_as_an_operator_sees_it(api: str, tmp_path: Path) -> tuple[str, dict[str, str], str]:
    """Sign in with the operator key, wait for the three workers; the page's text, each worker's row, its URL."""
    secret = OPERATOR["Authorization"].removeprefix("Bearer ")
    async with chromium() as page:
        await page.open(f"{api}/api/v1/admin/fleet")
        assert await page.evaluate("document.getElementById('fleet').hidden")  # nothing shown before signing in
        await page.evaluate(f"document.getElementById('key').value = {secret!r}")
        await page.evaluate("document.getElementById('login').requestSubmit()")
        await page.until("document.querySelectorAll('#workers tr[data-worker]').length >= 3")
        rows = await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#workers tr[data-worker]')]"
            ".map(row => [row.dataset.worker, row.innerText]))"
        )
        text = await page.evaluate("document.body.innerText")
        url = await page.evaluate("location.href")
        shot = tmp_path / "fleet.png"
        await page.screenshot(shot)
        if os.environ.get("COMFYLOOM_SCREENSHOTS"):  # kept for a person to look at
            shutil.copy(shot, Path(os.environ["COMFYLOOM_SCREENSHOTS"]) / "fleet.png")
    return str(text), dict(rows), str(url)


@pytest.mark.usefixtures("cpu_worker")
async def test_the_fleet_shows_what_a_gpu_worker_draws_now_and_what_it_drew_in_the_last_hour(
    api: httpx.AsyncClient, client: Client, settings: Settings
) -> None:
    async with simulated(settings, SimConfig(render_seconds=3.0)) as rig, gpu(client, rig, worker_id="fleet-drawing"):
        accepted = await start_avatar(api, "fleet-user")
        deadline = time.monotonic() + 30
        while True:
            workers = (await api.get(FLEET, headers=OPERATOR)).json()["workers"]
            mine = next((w for w in workers if w["workerId"] == "fleet-drawing"), None)
            drawing = [r for r in (mine or {}).get("rendering", []) if r["renderingSince"]]
            if drawing:
                break
            assert time.monotonic() < deadline, mine
            await asyncio.sleep(0.3)
        assert drawing[0]["workflowId"] == accepted["workflowId"] and drawing[0]["template"] == "avatar"
        assert (await wait_for(api, accepted["jobId"], done, headers=as_user("fleet-user")))["status"] == "ready"
        await asyncio.sleep(2.1)  # the fleet view is read at most every 2 s
        mine = next(
            w for w in (await api.get(FLEET, headers=OPERATOR)).json()["workers"] if w["workerId"] == "fleet-drawing"
        )
    assert mine["rendersLastHour"] == 1 and mine["busyLastHour"] > 0 and mine["rendering"] == []
