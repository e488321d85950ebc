"""What the GPU workers say they can render: the reports they send as heartbeats of their presence activity in
the gpu-fleet run (workflows/fleet.py; the cloud cannot reach them, and they hold no storage credential),
joined with who polls Temporal now.

The API's health and the workflow's check before queueing read the same view, with the same rule: a
template is unrenderable only when every polling GPU worker that checked a reachable ComfyUI says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import PendingActivityState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from comfyloom.contracts.health import GpuWorkerReport, Renderable, TemplateCheck
from comfyloom.settings import CPU_TASK_QUEUE, GPU_FLEET_WORKFLOW_ID, GPU_TASK_QUEUE

log = logging.getLogger("comfyloom.gpu_fleet")

GPU_POLLER_WINDOW = timedelta(minutes=2)
# A presence activity heartbeats at least every 10 s (activities/presence.py); past its heartbeat timeout (30 s)
# Temporal hands the slot to another worker. A report older than this is a worker that went away unannounced.
GPU_REPORT_WINDOW = timedelta(seconds=30)
# A worker's polls end a moment after it sends its stop report (the report goes first, then the SDK stops
# polling): a poll within this long after the report is the same worker stopping, not one that came back. One
# that comes back sends a fresh report within seconds, which counts it again.
STOPPING_POLLS = timedelta(seconds=10)
# The suffix a GPU worker's identity carries on the shared queue (worker_gpu/worker.py).
SHARED_QUEUE_IDENTITY = "@shared"
# The fleet's workflow type (workflows/fleet.py), named here so the library need not import the workflows.
GPU_FLEET_WORKFLOW = "GpuFleet"
# Read at most this often per client: load balancers poll health every few seconds, and every waiting job's
# status and stream looks at the fleet for its estimate. Workers resend their reports every 10 s.
FLEET_VIEW_SECONDS = 2.0


@dataclass(frozen=True)
class GpuFleet:
    # Workers polling Temporal now (a worker that said it stopped is not, unless it polled again since).
    polling: set[str]
    # The fresh reports, by worker id.
    reports: dict[str, GpuWorkerReport]
    # When each worker Temporal still lists last polled the shared GPU queue.
    last_polled: dict[str, datetime] = field(default_factory=dict)


async def ensure_gpu_fleet(client: Client, size: int) -> None:
    """Start the gpu-fleet run unless one runs: the CPU worker does at start, so GPU workers have presence slots."""
    await client.start_workflow(
        GPU_FLEET_WORKFLOW,
        size,
        id=GPU_FLEET_WORKFLOW_ID,
        task_queue=CPU_TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="The GPU workers' presence: each holds one activity, heartbeating its readiness report",
    )


async def gpu_fleet(client: Client, namespace: str) -> GpuFleet:
    """Who polls the shared GPU queue lately, and what each reported of its ComfyUI (both read at once)."""
    described, sent = await asyncio.gather(
        client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=namespace,
                task_queue=TaskQueue(name=GPU_TASK_QUEUE),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            ),
            timeout=timedelta(seconds=3),
        ),
        gpu_worker_reports(client),
    )
    now = datetime.now(UTC)
    polls = {
        p.identity.removesuffix(SHARED_QUEUE_IDENTITY): p.last_access_time.ToDatetime(UTC) for p in described.pollers
    }
    reports = {r.worker_id: r for r in sent}
    polling = {
        worker_id
        for worker_id, last in polls.items()
        if now - last <= GPU_POLLER_WINDOW
        and (
            worker_id not in reports
            or not reports[worker_id].stopped
            or last > reports[worker_id].checked_at + STOPPING_POLLS
        )
    }
    return GpuFleet(polling=polling, reports=reports, last_polled=polls)


_views: weakref.WeakKeyDictionary[Client, tuple[float, str, GpuFleet]] = weakref.WeakKeyDictionary()


async def recent_gpu_fleet(client: Client, namespace: str) -> GpuFleet:
    """`gpu_fleet`, read again only when the last read of this client and namespace is FLEET_VIEW_SECONDS old."""
    cached = _views.get(client)
    if cached is not None and cached[1] == namespace and time.monotonic() - cached[0] < FLEET_VIEW_SECONDS:
        return cached[2]
    fleet = await gpu_fleet(client, namespace)
    _views[client] = (time.monotonic(), namespace, fleet)
    return fleet


async def gpu_worker_reports(client: Client) -> list[GpuWorkerReport]:
    """The reports GPU workers hold in the gpu-fleet run: a live one per worker (heartbeated lately), or the one
    it sent as it stopped; newest first. No run (no CPU worker started yet): none."""
    try:
        described = await client.get_workflow_handle(GPU_FLEET_WORKFLOW_ID).describe(rpc_timeout=timedelta(seconds=3))
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return []
        raise
    if described.status != WorkflowExecutionStatus.RUNNING:
        return []
    now = datetime.now(UTC)
    newest: dict[str, tuple[datetime, GpuWorkerReport]] = {}
    for pending in described.raw_description.pending_activities:
        if not pending.heartbeat_details.payloads or not pending.HasField("last_heartbeat_time"):
            continue
        try:
            [details] = await client.data_converter.decode(pending.heartbeat_details.payloads, [GpuWorkerReport])
            report = GpuWorkerReport.model_validate(details)
        except Exception as e:  # a worker of another release, or garbage: skipped, never fatal to health
            log.debug("unreadable presence heartbeat: %r", e)
            continue
        beat = pending.last_heartbeat_time.ToDatetime(UTC)
        held = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED and now - beat <= GPU_REPORT_WINDOW
        if (held or report.stopped) and (report.worker_id not in newest or beat > newest[report.worker_id][0]):
            newest[report.worker_id] = (beat, report)
    return [report for _, report in sorted(newest.values(), key=lambda kv: kv[0], reverse=True)]


def _check_of(report: GpuWorkerReport | None, template: str) -> TemplateCheck | None:
    """What a reachable ComfyUI's report says of `template`; None when there is no such word."""
    if report is None or not report.reachable:
        return None
    return next((t for t in report.templates if t.template == template), None)


def renderable(template: str, fleet: GpuFleet) -> Renderable:
    """Whether some polling GPU worker can render `template`: `unknown` while none has checked a reachable ComfyUI
    for it (a job then waits for one, as for a GPU machine that is off)."""
    reasons: list[str] = []
    for worker_id in sorted(fleet.polling):
        check = _check_of(fleet.reports.get(worker_id), template)
        if check is None:
            continue
        if check.renders:
            return Renderable(verdict="yes")
        reasons += [f"{worker_id}: {reason}" for reason in check.reasons or [f"{template}: not renderable"]]
    return Renderable(verdict="no", reasons=reasons) if reasons else Renderable(verdict="unknown")


def refusers(template: str, fleet: GpuFleet) -> int:
    """Polling GPU workers whose ComfyUI was found to refuse `template`: they do not poll its queue."""
    return len([w for w in fleet.polling if (check := _check_of(fleet.reports.get(w), template)) and not check.renders])


def takers(template: str, fleet: GpuFleet) -> int:
    """Polling GPU workers that take renders of `template`: every one but those whose ComfyUI was found to refuse
    it (the gate on the template's queue, worker_gpu/slot_supplier.py)."""
    return len(fleet.polling) - refusers(template, fleet)
