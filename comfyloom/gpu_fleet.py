"""What the GPU workers say they can render, read from the reports they publish (the cloud cannot reach them).

The API's health and the workflow's check before queueing read the same reports, with the same rule: a
template is unrenderable only when every GPU worker that checked a reachable ComfyUI lately says so.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from comfyloom.contracts import GpuWorkerReport, Renderable
from comfyloom.object_keys import WORKER_REPORTS_PREFIX
from comfyloom.settings import GPU_TASK_QUEUE
from comfyloom.storage import ObjectStore

# A report older than this is a worker that went away without saying so.
GPU_REPORT_WINDOW = timedelta(minutes=5)


def template_task_queue(template: str) -> str:
    """Where renders of `template` wait: polled only by GPU workers whose ComfyUI accepts the template."""
    return f"{GPU_TASK_QUEUE}@{template}"


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


def renderable(template: str, reports: list[GpuWorkerReport]) -> Renderable:
    """Whether some GPU worker can render `template`: `unknown` while none has checked a reachable ComfyUI for
    it (a job then waits for one, as for a GPU machine that is off)."""
    reasons: list[str] = []
    for report in reports:
        if report.stopped or not report.reachable:
            continue
        check = next((t for t in report.templates if t.template == template), None)
        if check is None:
            continue
        if check.renders:
            return Renderable(verdict="yes")
        reasons += [f"{report.worker_id}: {reason}" for reason in check.reasons or [f"{template}: not renderable"]]
    return Renderable(verdict="no", reasons=reasons) if reasons else Renderable(verdict="unknown")
