"""A job's live stage, read from Temporal: the workflow's progress query, and whether its GPU activity has
been picked up by a GPU worker (`waiting_for_gpu` when not) with the render's step/total, or its prompt waits
for Gemini (`waiting_for_translation`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle

from activities.steps import GPU_STEPS
from comfyloom import search
from comfyloom.contracts.domain import Stage
from comfyloom.contracts.progress import Progress
from comfyloom.contracts.render import RenderProgress
from comfyloom.db.jobs import JobRow, JobStatus
from comfyloom.errors import ErrorType
from comfyloom.temporal import TEMPORAL_AWAY

QUERY_TIMEOUT = timedelta(seconds=2)
FINAL_STAGE = {JobStatus.ready: Stage.done, JobStatus.failed: Stage.failed, JobStatus.cancelled: Stage.cancelled}


# What a job waits for, in words a user reads beside `waiting_for_gpu`.
WAITING = {
    "gpu_slot": "the GPU machine is busy with other jobs",
    "comfyui": "the GPU machine does not answer (asleep, restarting or offline); the render goes on when it is back",
    "storage": "the rendered image waits to be uploaded: storage does not answer",
    "gpu_worker": "waiting for a GPU worker to take the job (all are busy, or the GPU machine is off)",
}


@dataclass
class Live:
    stage: Stage
    render: RenderProgress | None = None
    # The workflow's stages so far, in order; None when its progress query went unanswered (a CPU worker busy
    # or replaying a closed run), which says nothing about where the run is.
    passed: list[Stage] | None = None
    # Why the job is not going on, and since when (waiting_for_gpu, or a staging upload storage refuses).
    waiting: str | None = None
    waiting_since: datetime | None = None


async def _progress(handle: WorkflowHandle[Any, Any]) -> Progress | None:
    try:
        # A query needs a CPU worker to answer; without one it would wait, so it gets a short deadline.
        progress: Progress = await handle.query("progress", result_type=Progress, rpc_timeout=QUERY_TIMEOUT)
    except TEMPORAL_AWAY:
        return None
    return progress


async def live_stage(client: Client, job: JobRow, *, with_passed: bool = False) -> Live:
    """Where a job is now; an ended job's stage comes from its row, and its passed stages only `with_passed`.

    A running job's stage is its run's `JobStatus` search attribute, read with its pending activities in one
    describe, which Temporal answers alone. The progress query, which a CPU worker must answer and Temporal
    holds back while a workflow task runs (the 100 ms that convert, moderate and publish take), is asked only
    for the stages passed (streams) or where the namespace has no search attributes.
    """
    handle = client.get_workflow_handle(job.workflow_id)
    if job.status in FINAL_STAGE:
        ended = await _progress(handle) if with_passed else None
        return Live(FINAL_STAGE[job.status], passed=ended.passed if ended else None)
    description = None
    if not with_passed:
        try:
            description = await handle.describe()
        except TEMPORAL_AWAY:
            return Live(Stage.queued)  # not started yet (its note waits for the sweep), or Temporal away
    stage = _searched_stage(description) if description else None
    if stage is not None:
        live = Live(stage)
    else:
        progress = await _progress(handle)
        if progress is None:
            return Live(Stage.queued)  # no CPU worker has picked the workflow up (yet)
        live = Live(progress.stage, passed=progress.passed)
    if live.stage not in (Stage.rendering, Stage.building_prompt):
        return live
    # A stream's look describes the run only here, where the pending activities say more.
    description = description or await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name in GPU_STEPS:
            await _gpu_step(client, pending, live)
            break
        if pending.activity_type.name == "build_prompt":
            _prompt_step(pending, live)
    return live


def _searched_stage(description: WorkflowExecutionDescription) -> Stage | None:
    """The stage the run last recorded in its `JobStatus` search attribute, if it has one we know."""
    value = description.typed_search_attributes.get(search.JOB_STATUS)
    try:
        return Stage(value) if value is not None else None
    except ValueError:
        return None


def _prompt_step(pending: PendingActivityInfo, live: Live) -> None:
    """TRANSLATION_POLICY=wait asking Gemini again: the job waits for translation, and says why."""
    failed = pending.last_failure
    if failed.application_failure_info.type == ErrorType.translation_pending.value:
        live.stage = Stage.waiting_for_translation
        live.waiting = f"{failed.message}; TRANSLATION_POLICY=wait holds the job until Gemini answers"
        live.waiting_since = pending.scheduled_time.ToDatetime(UTC)


async def _gpu_step(client: Client, pending: PendingActivityInfo, live: Live) -> None:
    """The render's state from its GPU activity: cancelling, waiting (for what, since when) or rendering."""
    if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED:
        live.stage = Stage.cancelling  # the worker is taking the prompt out of ComfyUI
        return
    heard = await _details(client, pending)
    if pending.state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED:
        # Not picked up: no GPU worker polls (the PC asleep or off), or it is between two attempts.
        live.stage = Stage.waiting_for_gpu
        if heard is not None and heard.waiting_for is not None and heard.waiting_since is not None:
            live.waiting, live.waiting_since = WAITING[heard.waiting_for], heard.waiting_since
        else:
            live.waiting = WAITING["gpu_worker"]
            since = pending.last_heartbeat_time if pending.HasField("last_heartbeat_time") else pending.scheduled_time
            live.waiting_since = since.ToDatetime(UTC)
        return
    if heard is None:
        return  # a GPU worker took the step and has not reported yet: rendering
    if heard.waiting_for is not None:
        live.waiting, live.waiting_since = WAITING[heard.waiting_for], heard.waiting_since
        if heard.waiting_for != "storage":
            live.stage = Stage.waiting_for_gpu
        return
    if heard.prompt_id is not None:
        live.render = heard


async def _details(client: Client, pending: PendingActivityInfo) -> RenderProgress | None:
    """The GPU step's last heartbeat, or None (none yet, or a plain string from an older GPU worker)."""
    if not pending.heartbeat_details.payloads:
        return None
    [details] = await client.data_converter.decode(pending.heartbeat_details.payloads)
    try:
        return RenderProgress.model_validate(details)
    except ValueError:
        return None
