"""A job's live stage, read from Temporal: the workflow's progress query, and whether its GPU activity has
been picked up by a GPU worker (`waiting_for_gpu` when not) with the render's step/total."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from comfyloom.contracts import Progress, RenderProgress, Stage
from comfyloom.db.jobs import JobRow, JobStatus

QUERY_TIMEOUT = timedelta(seconds=2)
GPU_ACTIVITIES = {"queue_comfy_prompt", "await_comfy_result"}
FINAL_STAGE = {JobStatus.ready: Stage.done, JobStatus.failed: Stage.failed, JobStatus.cancelled: Stage.cancelled}


@dataclass
class Live:
    stage: Stage
    render: RenderProgress | None = None
    # The workflow's stages so far, in order (empty when it could not be asked).
    passed: list[Stage] = field(default_factory=list)


async def _progress(handle: WorkflowHandle[Any, Any]) -> Progress | None:
    try:
        # A query needs a CPU worker to answer; without one it would wait, so it gets a short deadline.
        progress: Progress = await handle.query("progress", result_type=Progress, rpc_timeout=QUERY_TIMEOUT)
    except RPCError:
        return None
    return progress


async def live_stage(client: Client, job: JobRow, *, with_passed: bool = False) -> Live:
    """Where a job is now; an ended job's stage comes from its row, and its passed stages only `with_passed`."""
    handle = client.get_workflow_handle(job.workflow_id)
    if job.status in FINAL_STAGE:
        ended = await _progress(handle) if with_passed else None
        return Live(FINAL_STAGE[job.status], passed=ended.passed if ended else [])
    progress = await _progress(handle)
    if progress is None:
        return Live(Stage.queued)  # no CPU worker has picked the workflow up (yet)
    live = Live(progress.stage, passed=progress.passed)
    if progress.stage != Stage.rendering:
        return live
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name not in GPU_ACTIVITIES:
            continue
        unreachable = pending.attempt > 1 and pending.last_failure.application_failure_info.type == "ComfyUnavailable"
        if pending.state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED or unreachable:
            live.stage = Stage.waiting_for_gpu
        elif pending.activity_type.name == "queue_comfy_prompt":
            # Heartbeats while queueing mean ComfyUI is full with other jobs' prompts: this one waits its turn.
            live.stage = Stage.waiting_for_gpu if pending.heartbeat_details.payloads else Stage.rendering
        elif pending.heartbeat_details.payloads:
            [live.render] = await client.data_converter.decode(pending.heartbeat_details.payloads, [RenderProgress])
        return live
    return live
