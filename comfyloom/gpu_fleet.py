"""What the GPU workers say they can render: the reports they publish (the cloud cannot reach them), joined
with who polls Temporal now.

The API's health and the workflow's check before queueing read the same view, with the same rule: a
template is unrenderable only when every polling GPU worker that checked a reachable ComfyUI says so.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from comfyloom.contracts.health import GpuWorkerReport, Renderable
from comfyloom.object_keys import WORKER_REPORTS_PREFIX
from comfyloom.settings import GPU_TASK_QUEUE
from comfyloom.storage import ObjectStore

# A report older than this is a worker that went away without saying so.
GPU_REPORT_WINDOW = timedelta(minutes=5)
GPU_POLLER_WINDOW = timedelta(minutes=2)
# The suffix a GPU worker's identity carries on the shared queue (worker_gpu/worker.py).
SHARED_QUEUE_IDENTITY = "@shared"


@dataclass(frozen=True)
class GpuFleet:
    # Workers polling Temporal now (a worker that said it stopped is not, unless it polled again since).
    polling: set[str]
    # The fresh reports, by worker id.
    reports: dict[str, GpuWorkerReport]


async def gpu_fleet(client: Client, namespace: str, store: ObjectStore) -> GpuFleet:
    """Who polls the shared GPU queue lately, and what each reported of its ComfyUI (both read at once)."""
    described, published = await asyncio.gather(
        client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=namespace,
                task_queue=TaskQueue(name=GPU_TASK_QUEUE),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            ),
            timeout=timedelta(seconds=3),
        ),
        gpu_worker_reports(store),
    )
    now = datetime.now(UTC)
    polls = {
        p.identity.removesuffix(SHARED_QUEUE_IDENTITY): p.last_access_time.ToDatetime(UTC) for p in described.pollers
    }
    reports = {r.worker_id: r for r in published}
    polling = {
        worker_id
        for worker_id, last in polls.items()
        if now - last <= GPU_POLLER_WINDOW
        and (worker_id not in reports or not reports[worker_id].stopped or last > reports[worker_id].checked_at)
    }
    return GpuFleet(polling=polling, reports=reports)


async def gpu_worker_reports(store: ObjectStore) -> list[GpuWorkerReport]:
    """Reports GPU workers published lately, newest first; a worker that stopped reporting drops out."""
    cutoff = datetime.now(UTC) - GPU_REPORT_WINDOW
    reports = []
    for key in await store.list_keys(WORKER_REPORTS_PREFIX):
        try:
            report = GpuWorkerReport.model_validate_json(await store.get(key))
        except Exception:  # a report being rewritten or malformed is skipped, never fatal to health
            continue
        if report.checked_at >= cutoff:
            reports.append(report)
    return sorted(reports, key=lambda r: r.checked_at, reverse=True)


def renderable(template: str, fleet: GpuFleet) -> Renderable:
    """Whether some polling GPU worker can render `template`: `unknown` while none has checked a reachable ComfyUI
    for it (a job then waits for one, as for a GPU machine that is off)."""
    reasons: list[str] = []
    for worker_id in sorted(fleet.polling):
        report = fleet.reports.get(worker_id)
        if report is None or not report.reachable:
            continue
        check = next((t for t in report.templates if t.template == template), None)
        if check is None:
            continue
        if check.renders:
            return Renderable(verdict="yes")
        reasons += [f"{report.worker_id}: {reason}" for reason in check.reasons or [f"{template}: not renderable"]]
    return Renderable(verdict="no", reasons=reasons) if reasons else Renderable(verdict="unknown")
