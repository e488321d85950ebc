"""A running job's live stage, read from Temporal: the workflow's progress query, and whether its GPU
activity has been picked up by a GPU worker (`waiting_for_gpu` when not) with the render's step/total."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.service import RPCError

from comfyloom.contracts import Progress, RenderProgress, Stage
from comfyloom.db.jobs import JobRow, JobStatus

QUERY_TIMEOUT = timedelta(seconds=2)
GPU_ACTIVITIES = {"queue_comfy_prompt", "await_comfy_result"}
FINAL_STAGE = {JobStatus.ready: Stage.done, JobStatus.failed: Stage.failed, JobStatus.cancelled: Stage.cancelled}


async def live_stage(client: Client, job: JobRow) -> tuple[Stage, RenderProgress | None]:
    if job.status in FINAL_STAGE:
        return FINAL_STAGE[job.status], None
    handle = client.get_workflow_handle(job.workflow_id)
    try:
        # A query needs a CPU worker to answer; without one it would wait, so it gets a short deadline.
        progress = await handle.query("progress", result_type=Progress, rpc_timeout=QUERY_TIMEOUT)
    except RPCError:
        return Stage.queued, None  # no CPU worker has picked the workflow up (yet)
    if progress.stage != Stage.rendering:
        return progress.stage, None
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name not in GPU_ACTIVITIES:
            continue
        unreachable = pending.attempt > 1 and pending.last_failure.application_failure_info.type == "ComfyUnavailable"
        if pending.state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED or unreachable:
            return Stage.waiting_for_gpu, None
        if pending.activity_type.name == "queue_comfy_prompt":
            # Heartbeats while queueing mean ComfyUI is full with other jobs' prompts: this one waits its turn.
            return (Stage.waiting_for_gpu if pending.heartbeat_details.payloads else Stage.rendering), None
        render: RenderProgress | None = None
        if pending.heartbeat_details.payloads:
            [render] = await client.data_converter.decode(pending.heartbeat_details.payloads, [RenderProgress])
        return Stage.rendering, render
    return Stage.rendering, None
