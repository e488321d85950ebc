"""Health: can this deployment render right now, and if not, why; the one endpoint without an API key.

The HTTP status answers a load balancer's question, "can this API replica serve requests": 503 only when
Temporal, the database or storage fails. The body's `status` answers an operator's, "will a job render":
`ok` when at least one GPU worker polls and its ComfyUI can render every template in use, `degraded` when
only some templates can be rendered, `unavailable` when none can (jobs are still accepted and wait for a
GPU until their deadline), each with its reasons.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta

from fastapi import APIRouter, Request, Response, status
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from api.deps import PoolDep, SettingsDep, StoreDep, TemporalDep
from api.schemas import ComponentHealth, GpuWorkerOut, Health
from comfy_templates import active_templates, template_for
from comfyloom.contracts.domain import ImageKind
from comfyloom.contracts.health import GpuWorkerReport
from comfyloom.gpu_fleet import recent_gpu_fleet
from comfyloom.settings import Settings

router = APIRouter(prefix="/api/v1/image-generation", tags=["health"])


async def _check(probe: Awaitable[object]) -> ComponentHealth:
    try:
        await probe
    except Exception as e:
        return ComponentHealth(ok=False, detail=f"{type(e).__name__}: {e}"[:300])
    return ComponentHealth(ok=True)


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "Unavailable: a core part is down (`reasons` says which)."}},
)
async def health(
    request: Request,
    response: Response,
    pool: PoolDep,
    temporal: TemporalDep,
    store: StoreDep,
    settings: SettingsDep,
) -> Health:
    """Whether jobs can render now (`ok`, `degraded`, `unavailable`) and why; Temporal, the database and
    storage; each GPU worker's ComfyUI and what it lacks. 503 only when a core part is down. No key needed."""
    temporal_ok, db_ok, storage_ok = await asyncio.gather(
        _check(temporal.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=3))),
        _check(pool.fetchval("select 1")),
        _check(asyncio.wait_for(store.ping(), 5)),
    )
    reasons = [
        f"{name} does not answer: {part.detail}"
        for name, part in (("Temporal", temporal_ok), ("the database", db_ok), ("storage", storage_ok))
        if not part.ok
    ]
    workers: list[GpuWorkerOut] = []
    if temporal_ok.ok and storage_ok.ok:
        workers = await _gpu_view(temporal, settings)
    in_use = [t.name for t in active_templates(settings)]
    renderable = {name for w in workers if w.polling for name in w.renders}
    if reasons:
        state = "unavailable"
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    else:
        reasons = _gpu_reasons(workers, in_use, renderable, settings)
        complete = any(w.polling and set(in_use) <= set(w.renders) for w in workers)
        state = "ok" if complete else "degraded" if renderable else "unavailable"
    return Health(
        status=state,
        reasons=reasons,
        templates_in_use=in_use,
        temporal=temporal_ok,
        database=db_ok,
        storage=storage_ok,
        gpu_workers=sum(1 for w in workers if w.polling),
        gpu_worker_reports=workers,
    )


def _gpu_reasons(workers: list[GpuWorkerOut], in_use: list[str], renderable: set[str], settings: Settings) -> list[str]:
    """Why jobs of some kinds cannot render now, in plain words; empty when every template in use can."""
    if not any(w.polling for w in workers):
        return ["no GPU worker polls Temporal: the GPU machine is off, asleep, or its worker is not running"]
    if not (set(in_use) - renderable):
        return []
    kinds = {name: [k.value for k in ImageKind if template_for(k, settings).name == name] for name in in_use}
    reasons = [
        f"no GPU worker can render template '{name}': {', '.join(kinds[name])} jobs fail at once, charging nothing"
        for name in in_use
        if name not in renderable
    ]
    for worker in workers:
        if worker.polling:
            reasons += [f"{worker.worker_id}: {problem}" for problem in worker.problems]
    return reasons


async def _gpu_view(temporal: Client, settings: Settings) -> list[GpuWorkerOut]:
    """Each GPU worker seen lately (polling, or with a fresh report), read at most every FLEET_VIEW_SECONDS."""
    fleet = await recent_gpu_fleet(temporal, settings.temporal_namespace)
    workers = [
        _worker_out(worker_id, fleet.reports.get(worker_id), polling=True) for worker_id in sorted(fleet.polling)
    ]
    workers += [
        _worker_out(r.worker_id, r, polling=False) for r in fleet.reports.values() if r.worker_id not in fleet.polling
    ]
    return workers


def _worker_out(worker_id: str, report: GpuWorkerReport | None, *, polling: bool) -> GpuWorkerOut:
    if report is None:
        return GpuWorkerOut(
            worker_id=worker_id,
            polling=polling,
            reachable=False,
            comfyui_version=None,
            devices=[],
            renders=[],
            problems=[
                "this GPU worker has sent no report of its ComfyUI yet (the CPU worker starts the gpu-fleet run"
                " that carries reports: is one running?)"
            ],
            notes=[],
            checked_at=None,
        )
    return GpuWorkerOut(
        worker_id=worker_id,
        polling=polling,
        reachable=report.reachable,
        comfyui_version=report.comfyui_version,
        devices=report.devices,
        renders=[t.template for t in report.templates if t.renders and report.reachable],
        problems=report.problems if polling else ["stopped" if report.stopped else "not polling Temporal"],
        notes=report.notes,
        checked_at=report.checked_at,
    )
