from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Response, status
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client

from api.deps import PoolDep, SettingsDep, StoreDep, TemporalDep, UserDep
from api.errors import ApiError, content_refused, not_found
from api.progress import live_stage
from api.schemas import (
    AvatarCreate,
    CamelRequest,
    ComponentHealth,
    GpuWorkerOut,
    Health,
    JobAccepted,
    JobStatusOut,
    RenderProgressOut,
    StickerCreate,
)
from comfyloom.contracts import Background, GenerationRequest, GpuWorkerReport, ImageKind, Lora, Stage
from comfyloom.db import characters, jobs, refusals
from comfyloom.keys import WORKER_REPORTS_PREFIX
from comfyloom.prompts.screening import screen
from comfyloom.settings import CPU_TASK_QUEUE, GPU_TASK_QUEUE, Settings
from comfyloom.storage import ObjectStore
from workflows.avatar import AvatarWorkflow
from workflows.sticker import StickerWorkflow

router = APIRouter(prefix="/api/v1/image-generation", tags=["image generation"])

# STICKER_BACKGROUND_REMOVAL picks the template: keyed out on the CPU worker, or RMBG inside ComfyUI.
STICKER_TEMPLATES: dict[str, tuple[str, Background]] = {
    "chroma": ("sticker", "chroma"),
    "rmbg": ("sticker_rmbg", "transparent"),
}
GPU_POLLER_WINDOW = timedelta(minutes=2)
GPU_REPORT_WINDOW = timedelta(minutes=5)


async def start_generation(
    request: GenerationRequest,
    workflow: Any,
    *,
    cast: list[characters.CharacterRow],
    body: CamelRequest,
    pool: asyncpg.Pool,
    temporal: Client,
    settings: Settings,
    summary: str,
) -> JobAccepted:
    """Screen, record the job, start its workflow: the same for every kind."""
    field_names = {"characters[0].": "characterId"} if len(cast) == 1 else None
    if refusal := screen(request.prompt_request(), cast, blocklist=settings.content_blocklist):
        await refusals.record(pool, refusal, user_id=request.user_id, kind=request.kind.value, stage="request")
        raise content_refused(refusal, field_names=field_names)
    workflow_id = f"{request.kind.value}-{request.job_id}"
    await jobs.create_job(
        pool,
        job_id=request.job_id,
        user_id=request.user_id,
        kind=request.kind.value,
        character_id=request.character_id,
        workflow_id=workflow_id,
        request=body.model_dump(mode="json", by_alias=True),
    )
    try:
        await temporal.start_workflow(
            workflow, request, id=workflow_id, task_queue=CPU_TASK_QUEUE, static_summary=summary
        )
    except Exception as e:
        await jobs.mark_failed(pool, request.job_id, f"could not start the workflow: {e}")
        raise ApiError(503, "temporal_unavailable", "the job could not be started; try again") from e
    return JobAccepted(
        job_id=request.job_id,
        workflow_id=workflow_id,
        status_url=f"{settings.api_public_url}/api/v1/image-generation/status/{request.job_id}",
    )


async def own_character(pool: asyncpg.Pool, character_id: UUID, user_id: str) -> characters.CharacterRow:
    character = await characters.get_character(pool, character_id, user_id=user_id)
    if character is None:
        raise not_found("character", character_id, field="characterId")
    return character


def _loras(body: AvatarCreate | StickerCreate) -> list[Lora]:
    return [Lora.model_validate(lora.model_dump()) for lora in body.loras]


@router.post("/avatar", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
async def generate_avatar(
    body: AvatarCreate, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep, user_id: UserDep
) -> JobAccepted:
    character = await own_character(pool, body.character_id, user_id)
    request = GenerationRequest(
        job_id=uuid.uuid4(),
        user_id=user_id,
        kind=ImageKind.avatar,
        character_ids=[character.id],
        template="avatar",
        width=768,
        height=768,
        seed=body.seed,
        loras=_loras(body),
        gpu_wait_deadline_seconds=settings.gpu_wait_deadline_seconds,
    )
    return await start_generation(
        request,
        AvatarWorkflow.run,
        cast=[character],
        body=body,
        pool=pool,
        temporal=temporal,
        settings=settings,
        summary=f"Avatar of {character.name}",
    )


@router.post("/sticker", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
async def generate_sticker(
    body: StickerCreate, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep, user_id: UserDep
) -> JobAccepted:
    """One emotion sticker: a 768x1152 cut-out WebP and a messenger-ready 512x512 one."""
    character = await own_character(pool, body.character_id, user_id)
    template, background = STICKER_TEMPLATES[settings.sticker_background_removal]
    request = GenerationRequest(
        job_id=uuid.uuid4(),
        user_id=user_id,
        kind=ImageKind.sticker,
        character_ids=[character.id],
        emotion=body.emotion,
        template=template,
        width=768,
        height=1152,
        background=background,
        seed=body.seed,
        loras=_loras(body),
        gpu_wait_deadline_seconds=settings.gpu_wait_deadline_seconds,
    )
    return await start_generation(
        request,
        StickerWorkflow.run,
        cast=[character],
        body=body,
        pool=pool,
        temporal=temporal,
        settings=settings,
        summary=f"Sticker of {character.name}: {body.emotion.value}",
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
