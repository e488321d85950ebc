"""The GPU worker: two Temporal workers over one ComfyUI.

- the shared `imagegen-gpu` queue takes `queue_comfy_prompt` from any job;
- this worker's own queue, `imagegen-gpu/<worker id>`, takes `await_comfy_result` for the prompts
  it queued, since only its ComfyUI knows them.

The worker id is stable across restarts (host + ComfyUI URL), so a restarted worker picks up the
awaits of its earlier self and re-attaches to prompts ComfyUI is still rendering.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections.abc import AsyncIterator

from temporalio.client import Client
from temporalio.worker import Worker

from activities.comfy import ComfyActivities
from comfyloom.comfyui.client import ComfyClient, ComfyEvents
from comfyloom.settings import GPU_TASK_QUEUE, Settings
from comfyloom.storage import ObjectStore

# Prompts queued in ComfyUI at once from this worker: one rendering, one waiting, so the GPU never
# idles between jobs while ComfyUI's own queue stays short.
QUEUE_CONCURRENCY = 2
AWAIT_CONCURRENCY = 16


def default_worker_id(settings: Settings) -> str:
    url_hash = hashlib.sha1(settings.comfyui_url.encode()).hexdigest()[:8]
    return f"{socket.gethostname()}-{url_hash}"


def worker_task_queue(worker_id: str) -> str:
    return f"{GPU_TASK_QUEUE}/{worker_id}"


@contextlib.asynccontextmanager
async def gpu_workers(
    client: Client, store: ObjectStore, settings: Settings, *, worker_id: str | None = None
) -> AsyncIterator[list[Worker]]:
    """The GPU worker's two Temporal workers with the ComfyUI event listener running beside them."""
    worker_id = worker_id or default_worker_id(settings)
    own_queue = worker_task_queue(worker_id)
    comfy = ComfyClient(settings.comfyui_url, client_id=worker_id)
    events = ComfyEvents(comfy)
    listener = asyncio.create_task(events.run(), name="comfyui-events")
    activities = ComfyActivities(
        comfy,
        events,
        store,
        worker_task_queue=own_queue,
        checkpoint=settings.comfyui_checkpoint,
        poll_seconds=settings.comfyui_poll_seconds,
    )
    workers = [
        Worker(
            client,
            task_queue=GPU_TASK_QUEUE,
            activities=[activities.queue_comfy_prompt],
            max_concurrent_activities=QUEUE_CONCURRENCY,
            identity=f"{worker_id}@shared",
        ),
        Worker(
            client,
            task_queue=own_queue,
            activities=[activities.await_comfy_result],
            max_concurrent_activities=AWAIT_CONCURRENCY,
            identity=worker_id,
        ),
    ]
    try:
        yield workers
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await comfy.aclose()


async def run_gpu_worker(
    client: Client, store: ObjectStore, settings: Settings, *, worker_id: str | None = None
) -> None:
    async with gpu_workers(client, store, settings, worker_id=worker_id) as workers:
        await asyncio.gather(*(w.run() for w in workers))
