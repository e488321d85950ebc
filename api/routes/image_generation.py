from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from fastapi import APIRouter, Response, status
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest

from api.deps import PoolDep, SettingsDep, StoreDep, TemporalDep, UserDep
from api.errors import ApiError, content_refused, not_found
from api.progress import live_stage
from api.schemas import (
    AvatarCreate,
    ComponentHealth,
    GpuWorkerOut,
    Health,
    JobAccepted,
    JobStatusOut,
    RenderProgressOut,
)
from comfyloom.contracts import AvatarRequest, GpuWorkerReport, ImageKind, Lora, PromptRequest, Stage
from comfyloom.db import characters, jobs, refusals
from comfyloom.keys import WORKER_REPORTS_PREFIX
from comfyloom.prompts.screening import screen
from comfyloom.settings import CPU_TASK_QUEUE, GPU_TASK_QUEUE
from comfyloom.storage import ObjectStore
from workflows.avatar import AvatarWorkflow

router = APIRouter(prefix="/api/v1/image-generation", tags=["image generation"])

GPU_POLLER_WINDOW = timedelta(minutes=2)
GPU_REPORT_WINDOW = timedelta(minutes=5)


@router.post("/avatar", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
async def generate_avatar(
    body: AvatarCreate, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep, user_id: UserDep
) -> JobAccepted:
    character = await characters.get_character(pool, body.character_id, user_id=user_id)
    if character is None:
        raise not_found("character", body.character_id, field="characterId")
    job_id = uuid.uuid4()
    workflow_id = f"avatar-{job_id}"
    loras = [Lora.model_validate(lora.model_dump()) for lora in body.loras]
    prompt = PromptRequest(
        job_id=job_id, user_id=user_id, kind=ImageKind.avatar, character_ids=[character.id], loras=loras
    )
    if refusal := screen(prompt, [character], blocklist=settings.content_blocklist):
        await refusals.record(pool, refusal, user_id=user_id, kind=ImageKind.avatar.value, stage="request")
        raise content_refused(refusal, field_names={"characters[0].": "characterId"})
    request = AvatarRequest(
        job_id=job_id,
        user_id=user_id,
        character_id=character.id,
        seed=body.seed,
        loras=loras,
        gpu_wait_deadline_seconds=settings.gpu_wait_deadline_seconds,
    )
    await jobs.create_job(
        pool,
        job_id=job_id,
        user_id=user_id,
        kind=ImageKind.avatar.value,
        character_id=character.id,
        workflow_id=workflow_id,
        request=body.model_dump(mode="json", by_alias=True),
    )
    try:
        await temporal.start_workflow(
            AvatarWorkflow.run,
            request,
            id=workflow_id,
            task_queue=CPU_TASK_QUEUE,
            static_summary=f"Avatar of {character.name}",
        )
    except Exception as e:
        await jobs.mark_failed(pool, job_id, f"could not start the workflow: {e}")
        raise ApiError(503, "temporal_unavailable", "the job could not be started; try again") from e
    return JobAccepted(
        job_id=job_id,
        workflow_id=workflow_id,
        status_url=f"{settings.api_public_url}/api/v1/image-generation/status/{job_id}",
    )


@router.get("/status/{job_id}", response_model=JobStatusOut)
async def job_status(job_id: str, pool: PoolDep, temporal: TemporalDep, user_id: UserDep) -> JobStatusOut:
    job = None
    try:
        job = await jobs.get_job(pool, UUID(job_id), user_id=user_id)
    except ValueError:
        pass
    if job is None:
        raise not_found("job", job_id, field="jobId")
    stage, render = await live_stage(temporal, job)
    if stage in (Stage.done, Stage.failed, Stage.cancelled):
        job = await jobs.get_job(pool, job.id) or job  # the workflow may have closed it meanwhile
    return JobStatusOut(
        **job.model_dump(exclude={"id", "user_id", "request", "updated_at"}),
        job_id=job.id,
        stage=stage,
        progress=RenderProgressOut(step=render.step, total=render.total, node=render.node) if render else None,
    )


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
