"""`python -m worker_gpu` (or `comfyloom worker-gpu`): run beside ComfyUI until SIGINT or SIGTERM.

`--check` tries, from the GPU machine, everything the worker will need and says what fails, in plain words:
a home setup's first command. The worker needs Temporal (its certificate or API key) and its ComfyUI, nothing
else: renders are uploaded through URLs the cloud side signs, and readiness goes out as heartbeats.
"""

from __future__ import annotations

import asyncio
import logging
import os

from comfy_templates import SUPPORTED_PACKS, active_templates
from comfyloom import metrics, temporal
from comfyloom.comfyui.client import ComfyClient
from comfyloom.lifecycle import run_service
from comfyloom.settings import Settings, get_settings
from comfyloom.startup import StartupError, load_settings, reaching
from worker_gpu.readiness import check_comfyui
from worker_gpu.worker import default_worker_id, run_gpu_worker

log = logging.getLogger("comfyloom.worker_gpu")

TEMPORAL_SETTINGS = "TEMPORAL_ADDRESS, and TEMPORAL_TLS_CA/_CERT/_KEY or TEMPORAL_API_KEY"
# How a person starts the worker on this machine: scripts/gpu-worker says so when it runs the check.
LAUNCHER = "COMFYLOOM_LAUNCHER"


async def serve(stop: asyncio.Event) -> None:
    settings = get_settings()
    worker_id = default_worker_id(settings)
    async with reaching("Temporal", settings.temporal_address, TEMPORAL_SETTINGS):
        client = await temporal.connect(settings, identity=worker_id, runtime=metrics.worker_runtime(settings))
    log.info(
        "GPU worker %s started: ComfyUI %s, Temporal %s", worker_id, settings.comfyui_url, settings.temporal_address
    )
    await run_gpu_worker(client, settings, stop, worker_id=worker_id)


async def check_setup(settings: Settings) -> int:
    """Prints what this machine cannot reach or lacks; 0 when the worker can run."""
    worker_id = default_worker_id(settings)
    problems: list[str] = []
    print(f"GPU worker {worker_id}")
    try:
        async with asyncio.timeout(30), reaching("Temporal", settings.temporal_address, TEMPORAL_SETTINGS):
            await temporal.connect(settings, identity=worker_id)
        print(f"Temporal at {settings.temporal_address}: connected")
    except (StartupError, TimeoutError) as e:
        problems.append(str(e) or f"Temporal at {settings.temporal_address} did not answer in 30 s")
    comfy = ComfyClient(settings.comfyui_url, client_id=worker_id)
    try:
        report = await check_comfyui(comfy, worker_id, settings.comfyui_checkpoint, active_templates(settings))
    finally:
        await comfy.aclose()
    problems += report.problems
    if report.comfyui_version:
        print(f"ComfyUI {report.comfyui_version} at {settings.comfyui_url}")
    if report.reachable:
        found = ", ".join(f"{pack} ({count} nodes)" for pack, count in report.packs.items())
        print(f"node packs: {found or 'none (a bare ComfyUI)'}")
        print(f"templates written for: {', '.join(f'{p} {v}' for p, v in SUPPORTED_PACKS.items())}")
        for check in report.templates:
            verdict = "ComfyUI accepts it" if check.renders else "ComfyUI would refuse it (below)"
            print(f"{'OK  ' if check.renders else 'FAIL'}  template {check.template}: {verdict}")
    print("storage: none on this machine (renders go up through URLs the cloud side signs for each one)")
    for note in report.notes:
        print(f"NOTE  {note}")
    for problem in problems:
        print(f"FAIL  {problem}")
    launcher = os.environ.get(LAUNCHER) or "comfyloom worker-gpu"
    print(f"ready: run `{launcher}`" if not problems else f"{len(problems)} problem(s) to fix first")
    return 1 if problems else 0


def check() -> int:
    """Raises:
    StartupError: a setting malformed or missing, before anything is tried.
    """
    return asyncio.run(check_setup(load_settings(uses_storage=False)))


def main() -> None:
    run_service("worker-gpu", serve, uses_storage=False)


if __name__ == "__main__":
    main()
