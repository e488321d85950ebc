"""`python -m worker_gpu` (or `comfyloom worker-gpu`): run beside ComfyUI until interrupted."""

from __future__ import annotations

import logging

from comfyloom import temporal
from comfyloom.process import run_service
from comfyloom.settings import get_settings
from comfyloom.storage import ObjectStore
from worker_gpu.worker import default_worker_id, run_gpu_worker

log = logging.getLogger("comfyloom.worker_gpu")


async def serve() -> None:
    settings = get_settings()
    store = ObjectStore(settings)
    worker_id = default_worker_id(settings)
    client = await temporal.connect(settings, identity=worker_id)
    log.info("GPU worker %s: ComfyUI %s, Temporal %s", worker_id, settings.comfyui_url, settings.temporal_address)
    await run_gpu_worker(client, store, settings, worker_id=worker_id)


def main() -> None:
    run_service("worker-gpu", serve)


if __name__ == "__main__":
    main()
