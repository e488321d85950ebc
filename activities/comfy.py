"""The GPU activities: the only code that talks to ComfyUI. They run on the GPU worker beside it.

queue_comfy_prompt runs on the shared GPU queue and answers with the queue of the one worker whose
ComfyUI now holds the prompt; await_comfy_result runs there, since only that ComfyUI knows it.
"""

from __future__ import annotations

import asyncio
import io
import uuid

from PIL import Image
from temporalio import activity
from temporalio.exceptions import ApplicationError

from comfy_templates import RenderParams, load_template
from comfyloom.comfyui.client import (
    ComfyClient,
    ComfyEvents,
    ComfyExecutionFailed,
    ComfyInterrupted,
    ComfyPromptLost,
    ComfyRejected,
    output_images,
    wait_for_prompt,
)
from comfyloom.contracts import (
    AwaitRequest,
    QueuedPrompt,
    RenderProgress,
    RenderRequest,
    RenderResult,
    StagedImage,
)
from comfyloom.storage import ObjectStore

_PROMPT_NAMESPACE = uuid.UUID("8a4f0f55-5b0e-4bd8-9a43-7f3c0e1f2d6b")

# Prompts held in ComfyUI at once (running + pending): one rendering and the next one ready, so
# the GPU never idles between jobs, while the rest of the backlog stays in Temporal where any GPU
# worker can take it and a cancelled job never reaches ComfyUI.
COMFY_BACKLOG = 2
BACKLOG_POLL_SECONDS = 0.1

# Error types the workflow reacts to (see workflows/policies.py).
REJECTED = "ComfyRejected"
EXECUTION_FAILED = "ComfyExecutionFailed"
OUT_OF_MEMORY = "ComfyOutOfMemory"
PROMPT_LOST = "ComfyPromptLost"
INTERRUPTED = "ComfyInterrupted"
NO_OUTPUT = "ComfyNoOutput"
WORKER_SHUTDOWN = "GpuWorkerShutdown"  # retryable: the activity is handed back


def prompt_id_for(workflow_id: str, step: str) -> str:
    """Same run and step, same prompt id: a retried activity finds its prompt instead of rendering twice."""
    return str(uuid.uuid5(_PROMPT_NAMESPACE, f"{workflow_id}/{step}"))


def filename_prefix_for(workflow_id: str, step: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{workflow_id}_{step}")
    return f"comfyloom/{safe}"


class ComfyActivities:
    def __init__(
        self,
        client: ComfyClient,
        events: ComfyEvents,
        store: ObjectStore,
        *,
        worker_task_queue: str,
        checkpoint: str,
        poll_seconds: float,
    ) -> None:
        self._client = client
        self._events = events
        self._store = store
        self._worker_task_queue = worker_task_queue
        self._checkpoint = checkpoint
        self._poll_seconds = poll_seconds
        self._queueing = asyncio.Lock()

    async def _known(self, prompt_id: str) -> bool:
        return (
            await self._client.queue_state(prompt_id) is not None or await self._client.history(prompt_id) is not None
        )

    @activity.defn(name="queue_comfy_prompt")
    async def queue_comfy_prompt(self, request: RenderRequest) -> QueuedPrompt:
        for earlier in request.reattach_prompt_ids:
            if await self._known(earlier):
                activity.logger.info("re-attaching to prompt %s of an earlier attempt", earlier)
                return QueuedPrompt(prompt_id=earlier, worker_task_queue=self._worker_task_queue, reattached=True)
        prompt_id = prompt_id_for(request.workflow_id, request.step)
        if await self._known(prompt_id):
            activity.logger.info("prompt %s already in ComfyUI; re-attaching", prompt_id)
            return QueuedPrompt(prompt_id=prompt_id, worker_task_queue=self._worker_task_queue, reattached=True)
        template = load_template(request.template)
        graph = template.render(
            RenderParams(
                positive=request.positive,
                negative=request.negative,
                seed=request.seed,
                width=request.width,
                height=request.height,
                checkpoint=self._checkpoint,
                filename_prefix=filename_prefix_for(request.workflow_id, request.step),
            ),
            request.loras,
        )
        async with self._queueing:
            while (backlog := await self._client.backlog()) >= COMFY_BACKLOG:
                if activity.is_worker_shutdown():  # hand the job back to the queue, for another GPU worker
                    raise ApplicationError("the GPU worker is shutting down", type=WORKER_SHUTDOWN)
                activity.heartbeat(f"ComfyUI busy ({backlog} prompts); waiting for a free slot")
                await asyncio.sleep(BACKLOG_POLL_SECONDS)
            try:
                await self._client.queue_prompt(graph, prompt_id)
            except ComfyRejected as e:
                raise ApplicationError(f"ComfyUI rejected the graph: {e}", type=REJECTED, non_retryable=True) from e
        activity.logger.info("queued prompt %s (%s)", prompt_id, request.template)
        return QueuedPrompt(prompt_id=prompt_id, worker_task_queue=self._worker_task_queue)

    @activity.defn(name="await_comfy_result")
    async def await_comfy_result(self, request: AwaitRequest) -> RenderResult:
        prompt_id = request.prompt_id

        def heartbeat(node: str | None, step: int, total: int) -> None:
            activity.heartbeat(RenderProgress(prompt_id=prompt_id, node=node, step=step, total=total))

        heartbeat(None, 0, 0)
        try:
            entry = await wait_for_prompt(
                self._client, self._events, prompt_id, on_progress=heartbeat, poll_seconds=self._poll_seconds
            )
        except asyncio.CancelledError:
            if activity.is_worker_shutdown():
                # Handed back with the render left running: a retry on this worker's queue finds its
                # successor (same worker id), or after schedule-to-start another GPU worker re-attaches.
                raise ApplicationError(
                    f"the GPU worker shut down while prompt {prompt_id} was in ComfyUI", type=WORKER_SHUTDOWN
                ) from None
            await self._stop(prompt_id)
            raise
        except ComfyExecutionFailed as e:
            if e.out_of_memory:
                await self._client.free(unload_models=True, free_memory=True)
                raise ApplicationError(str(e), type=OUT_OF_MEMORY, non_retryable=True) from e
            raise ApplicationError(str(e), type=EXECUTION_FAILED, non_retryable=True) from e
        except ComfyInterrupted as e:
            raise ApplicationError(str(e), type=INTERRUPTED, non_retryable=True) from e
        except ComfyPromptLost as e:
            raise ApplicationError(str(e), type=PROMPT_LOST, non_retryable=True) from e

        images = output_images(entry)
        if not images:
            raise ApplicationError(
                f"prompt {prompt_id} finished without saving an image", type=NO_OUTPUT, non_retryable=True
            )
        staged: list[StagedImage] = []
        for index, image in enumerate(images):
            png = await self._client.view(image)
            with Image.open(io.BytesIO(png)) as img:
                width, height = img.size
            key = f"{request.staging_prefix}{prompt_id}/{image.node_id}_{index}.png"
            await self._store.put(key, png, "image/png")
            staged.append(StagedImage(key=key, node_id=image.node_id, width=width, height=height))
            heartbeat(None, 0, 0)
        template = load_template(request.template)
        ran = entry.get("prompt")
        graph = ran[2] if isinstance(ran, list) and len(ran) > 2 and isinstance(ran[2], dict) else {}
        return RenderResult(
            prompt_id=prompt_id,
            images=staged,
            checkpoint=str(template.input_value(graph, "checkpoint") or self._checkpoint),
            template_sha256=template.sha256,
        )

    async def _stop(self, prompt_id: str) -> None:
        """Cancelled: take the prompt out of ComfyUI and confirm it is gone, so no GPU time is wasted."""
        for _ in range(20):
            state = await self._client.queue_state(prompt_id)
            if state is None:
                activity.logger.info("prompt %s stopped", prompt_id)
                return
            if state == "pending":
                await self._client.delete_pending(prompt_id)
            else:
                await self._client.interrupt(prompt_id)
            await asyncio.sleep(0.25)
        activity.logger.warning("prompt %s still in ComfyUI after interrupt (node ignores interrupts?)", prompt_id)
