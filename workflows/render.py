"""The render loop: queue a prompt on some GPU worker, await it there, until the job's GPU deadline."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

from activities import steps
from workflows.failures import failure_reason, is_cancellation
from workflows.runner import run_step

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts.health import QueueEstimate, RenderableQuery
    from comfyloom.contracts.render import (
        AwaitRequest,
        QueuedPrompt,
        RenderProgress,
        RenderRequest,
        RenderResult,
        SignedUpload,
        SignStaging,
    )
    from comfyloom.errors import ErrorType, failure
    from comfyloom.object_keys import staging_prefix
    from workflows.patches import RENDER_UNTIL_DEADLINE, ROUTE_BY_TEMPLATE, SIGNED_STAGING
    from workflows.policies import MAX_RENDER_ATTEMPTS, MAX_STAGING_SIGNATURES, template_task_queue

# Failures after which the render is worth another attempt (at most MAX_RENDER_ATTEMPTS in all).
RENDER_AGAIN = (ErrorType.comfy_out_of_memory, ErrorType.comfy_prompt_lost)


async def render(request: RenderRequest, *, gpu_deadline: timedelta, since_fewer_steps: bool = False) -> RenderResult:
    """Queue a prompt on some GPU worker, then await it on that worker, until the job's GPU deadline.

    Nothing but the deadline ends the wait for a GPU machine: ComfyUI not answering is waited out inside
    the activities (heartbeating since when), and a GPU worker that vanishes (heartbeat, then
    schedule-to-start timeout: the PC asleep or killed) leaves its prompt id in `reattach_prompt_ids`, so
    whichever worker comes back first re-attaches instead of rendering again; neither uses up a render
    attempt. Out-of-memory and a ComfyUI that forgot the prompt render again, at most
    MAX_RENDER_ATTEMPTS times in all; anything else fails. The await carries the URLs the render is staged
    through (signed here, on the cloud side); an upload whose URL expired is awaited again with new ones,
    ComfyUI still holding the image, so it never renders again.

    A run `since_fewer_steps` routes and signs without asking their patches, deprecated or not (it implies them).

    Raises:
        ApplicationError: `GpuDeadlineExceeded` when the deadline passes, saying what was waited for.
        ActivityError: a render that failed for good.
    """
    if not since_fewer_steps:  # implied, like the patches it asks no more (a marker and an upsert fewer)
        workflow.deprecate_patch(RENDER_UNTIL_DEADLINE.id)
    task_queue = None
    waiting: QueueEstimate | None = None
    if since_fewer_steps or workflow.patched(ROUTE_BY_TEMPLATE.id):
        waiting = await _fail_if_no_gpu_can_render(request)
        task_queue = template_task_queue(request.template)
    deadline = workflow.now() + gpu_deadline
    signed = since_fewer_steps or workflow.patched(SIGNED_STAGING.id)
    reattach: list[str] = []
    renders = 0
    for attempt in itertools.count(1):
        queued: QueuedPrompt | None = None
        try:
            with _shown_in_web_ui(waiting if attempt == 1 else None):
                queued = await _queue(
                    request, attempt, reattach, schedule_to_close=_left(deadline, gpu_deadline), task_queue=task_queue
                )
            return await _await_staged(request, queued, deadline, gpu_deadline, signed=signed)
        except ActivityError as e:
            cause = e.cause
            if isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_CLOSE:
                raise _deadline_passed(cause, gpu_deadline) from e
            if isinstance(cause, TimeoutError) and queued is not None:  # its GPU worker vanished: no render lost
                reattach.append(queued.prompt_id)
                workflow.logger.warning("GPU worker of prompt %s lost; re-attaching elsewhere", queued.prompt_id)
                continue
            if not (isinstance(cause, ApplicationError) and cause.type in RENDER_AGAIN):
                raise
            renders += 1
            if renders == MAX_RENDER_ATTEMPTS:
                raise
            workflow.logger.warning("render attempt %d failed (%s); trying again", attempt, failure_reason(e))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _shown_in_web_ui(waiting: QueueEstimate | None) -> Iterator[None]:
    """The job's place in the queue beside its stage, in the run's current details, until its prompt is queued.
    Current details are answered to a query and recorded nowhere: no command, nothing to patch."""
    if waiting is None:
        yield
        return
    stage = workflow.get_current_details()
    workflow.set_current_details(f"{stage}: {waiting.in_words()}" if stage else waiting.in_words())
    try:
        yield
    finally:
        if workflow.get_current_details().endswith(waiting.in_words()):  # no stage was set meanwhile
            workflow.set_current_details(stage)


async def _fail_if_no_gpu_can_render(request: RenderRequest) -> QueueEstimate | None:
    """Fail at once, before any GPU time or charge, when every GPU worker that checked its ComfyUI lately says
    ComfyUI would refuse the template. While none has said (machines off), the job waits for one, as always.
    Otherwise: the job's place in the queue, if the CPU worker could tell.

    Raises:
        ApplicationError: `TemplateUnrenderable`, with each worker's reason.
    """
    template = request.template
    query = RenderableQuery(template=template, workflow_id=request.workflow_id)
    try:
        found = await run_step(steps.check_renderable, query, summary=template)
    except ActivityError as e:  # the reports unreadable: the job waits for a GPU worker, as before this check
        if is_cancellation(e):
            raise
        workflow.logger.warning("GPU workers' reports unreadable (%s); queueing anyway", failure_reason(e))
        return None
    if found.verdict == "no":
        raise failure(
            ErrorType.template_unrenderable,
            f"no GPU machine can draw this image now: its ComfyUI would refuse template '{template}'"
            f" ({'; '.join(found.reasons)}); no credits were charged",
        )
    return found.queue


async def _queue(
    request: RenderRequest,
    attempt: int,
    reattach: list[str],
    *,
    schedule_to_close: timedelta,
    task_queue: str | None = None,
) -> QueuedPrompt:
    """One render attempt's prompt, queued on (or found again in) some GPU worker's ComfyUI."""
    return await run_step(
        steps.queue_comfy_prompt,
        request.model_copy(update={"step": f"{request.step}-{attempt}", "reattach_prompt_ids": list(reattach)}),
        task_queue=task_queue,
        schedule_to_close=schedule_to_close,
        summary=f"{request.template} {request.width}x{request.height} seed {request.seed}, attempt {attempt}",
    )


async def _await_staged(
    request: RenderRequest, queued: QueuedPrompt, deadline: datetime, gpu_deadline: timedelta, *, signed: bool
) -> RenderResult:
    """The queued prompt's images, staged through URLs signed for them; signed anew when an upload's URL expired
    or was refused (at most MAX_STAGING_SIGNATURES times), the prompt awaited again, not rendered again. A run
    from before signed uploads awaits without them first, and signs when the GPU worker asks for it.

    Raises:
        ActivityError: the await failed for another reason, or storage refused every URL signed.
    """
    staging = staging_prefix(request.workflow_id)
    for signatures in itertools.count(1):
        uploads = await _sign(request, queued, staging, deadline) if signed else []
        try:
            return await _await(request, queued, staging, uploads, schedule_to_close=_left(deadline, gpu_deadline))
        except ActivityError as e:
            cause = e.cause
            expired = isinstance(cause, ApplicationError) and cause.type == ErrorType.staging_url_expired
            if not expired or signatures >= MAX_STAGING_SIGNATURES:
                raise
            workflow.logger.warning("staging upload of prompt %s refused (%s); signing anew", queued.prompt_id, cause)
            signed = True
    raise AssertionError("unreachable")


async def _sign(request: RenderRequest, queued: QueuedPrompt, staging: str, deadline: datetime) -> list[SignedUpload]:
    return await run_step(
        steps.sign_staging,
        SignStaging(prompt_id=queued.prompt_id, template=request.template, staging_prefix=staging, expires_at=deadline),
        summary=f"prompt {queued.prompt_id}",
    )


async def _await(
    request: RenderRequest,
    queued: QueuedPrompt,
    staging: str,
    uploads: list[SignedUpload],
    *,
    schedule_to_close: timedelta,
) -> RenderResult:
    """The queued prompt's images, staged, awaited on the worker whose ComfyUI holds it."""
    return await run_step(
        steps.await_comfy_result,
        AwaitRequest(prompt_id=queued.prompt_id, template=request.template, staging_prefix=staging, uploads=uploads),
        task_queue=queued.worker_task_queue,
        schedule_to_close=schedule_to_close,
        summary=f"prompt {queued.prompt_id} on {queued.worker_task_queue}",
    )


def _left(deadline: datetime, gpu_deadline: timedelta) -> timedelta:
    """What is left of the job's GPU deadline for the next activity (Temporal needs a positive timeout)."""
    left = deadline - workflow.now()
    if left <= timedelta(0):
        raise failure(
            ErrorType.gpu_deadline_exceeded,
            f"no GPU machine rendered the image within the job's deadline ({_duration(gpu_deadline)})",
        )
    return left


def _deadline_passed(timeout: TimeoutError, gpu_deadline: timedelta) -> ApplicationError:
    """The deadline's failure, in words: what the render was waiting for when it ran out, and for how long."""
    within = f"within the job's deadline ({_duration(gpu_deadline)})"
    waited = None
    if timeout.last_heartbeat_details:
        with contextlib.suppress(ValueError):
            waited = RenderProgress.model_validate(timeout.last_heartbeat_details[0])
    if waited is None or waited.waiting_for is None or waited.waiting_since is None:
        message = f"no GPU machine rendered the image {within}"
    else:
        how_long = _duration(workflow.now() - waited.waiting_since)
        message = {
            "comfyui": f"the GPU machine was unreachable for {how_long} (ComfyUI did not answer)",
            "gpu_slot": f"the GPU machine was busy with other jobs for {how_long}",
            "storage": f"the rendered image could not be uploaded to storage for {how_long}",
        }[waited.waiting_for] + f"; the image was not ready {within}"
    return failure(ErrorType.gpu_deadline_exceeded, message)


def _duration(span: timedelta) -> str:
    seconds = max(0, round(span.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
