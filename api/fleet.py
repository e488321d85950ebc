"""The GPU fleet as an operator sees it: each GPU worker's ComfyUI, what it can render and why not, what it drew
in the last hour, and what it holds now, from the readiness reports the workers heartbeat (comfyloom/gpu_fleet.py)
and the render times the CPU worker records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.client import Client

from api.schemas import FleetWorkerOut, RenderNowOut, TemplateCheckOut
from comfyloom.contracts.health import GpuWorkerReport
from comfyloom.db import render_times
from comfyloom.gpu_fleet import recent_gpu_fleet
from comfyloom.settings import GPU_TASK_QUEUE, Settings

HOUR = timedelta(hours=1)


async def fleet_view(pool: asyncpg.Pool, temporal: Client, settings: Settings) -> list[FleetWorkerOut]:
    """Every GPU worker polling, reporting, or that delivered a render in the last hour: polling ones first."""
    now = datetime.now(UTC)
    fleet = await recent_gpu_fleet(temporal, settings.temporal_namespace)
    drawn = await render_times.by_worker_since(pool, now - HOUR)
    ids = set(fleet.polling) | set(fleet.reports) | (set(drawn) - {"?"})  # "?": a render of no known worker
    workers = []
    for worker_id in ids:
        report = fleet.reports.get(worker_id)
        renders, seconds = drawn.get(worker_id, (0, 0.0))
        seen = [t for t in (fleet.last_polled.get(worker_id), report.checked_at if report else None) if t]
        state = "polling" if worker_id in fleet.polling else "stopped" if report and report.stopped else "not_polling"
        workers.append(
            FleetWorkerOut(
                worker_id=worker_id,
                state=state,
                last_seen_at=max(seen) if seen else None,
                queue=f"{GPU_TASK_QUEUE}/{worker_id}",
                reachable=bool(report and report.reachable),
                comfyui_version=report.comfyui_version if report else None,
                devices=report.devices if report else [],
                packs=report.packs if report else {},
                templates=_templates(report),
                renders_last_hour=renders,
                busy_last_hour=round(min(1.0, seconds / HOUR.total_seconds()), 4),
                rendering=[RenderNowOut.model_validate(r.model_dump()) for r in report.rendering] if report else [],
                problems=report.problems if report else ["no report of its ComfyUI yet"],
                notes=report.notes if report else [],
            )
        )
    order = {"polling": 0, "stopped": 1, "not_polling": 2}
    return sorted(workers, key=lambda w: (order[w.state], w.worker_id))


def _templates(report: GpuWorkerReport | None) -> list[TemplateCheckOut]:
    if report is None or not report.reachable:
        return []
    return [TemplateCheckOut(template=t.template, renders=t.renders, reasons=t.reasons) for t in report.templates]
