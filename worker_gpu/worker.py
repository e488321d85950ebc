"""The GPU worker: Temporal workers over one ComfyUI.

- each template shipped has a queue, `imagegen-gpu@<template>`, that takes `queue_comfy_prompt` for renders
  of it; this worker polls it only while its ComfyUI accepts the template (worker_gpu/slot_supplier.py);
- the shared `imagegen-gpu` queue takes `queue_comfy_prompt` from runs started before those queues;
- this worker's own queue, `imagegen-gpu/<worker id>`, takes `await_comfy_result` for the prompts
  it queued, since only its ComfyUI knows them, and stages their images through URLs the cloud side signed;
- the fleet queue, `imagegen-gpu-fleet`, gives it one presence activity, whose heartbeats carry its readiness
  report to the cloud (workflows/fleet.py).

It holds no storage credential and reaches nothing but Temporal, its ComfyUI and the signed URLs.

The worker id is stable across restarts (host + ComfyUI URL), so a restarted worker picks up the
awaits of its earlier self and re-attaches to prompts ComfyUI is still rendering.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.comfy import ComfyActivities
from activities.presence import PresenceActivities
from comfy_templates import active_templates, template_names
from comfyloom.comfyui.client import ComfyClient, ComfyEvents
from comfyloom.lifecycle import run_workers
from comfyloom.scheduling import COMFY_BACKLOG
from comfyloom.settings import GPU_FLEET_TASK_QUEUE, GPU_TASK_QUEUE, Settings
from worker_gpu.readiness import Capability, report_forever, stopped_report
from worker_gpu.slot_supplier import ComfyRoom, queue_tuner
from workflows.policies import template_task_queue

AWAIT_CONCURRENCY = 16
# How long the worker waits for its first readiness report to be out before it polls anyway (no gpu-fleet run:
# no CPU worker has started yet).
FIRST_REPORT_SECONDS = 15.0
# A staged render's upload through its signed URL; a home uplink at 1 MB/s moves the largest in half a minute.
UPLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# Heartbeats carry progress and bring cancellation back; the SDK's default throttle (80% of the
# heartbeat timeout) would delay both by up to 16 s.
HEARTBEAT_THROTTLE = timedelta(seconds=1)


@dataclass(frozen=True)
class GpuWorkerSet:
    workers: list[Worker]
    # Set once the first readiness report reached the cloud (the presence activity's first heartbeat).
    first_report: asyncio.Event


def default_worker_id(settings: Settings) -> str:
    url_hash = hashlib.sha1(settings.comfyui_url.encode()).hexdigest()[:8]
    return f"{socket.gethostname()}-{url_hash}"


def worker_task_queue(worker_id: str) -> str:
    return f"{GPU_TASK_QUEUE}/{worker_id}"


@contextlib.asynccontextmanager
async def gpu_workers(
    client: Client, settings: Settings, *, worker_id: str | None = None
) -> AsyncIterator[GpuWorkerSet]:
    """The GPU worker's Temporal workers, with the ComfyUI event listener and the readiness loop beside them."""
    worker_id = worker_id or default_worker_id(settings)
    own_queue = worker_task_queue(worker_id)
    comfy = ComfyClient(settings.comfyui_url, client_id=worker_id)
    events = ComfyEvents(comfy)
    listener = asyncio.create_task(events.run(), name="comfyui-events")
    templates = active_templates(settings)
    capability = Capability()
    reporter = asyncio.create_task(
        report_forever(comfy, events, worker_id, settings.comfyui_checkpoint, templates, capability),
        name="comfyui-readiness",
    )
    uploads = httpx.AsyncClient(timeout=UPLOAD_TIMEOUT)
    # Every template shipped, not only those in use here: the API's settings choose, and may differ from ours.
    template_queues = {template_task_queue(name): name for name in template_names()}

    # A template's renders are taken once the first report is out (so a job that asks whether any worker renders
    # its template hears this one), or after FIRST_REPORT_SECONDS without it. The shared queue, awaits and the
    # presence slot are polled at once: the shared queue's poll is what tells the cloud this worker is there.
    started = asyncio.get_running_loop().time()

    def ready() -> bool:
        return capability.published.is_set() or asyncio.get_running_loop().time() - started > FIRST_REPORT_SECONDS

    def takes(task_queue: str) -> bool:
        template = template_queues.get(task_queue)
        return template is None or (ready() and capability.takes(template))

    room = ComfyRoom(comfy, events, capacity=COMFY_BACKLOG, takes=takes)
    activities = ComfyActivities(
        comfy,
        events,
        uploads,
        worker_task_queue=own_queue,
        checkpoint=settings.comfyui_checkpoint,
        poll_seconds=settings.comfyui_poll_seconds,
        takes=capability.takes,
        holdings=capability,
    )
    presence = PresenceActivities(capability, lambda: stopped_report(worker_id, comfy.base_url))

    def worker(task_queue: str, activity: Callable[..., Any], identity: str, **slots: Any) -> Worker:
        return Worker(
            client,
            task_queue=task_queue,
            activities=[activity],
            identity=identity,
            **slots,
            max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
            default_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
            graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_seconds),
        )

    # Every render queue, by the name its identity ends in: the templates', and the shared one of older runs.
    render_queues = {**template_queues, GPU_TASK_QUEUE: "shared"}
    workers = [
        # Jobs are taken only while this ComfyUI has room for them, and accepts their template
        # (worker_gpu/slot_supplier.py). One poll a queue (it allows no more), so a worker's idle queues cost
        # Temporal one long poll each.
        *(
            worker(
                queue,
                activities.queue_comfy_prompt,
                f"{worker_id}@{name}",
                tuner=queue_tuner(room),
                max_concurrent_activity_task_polls=1,
            )
            for queue, name in render_queues.items()
        ),
        worker(own_queue, activities.await_comfy_result, worker_id, max_concurrent_activities=AWAIT_CONCURRENCY),
        # One presence slot a worker: its heartbeats are this worker's report.
        worker(GPU_FLEET_TASK_QUEUE, presence.gpu_worker_presence, worker_id, max_concurrent_activities=1),
    ]
    try:
        yield GpuWorkerSet(workers, capability.published)
    finally:
        for task in (listener, reporter):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await comfy.aclose()
        await uploads.aclose()


async def run_gpu_worker(
    client: Client, settings: Settings, stop: asyncio.Event, *, worker_id: str | None = None
) -> None:
    """Polls until `stop`; then a render under way gets the grace period to finish, and is otherwise handed
    back with ComfyUI left rendering, for this worker's successor (same id) to re-attach to."""
    async with gpu_workers(client, settings, worker_id=worker_id) as started:
        await run_workers(started.workers, stop)
