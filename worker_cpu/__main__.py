"""`python -m worker_cpu` (or `comfyloom worker-cpu`): run the cloud worker until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import time

from activities.moderation import classifier
from comfyloom import db, metrics, start_outbox, temporal
from comfyloom.gpu_fleet import ensure_gpu_fleet
from comfyloom.kinds import KINDS
from comfyloom.lifecycle import run_service, run_workers
from comfyloom.settings import get_settings
from comfyloom.startup import database_url, host_of, reaching
from comfyloom.storage import ObjectStore
from worker_cpu.worker import build_cpu_worker, gpu_render_queues

log = logging.getLogger("comfyloom.worker_cpu")


async def serve(stop: asyncio.Event) -> None:
    settings = get_settings()
    url = database_url(settings, "CPU worker")
    async with reaching("PostgreSQL", host_of(url), "DATABASE_URL"):
        pool = await db.connect(url)
    applied = await db.migrate(pool)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    store = ObjectStore(settings)
    async with reaching("storage", settings.s3_endpoint_url, "S3_ENDPOINT_URL, S3_BUCKET and the S3_* keys"):
        await store.ensure_bucket()
    runtime = metrics.worker_runtime(settings)
    async with reaching("Temporal", settings.temporal_address, "TEMPORAL_ADDRESS and its TLS settings"):
        client = await temporal.connect(settings, runtime=runtime)
    # Loaded before polling: a MODERATION_MODEL that cannot load stops the worker now, not each job later.
    started = time.perf_counter()
    model = await asyncio.to_thread(classifier, settings.moderation_model)
    log.info(
        "output moderation: %s (%s, threshold %.2f, %.2f for requests showing a minor), loaded in %.1f s",
        settings.moderation_policy,
        model.name,
        settings.moderation_threshold,
        settings.moderation_minor_threshold,
        time.perf_counter() - started,
    )
    worker = build_cpu_worker(client, pool, store, settings)
    # GPU workers send their readiness through it (workflows/fleet.py): started once, kept running.
    await ensure_gpu_fleet(client, settings.gpu_fleet_size)
    log.info("CPU worker polling %s at %s", worker.task_queue, settings.temporal_address)
    # The cloud side reports the GPU backlog: it is still there to say so when the GPU machine is off.
    templates = sorted({spec.template(settings) for spec in KINDS.values()})
    backlog = asyncio.create_task(
        metrics.report_gpus(client, runtime, gpu_render_queues(), templates), name="gpu-backlog"
    )
    # Jobs an API admitted but crashed before starting: started here after a grace (comfyloom/start_outbox.py).
    sweep = asyncio.create_task(start_outbox.sweep_forever(pool, client), name="stranded-jobs")
    try:
        await run_workers([worker], stop)
    finally:
        backlog.cancel()
        sweep.cancel()
        await pool.close()


def main() -> None:
    run_service("worker-cpu", serve)


if __name__ == "__main__":
    main()
