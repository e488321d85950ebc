"""The GPU activities: the only code that talks to ComfyUI. They run on the GPU worker beside it.

queue_comfy_prompt runs on the shared GPU queue and answers with the queue of the one worker whose
ComfyUI now holds the prompt; await_comfy_result runs there, since only that ComfyUI knows it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import httpx
from temporalio import activity

from comfy_templates import RenderParams, load_template
from comfyloom.comfyui.client import (
    ComfyClient,
    ComfyEvents,
    ComfyExecutionFailed,
    ComfyInterrupted,
    ComfyPromptLost,
    ComfyRejected,
    ComfyUnavailable,
    OutputImage,
    WaitState,
    execution_seconds,
    output_images,
    wait_for_prompt,
)
from comfyloom.comfyui.failures import interrupted_sentence, operator_details, user_sentence
from comfyloom.comfyui.png import png_size
from comfyloom.contracts.health import RenderNow
from comfyloom.contracts.render import (
    AwaitRequest,
    QueuedPrompt,
    RenderProgress,
    RenderRequest,
    RenderResult,
    SignedUpload,
    StagedImage,
    WaitingFor,
)
from comfyloom.errors import ErrorType, failure
from comfyloom.scheduling import COMFY_BACKLOG, goes_to_front

_PROMPT_NAMESPACE = uuid.UUID("8a4f0f55-5b0e-4bd8-9a43-7f3c0e1f2d6b")

BACKLOG_POLL_SECONDS = 0.1
# How often a render's sampler steps are heartbeated at most (a new node or wait goes at once).
PROGRESS_SECONDS = 1.0
# A staging upload that failed is tried again after 1, 2, 4 ... at most this many seconds, until its URL expires
# (the job's deadline): a home uplink drops more often than a GPU fails, and the render is kept in memory meanwhile.
STAGING_RETRY_CAP = 10.0
# What storage answers a presigned PUT whose URL expired, or whose signature it refuses: a new URL is needed.
URL_REFUSED = (400, 403)

log = logging.getLogger("comfyloom.worker_gpu")
T = TypeVar("T")


def _job_is_over() -> bool:
    """Whether a cancelled render is no longer wanted: the job was cancelled, or its deadline passed. An attempt
    that merely outlived start-to-close is also cancelled, and its retry re-attaches to the render."""
    details = activity.cancellation_details()
    if details is not None and details.cancel_requested:
        return True
    info = activity.info()
    if info.schedule_to_close_timeout is None:
        return details is None or not details.timed_out
    return datetime.now(UTC) >= info.scheduled_time + info.schedule_to_close_timeout - timedelta(seconds=1)


def _earlier_wait(waiting_for: WaitingFor) -> datetime | None:
    """Since when an earlier attempt of this activity waited for the same thing (its last heartbeat)."""
    details = activity.info().heartbeat_details
    if not details:
        return None
    try:
        earlier = RenderProgress.model_validate(details[0])
    except ValueError:  # details from an older worker (a plain string): nothing to carry on
        return None
    return earlier.waiting_since if earlier.waiting_for == waiting_for else None


def _interactive() -> bool:
    """A render someone waits for (comfyloom/scheduling.py): queued in ComfyUI ahead of the set's sticker it
    holds next, which the worker took before this job was asked for."""
    return goes_to_front(activity.info().priority.priority_key)


def prompt_id_for(workflow_id: str, step: str) -> str:
    """Same run and step, same prompt id: a retried activity finds its prompt instead of rendering twice."""
    return str(uuid.uuid5(_PROMPT_NAMESPACE, f"{workflow_id}/{step}"))


def filename_prefix_for(workflow_id: str, step: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{workflow_id}_{step}")
    return f"comfyloom/{safe}"


def render_graph(request: RenderRequest, checkpoint: str) -> dict[str, Any]:
    """The graph this worker sends ComfyUI for `request`: what readiness and the tests validate, too."""
    return load_template(request.template).render(
        RenderParams(
            positive=request.positive,
            negative=request.negative,
            seed=request.seed,
            width=request.width,
            height=request.height,
            checkpoint=checkpoint,
            filename_prefix=filename_prefix_for(request.workflow_id, request.step),
        ),
        request.loras,
    )


class Holdings(Protocol):
    """Where the worker keeps what it has in ComfyUI, for its presence report (worker_gpu/readiness.py)."""

    def hold(self, prompt_id: str, now: RenderNow | None) -> None: ...

    def held(self) -> dict[str, RenderNow]: ...


class ComfyActivities:
    def __init__(
        self,
        client: ComfyClient,
        events: ComfyEvents,
        uploads: httpx.AsyncClient,
        *,
        worker_task_queue: str,
        checkpoint: str,
        poll_seconds: float,
        takes: Callable[[str], bool] | None = None,
        holdings: Holdings | None = None,
    ) -> None:
        self._client = client
        self._holdings = holdings
        self._awaiting: set[str] = set()
        # Whether this worker's ComfyUI accepts a template, by its readiness check (None: not asked).
        self._takes = takes
        self._events = events
        # Puts staged renders through the URLs the cloud side signed: this machine holds no storage credential.
        self._uploads = uploads
        self._worker_task_queue = worker_task_queue
        self._checkpoint = checkpoint
        self._poll_seconds = poll_seconds
        self._queueing = asyncio.Lock()
        self._front: set[str] = set()  # prompts this worker queued at the front of ComfyUI's pending ones

    def _hold(self, prompt_id: str, template: str, *, rendering: bool = False) -> None:
        """Note what ComfyUI holds of ours, for the fleet page: the run, the template, since when."""
        if self._holdings is None:
            return
        now = datetime.now(UTC)
        earlier = self._holdings.held().get(prompt_id)
        queued_at = earlier.queued_at if earlier else now
        since = (earlier.rendering_since if earlier else None) or (now if rendering else None)
        held = RenderNow(
            workflow_id=activity.info().workflow_id or "?",
            template=template,
            queued_at=queued_at,
            rendering_since=since,
        )
        self._holdings.hold(prompt_id, held)

    def _queued(self, prompt_id: str, *, reattached: bool = False) -> QueuedPrompt:
        return QueuedPrompt(prompt_id=prompt_id, worker_task_queue=self._worker_task_queue, reattached=reattached)

    async def _reachable(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call`, tried again every poll interval while ComfyUI does not answer, heartbeating since when;
        the activity's deadline (the job's) is what ends the wait."""
        since = _earlier_wait("comfyui")
        while True:
            try:
                return await call()
            except ComfyUnavailable as e:
                if since is None:
                    log.warning("%s; waiting for it", e)
                since = since or datetime.now(UTC)
                activity.heartbeat(RenderProgress(waiting_for="comfyui", waiting_since=since))
                if activity.is_worker_shutdown():
                    raise failure(ErrorType.gpu_worker_shutdown, "the GPU worker is shutting down") from None
                await asyncio.sleep(self._poll_seconds)

    @activity.defn(name="queue_comfy_prompt")
    async def queue_comfy_prompt(self, request: RenderRequest) -> QueuedPrompt:
        return await self._reachable(lambda: self._queue(request))

    async def _queue(self, request: RenderRequest) -> QueuedPrompt:
        for earlier in request.reattach_prompt_ids:
            if (found := await self._client.find_prompt(earlier)) is not None:
                activity.logger.info("re-attaching to prompt %s of an earlier attempt", found)
                return self._queued(found, reattached=True)
        prompt_id = prompt_id_for(request.workflow_id, request.step)
        if (found := await self._client.find_prompt(prompt_id)) is not None:
            activity.logger.info("prompt %s already in ComfyUI; re-attaching", found)
            return self._queued(found, reattached=True)
        if self._takes is not None and not self._takes(request.template):
            # Taken just before the check said ComfyUI would refuse it (or from the shared queue): handed back
            # to its queue, for a worker whose ComfyUI accepts it.
            raise failure(
                ErrorType.template_refused_here, f"this GPU worker's ComfyUI would refuse template {request.template!r}"
            )
        graph = render_graph(request, self._checkpoint)
        front = _interactive()
        waiting_since: datetime | None = None
        while True:
            async with self._queueing:  # the look at ComfyUI's queue and the queueing, one job at a time
                if await self._has_room(front=front):
                    try:
                        comfy_id = await self._client.queue_prompt(graph, prompt_id, front=front)
                    except ComfyRejected as e:
                        raise failure(ErrorType.comfy_rejected, f"ComfyUI rejected the graph: {e}") from e
                    if front:
                        self._front.add(comfy_id)
                    break
            if activity.is_worker_shutdown():  # hand the job back to the queue, for another GPU worker
                raise failure(ErrorType.gpu_worker_shutdown, "the GPU worker is shutting down")
            waiting_since = waiting_since or datetime.now(UTC)
            activity.heartbeat(RenderProgress(waiting_for="gpu_slot", waiting_since=waiting_since))
            await asyncio.sleep(BACKLOG_POLL_SECONDS)
        activity.logger.info("queued prompt %s (%s%s)", comfy_id, request.template, ", at the front" if front else "")
        self._hold(comfy_id, request.template)
        return self._queued(comfy_id)

    async def _has_room(self, *, front: bool) -> bool:
        """Whether ComfyUI may take one more prompt: COMFY_BACKLOG in all, one rendering and one next. A render
        someone waits for goes ahead of the bulk prompt ComfyUI holds next, so it waits for one render at most,
        not two; it is queued only while no other front prompt is pending, since ComfyUI runs front prompts last
        in, first out (front ones are known by ComfyUI's negative number, and by this worker's own record).
        """
        held = await self._client.held()
        self._front.intersection_update(held.pending)  # those started or gone are no longer ahead of anyone
        if self._holdings is not None:  # a prompt queued and then cancelled before its await: gone from the page
            for gone in set(self._holdings.held()) - {*held.running, *held.pending, *self._awaiting}:
                self._holdings.hold(gone, None)
        if front:
            return not (self._front | set(held.front)) and len(held.running) < COMFY_BACKLOG
        return len(held.running) + len(held.pending) < COMFY_BACKLOG

    @activity.defn(name="await_comfy_result")
    async def await_comfy_result(self, request: AwaitRequest) -> RenderResult:
        prompt_id = request.prompt_id
        sent_at: float | None = None
        sent_for: tuple[str | None, datetime | None] | None = None

        def heartbeat(state: WaitState) -> None:
            """Each new node or wait at once, sampler steps at most every PROGRESS_SECONDS: ComfyUI sends a message
            a step, and the SDK sends one heartbeat in many anyway."""
            nonlocal sent_at, sent_for
            since = state.unreachable_since
            now = time.monotonic()
            if sent_at is not None and (state.node, since) == sent_for and now - sent_at < PROGRESS_SECONDS:
                return
            sent_at, sent_for = now, (state.node, since)
            if state.node is not None:  # ComfyUI is executing it
                self._hold(prompt_id, request.template, rendering=True)
            activity.heartbeat(
                RenderProgress(
                    prompt_id=prompt_id,
                    node=state.node,
                    step=state.step,
                    total=state.total,
                    waiting_for="comfyui" if since else None,
                    waiting_since=since,
                )
            )

        if not request.uploads:  # a run from before signed uploads: its workflow signs, and asks again
            raise failure(ErrorType.staging_url_expired, f"prompt {prompt_id} has no signed URL to stage it")
        unreachable_since = _earlier_wait("comfyui")
        self._awaiting.add(prompt_id)
        self._hold(prompt_id, request.template)
        heartbeat(WaitState(unreachable_since=unreachable_since))
        try:
            entry = await wait_for_prompt(
                self._client,
                self._events,
                prompt_id,
                on_progress=heartbeat,
                poll_seconds=self._poll_seconds,
                unreachable_since=unreachable_since,
            )
            template = load_template(request.template)
            images = output_images(entry, template.manifest.outputs)
            if not images:
                raise failure(ErrorType.comfy_no_output, f"prompt {prompt_id} finished without saving an image")
            if len(images) > len(request.uploads):  # a batch the template did not declare: its first images
                log.warning("prompt %s saved %d images, %d staged", prompt_id, len(images), len(request.uploads))
            staged = [
                await self._stage(image, upload, prompt_id)
                for image, upload in zip(images, request.uploads, strict=False)
            ]
        except asyncio.CancelledError:
            if activity.is_worker_shutdown():
                # Handed back with the render left running: a retry on this worker's queue finds its
                # successor (same worker id), or after schedule-to-start another GPU worker re-attaches.
                raise failure(
                    ErrorType.gpu_worker_shutdown, f"the GPU worker shut down while prompt {prompt_id} was in ComfyUI"
                ) from None
            if _job_is_over():
                await self._stop(prompt_id)
            raise
        except ComfyExecutionFailed as e:
            log.warning("prompt %s failed in ComfyUI: %s", prompt_id, e)  # ComfyUI's words, for operators
            details = operator_details(e.data)
            if e.out_of_memory:
                await self._client.free(unload_models=True, free_memory=True)
                raise failure(ErrorType.comfy_out_of_memory, user_sentence(e.data), details) from e
            raise failure(ErrorType.comfy_execution_failed, user_sentence(e.data), details) from e
        except ComfyInterrupted as e:
            log.warning("prompt %s: %s", prompt_id, e)
            raise failure(ErrorType.comfy_interrupted, interrupted_sentence(e.node_id), str(e)) from e
        except ComfyPromptLost as e:
            raise failure(ErrorType.comfy_prompt_lost, str(e)) from e
        finally:
            self._awaiting.discard(prompt_id)
            if self._holdings is not None:
                self._holdings.hold(prompt_id, None)
        activity.logger.info("prompt %s rendered; %d image(s) uploaded", prompt_id, len(staged))
        ran = entry.get("prompt")
        graph = ran[2] if isinstance(ran, list) and len(ran) > 2 and isinstance(ran[2], dict) else {}
        return RenderResult(
            prompt_id=prompt_id,
            images=staged,
            checkpoint=str(template.input_value(graph, "checkpoint") or self._checkpoint),
            template_sha256=template.sha256,
            render_seconds=execution_seconds(entry),
            worker=self._worker_task_queue.rsplit("/", 1)[-1],
        )

    async def _stage(self, image: OutputImage, upload: SignedUpload, prompt_id: str) -> StagedImage:
        """Fetch one image from ComfyUI and PUT it through its signed URL, tried again with backoff while the
        network or storage fails, until the URL expires: a render is never thrown away for a dropped uplink.
        What storage said goes to the log, not to the user.

        Raises:
            ApplicationError: `StagingUrlExpired` when the URL expired or storage refuses it (the workflow signs
                a new one and the image is fetched from ComfyUI again); `InvalidImage` for what no URL can take.
        """
        data = await self._client.view(image)
        try:
            width, height = png_size(data)
        except ValueError as e:
            raise failure(ErrorType.invalid_image, f"the render is unusable: ComfyUI's image is {e}") from e
        if len(data) > upload.max_bytes:
            raise failure(
                ErrorType.invalid_image, f"the render is unusable: {len(data)} bytes, more than {upload.max_bytes}"
            )
        since = _earlier_wait("storage")
        delay = 1.0
        while True:
            if datetime.now(UTC) >= upload.expires_at:
                raise failure(ErrorType.staging_url_expired, f"the upload URL of {upload.key} expired")
            try:
                response = await self._uploads.put(
                    upload.url, content=data, headers={"Content-Type": upload.content_type}
                )
                if response.status_code in URL_REFUSED:
                    log.warning("storage refused the upload URL of %s: %s", upload.key, response.text[:300])
                    raise failure(
                        ErrorType.staging_url_expired,
                        f"storage refused the upload URL of {upload.key} ({response.status_code})",
                    )
                response.raise_for_status()
                break
            except httpx.HTTPError as e:  # the network or storage down: the render is kept and the upload tried again
                if since is None:
                    log.warning("staging %s failed (%r); trying again until its URL expires", upload.key, e)
                since = since or datetime.now(UTC)
                activity.heartbeat(RenderProgress(prompt_id=prompt_id, waiting_for="storage", waiting_since=since))
                await asyncio.sleep(delay)
                delay = min(delay * 2, STAGING_RETRY_CAP)
        activity.heartbeat(RenderProgress(prompt_id=prompt_id))
        return StagedImage(key=upload.key, node_id=image.node_id, width=width, height=height)

    async def _stop(self, prompt_id: str) -> None:
        """Cancelled: take the prompt out of ComfyUI and confirm it is gone, so no GPU time is wasted.
        A ComfyUI that does not answer cannot be told; the cancellation still stands."""
        for _ in range(20):
            try:
                state = await self._client.queue_state(prompt_id)
                if state is None:
                    activity.logger.info("prompt %s stopped", prompt_id)
                    return
                if state == "pending":
                    await self._client.delete_pending(prompt_id)
                else:
                    await self._client.interrupt(prompt_id)
            except ComfyUnavailable as e:
                activity.logger.warning("could not stop prompt %s: %s", prompt_id, e)
                return
            await asyncio.sleep(0.25)
        activity.logger.warning("prompt %s still in ComfyUI after interrupt (node ignores interrupts?)", prompt_id)
