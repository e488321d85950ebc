"""`python -m worker_gpu` (or `comfyloom worker-gpu`): run beside ComfyUI until SIGINT or SIGTERM.

`comfyloom worker-gpu --check` tries, from the GPU machine, everything the worker will need and
says what fails: a home setup's first command.
"""

from __future__ import annotations

import asyncio
import logging

from comfy_templates import SUPPORTED_PACKS, active_templates
from comfyloom import metrics, temporal
from comfyloom.comfyui.client import ComfyClient
from comfyloom.lifecycle import run_service
from comfyloom.object_keys import worker_report_key
from comfyloom.settings import Settings, get_settings
from comfyloom.startup import load_settings, reaching
from comfyloom.storage import ObjectStore
from worker_gpu.readiness import check_comfyui, publish
from worker_gpu.worker import default_worker_id, run_gpu_worker

log = logging.getLogger("comfyloom.worker_gpu")


async def serve(stop: asyncio.Event) -> None:
    settings = get_settings()
    store = ObjectStore(settings)
    worker_id = default_worker_id(settings)
    async with reaching("Temporal", settings.temporal_address, "TEMPORAL_ADDRESS and its TLS settings"):
        client = await temporal.connect(settings, identity=worker_id, runtime=metrics.worker_runtime(settings))
    log.info("GPU worker %s: ComfyUI %s, Temporal %s", worker_id, settings.comfyui_url, settings.temporal_address)
    await run_gpu_worker(client, store, settings, stop, worker_id=worker_id)


async def check_setup(settings: Settings) -> int:
    """Prints what this machine cannot reach or lacks; 0 when the worker can run."""
    worker_id = default_worker_id(settings)
    problems: list[str] = []
    print(f"GPU worker {worker_id}")
    try:
        await asyncio.wait_for(temporal.connect(settings, identity=worker_id), 30)
    except Exception as e:
        problems.append(f"Temporal at {settings.temporal_address}: {type(e).__name__}: {e}")
    comfy = ComfyClient(settings.comfyui_url, client_id=worker_id)
    try:
        report = await check_comfyui(comfy, worker_id, settings.comfyui_checkpoint, active_templates(settings))
    finally:
        await comfy.aclose()
    problems += report.problems
    try:  # the one write the worker makes outside renders: its own report, under staging/
        await publish(ObjectStore(settings), report)
    except Exception as e:
        problems.append(f"storage: cannot write {settings.s3_bucket}/{worker_report_key(worker_id)}: {e}")
    if report.comfyui_version:
        print(f"ComfyUI {report.comfyui_version} at {settings.comfyui_url}")
    if report.reachable:
        found = ", ".join(f"{pack} ({count} nodes)" for pack, count in report.packs.items())
        print(f"node packs: {found or 'none (a bare ComfyUI)'}")
        print(f"templates written for: {', '.join(f'{p} {v}' for p, v in SUPPORTED_PACKS.items())}")
        for check in report.templates:
            verdict = "ComfyUI accepts it" if check.renders else "ComfyUI would refuse it (below)"
            print(f"{'OK  ' if check.renders else 'FAIL'}  template {check.template}: {verdict}")
    for note in report.notes:
        print(f"NOTE  {note}")
    for problem in problems:
        print(f"FAIL  {problem}")
    print("ready: run `comfyloom worker-gpu`" if not problems else f"{len(problems)} problem(s) to fix first")
    return 1 if problems else 0


def check() -> int:
    """Raises:
    StartupError: a setting malformed or missing, before anything is tried.
    """
    return asyncio.run(check_setup(load_settings()))


def main() -> None:
    run_service("worker-gpu", serve)


if __name__ == "__main__":
    main()
