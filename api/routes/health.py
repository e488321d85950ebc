"""Health: is every part reachable, how many GPU workers poll, and what each one's ComfyUI lacks.

The one endpoint without an API key, for load balancers and operators.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Response, status
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest

from api.deps import PoolDep, SettingsDep, StoreDep, TemporalDep
from api.schemas import ComponentHealth, GpuWorkerOut, Health
from comfyloom.contracts import GpuWorkerReport
from comfyloom.keys import WORKER_REPORTS_PREFIX
from comfyloom.settings import GPU_TASK_QUEUE
from comfyloom.storage import ObjectStore

router = APIRouter(prefix="/api/v1/image-generation", tags=["health"])

GPU_POLLER_WINDOW = timedelta(minutes=2)
GPU_REPORT_WINDOW = timedelta(minutes=5)


async def _check(probe: Awaitable[object]) -> ComponentHealth:
    try:
        await probe
    except Exception as e:
        return ComponentHealth(ok=False, detail=f"{type(e).__name__}: {e}"[:300])
    return ComponentHealth(ok=True)


@router.get("/health", response_model=Health)
async def health(
    response: Response, pool: PoolDep, temporal: TemporalDep, store: StoreDep, settings: SettingsDep
) -> Health:
    """Whether Temporal, the database and storage answer, how many GPU workers poll, and what each one's
    ComfyUI lacks; 503 when a core part is down. No key needed."""
    service = temporal.workflow_service
    temporal_ok, db_ok, storage_ok = await asyncio.gather(
        _check(service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=3))),
        _check(pool.fetchval("select 1")),
        _check(asyncio.wait_for(store.ping(), 5)),
    )
    gpu_workers = 0
    if temporal_ok.ok:
        described = await service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=settings.temporal_namespace,
                task_queue=TaskQueue(name=GPU_TASK_QUEUE),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            ),
            timeout=timedelta(seconds=3),
        )
        now = datetime.now(UTC)
        gpu_workers = sum(1 for p in described.pollers if now - p.last_access_time.ToDatetime(UTC) <= GPU_POLLER_WINDOW)
    reports = await gpu_worker_reports(store) if storage_ok.ok else []
    core = [temporal_ok, db_ok, storage_ok]
    state = "ok" if all(c.ok for c in core) and gpu_workers else "degraded" if all(c.ok for c in core) else "down"
    if state == "down":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(
        status=state,
        temporal=temporal_ok,
        database=db_ok,
        storage=storage_ok,
        gpu_workers=gpu_workers,
        gpu_worker_reports=reports,
    )


async def gpu_worker_reports(store: ObjectStore) -> list[GpuWorkerOut]:
    """Reports GPU workers published lately; a worker that stopped reporting drops out after a while."""
    cutoff = datetime.now(UTC) - GPU_REPORT_WINDOW
    reports = []
    for key in await store.list_keys(WORKER_REPORTS_PREFIX):
        try:
            report = GpuWorkerReport.model_validate_json(await store.get(key))
        except Exception:  # a report being rewritten or malformed is skipped, never fatal to health
            continue
        if report.checked_at >= cutoff:
            reports.append(GpuWorkerOut.model_validate(report.model_dump()))
    return sorted(reports, key=lambda r: r.checked_at, reverse=True)
