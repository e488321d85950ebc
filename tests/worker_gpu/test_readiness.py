"""The GPU worker tells, in plain words, what its ComfyUI lacks; the API's health shows it."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from temporalio.client import Client

from comfyloom.comfyui.client import ComfyClient
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from tests.conftest import LocalParts, running_gpu_worker
from worker_gpu.readiness import check_comfyui


async def test_a_complete_comfyui_has_no_problems(local_parts: LocalParts) -> None:
    client = ComfyClient(local_parts.comfyui_url, "check")
    report = await check_comfyui(client, "w1", "waiNSFWIllustrious_v130.safetensors")
    await client.aclose()
    assert report.reachable and report.problems == []
    assert report.devices == ["cuda:0 comfyloom simulator"]


async def test_a_missing_checkpoint_is_named_with_what_is_installed(local_parts: LocalParts) -> None:
    client = ComfyClient(local_parts.comfyui_url, "check")
    report = await check_comfyui(client, "w1", "ponyDiffusion.safetensors")
    await client.aclose()
    [problem] = report.problems
    assert "checkpoint 'ponyDiffusion.safetensors' (COMFYUI_CHECKPOINT), which every template needs" in problem
    assert "waiNSFWIllustrious_v130.safetensors" in problem


async def test_an_unreachable_comfyui_is_reported() -> None:
    client = ComfyClient("http://127.0.0.1:9", "check")
    report = await check_comfyui(client, "w1", "x")
    await client.aclose()
    assert not report.reachable and "does not answer" in report.problems[0]


@pytest.mark.usefixtures("cpu_worker")
async def test_health_shows_what_a_gpu_worker_is_missing(
    api: httpx.AsyncClient, client: Client, store: ObjectStore, settings: Settings
) -> None:
    missing = settings.model_copy(update={"comfyui_checkpoint": "not-installed.safetensors"})
    async with running_gpu_worker(client, store, missing):
        for _ in range(50):
            reports = (await api.get("/api/v1/image-generation/health")).json()["gpuWorkerReports"]
            if reports and reports[0]["problems"]:
                break
            await asyncio.sleep(0.1)
    assert reports[0]["workerId"] == "test-gpu"
    assert "not-installed.safetensors" in reports[0]["problems"][0]
