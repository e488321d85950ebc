from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Response, status
from pydantic import BaseModel
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, GetSystemInfoRequest
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from api.deps import PoolDep, SettingsDep, StoreDep, TemporalDep, UserDep
from api.errors import ApiError, content_refused, not_found
from api.owned import own_character, own_job
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
    StickerSetCreate,
    StickerStatusOut,
)
from comfy_templates import load_template
from comfyloom.contracts import (
    Background,
    Emotion,
    GenerationRequest,
    GpuWorkerReport,
    ImageKind,
    Lora,
    PromptRequest,
    Stage,
    StickerSetChild,
    StickerSetRequest,
)
from comfyloom.db import characters, jobs, refusals
from comfyloom.db.jobs import JobStatus
from comfyloom.keys import WORKER_REPORTS_PREFIX
from comfyloom.prompts.screening import screen
from comfyloom.settings import CPU_TASK_QUEUE, GPU_TASK_QUEUE, Settings
from comfyloom.storage import ObjectStore
from workflows.avatar import AvatarWorkflow
from workflows.sticker import StickerWorkflow
from workflows.sticker_set import StickerSetWorkflow, child_workflow_id, set_workflow_id

router = APIRouter(prefix="/api/v1/image-generation", tags=["image generation"])

# STICKER_BACKGROUND_REMOVAL picks the template: keyed out on the CPU worker, or RMBG inside ComfyUI.
STICKER_TEMPLATES: dict[str, tuple[str, Background]] = {
    "chroma": ("sticker", "chroma"),
    "rmbg": ("sticker_rmbg", "transparent"),
}
GPU_POLLER_WINDOW = timedelta(minutes=2)
GPU_REPORT_WINDOW = timedelta(minutes=5)


async def refuse_if_unsafe(
    prompt: PromptRequest, cast: list[characters.CharacterRow], *, kind: str, pool: asyncpg.Pool, settings: Settings
) -> None:
    """The request-time screening: a refusal is recorded and answered 422, before any job exists."""
    if refusal := screen(prompt, cast, blocklist=settings.content_blocklist):
        await refusals.record(pool, refusal, user_id=prompt.user_id, kind=kind, stage="request")
        raise content_refused(refusal, field_names={"characters[0].": "characterId"} if len(cast) == 1 else None)


async def start_workflow(
    run: Any,
    arg: BaseModel,
    *,
    job_id: UUID,
    workflow_id: str,
    rows: list[UUID],
    pool: asyncpg.Pool,
    temporal: Client,
    settings: Settings,
    summary: str,
    **options: Any,
) -> JobAccepted:
    """Start a job's workflow; if Temporal refuses, the job's rows are failed and the client gets a 503."""
    try:
        await temporal.start_workflow(
            run, arg, id=workflow_id, task_queue=CPU_TASK_QUEUE, static_summary=summary, **options
        )
    except Exception as e:
        for row in rows:
            await jobs.mark_failed(pool, row, f"could not start the workflow: {e}")
        raise ApiError(503, "temporal_unavailable", "the job could not be started; try again") from e
    return JobAccepted(
        job_id=job_id,
        workflow_id=workflow_id,
        status_url=f"{settings.api_public_url}/api/v1/image-generation/status/{job_id}",
    )


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
    """Screen, record the job, start its workflow: the same for every kind of single image."""
    await refuse_if_unsafe(request.prompt_request(), cast, kind=request.kind.value, pool=pool, settings=settings)
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
    return await start_workflow(
        workflow,
        request,
        job_id=request.job_id,
        workflow_id=workflow_id,
        rows=[request.job_id],
        pool=pool,
        temporal=temporal,
        settings=settings,
        summary=summary,
    )


def _loras(body: AvatarCreate | StickerCreate | StickerSetCreate) -> list[Lora]:
    return [Lora.model_validate(lora.model_dump()) for lora in body.loras]


def _size(template: str) -> tuple[int, int]:
    """A template's render size, from its manifest: the one place sizes are written down."""
    return load_template(template).manifest.size


@router.post("/avatar", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
async def generate_avatar(
    body: AvatarCreate, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep, user_id: UserDep
) -> JobAccepted:
    character = await own_character(pool, body.character_id, user_id)
    width, height = _size("avatar")
    request = GenerationRequest(
        job_id=uuid.uuid4(),
        user_id=user_id,
        kind=ImageKind.avatar,
        character_ids=[character.id],
        template="avatar",
        width=width,
        height=height,
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
    width, height = _size(template)
    request = GenerationRequest(
        job_id=uuid.uuid4(),
        user_id=user_id,
        kind=ImageKind.sticker,
        character_ids=[character.id],
        emotion=body.emotion,
        template=template,
        width=width,
        height=height,
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


STICKER_SET = "sticker_set"


async def _start_set(
    set_id: UUID,
    character: characters.CharacterRow,
    emotions: list[Emotion],
    *,
    seed: int | None,
    loras: list[Lora],
    pool: asyncpg.Pool,
    temporal: Client,
    settings: Settings,
    user_id: str,
) -> JobAccepted:
    """One child job row per emotion, then a run of the set's workflow over them."""
    workflow_id = set_workflow_id(set_id)
    template, background = STICKER_TEMPLATES[settings.sticker_background_removal]
    children = [StickerSetChild(emotion=emotion, job_id=uuid.uuid4()) for emotion in emotions]
    for child in children:
        await jobs.create_job(
            pool,
            job_id=child.job_id,
            user_id=user_id,
            kind=ImageKind.sticker.value,
            character_id=character.id,
            workflow_id=child_workflow_id(workflow_id, child),
            request={"emotion": child.emotion.value},
            set_id=set_id,
            emotion=child.emotion.value,
        )
    width, height = _size(template)
    request = StickerSetRequest(
        set_job_id=set_id,
        user_id=user_id,
        character_id=character.id,
        children=children,
        template=template,
        width=width,
        height=height,
        background=background,
        seed=seed,
        loras=loras,
        gpu_wait_deadline_seconds=settings.gpu_wait_deadline_seconds,
    )
    return await start_workflow(
        StickerSetWorkflow.run,
        request,
        job_id=set_id,
        workflow_id=workflow_id,
        rows=[set_id, *(c.job_id for c in children)],
        pool=pool,
        temporal=temporal,
        settings=settings,
        summary=f"Stickers of {character.name}: {', '.join(e.value for e in emotions)}",
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


@router.post("/stickers/bulk", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
async def generate_sticker_set(
    body: StickerSetCreate, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep, user_id: UserDep
) -> JobAccepted:
    """A set of stickers, one child workflow per emotion; status lists each sticker."""
    character = await own_character(pool, body.character_id, user_id)
    set_id = uuid.uuid4()
    loras = _loras(body)
    prompt = PromptRequest(
        job_id=set_id, user_id=user_id, kind=ImageKind.sticker, character_ids=[character.id], loras=loras
    )
    await refuse_if_unsafe(prompt, [character], kind=STICKER_SET, pool=pool, settings=settings)
    await jobs.create_job(
        pool,
        job_id=set_id,
        user_id=user_id,
        kind=STICKER_SET,
        character_id=character.id,
        workflow_id=set_workflow_id(set_id),
        request=body.model_dump(mode="json", by_alias=True),
    )
    return await _start_set(
        set_id,
        character,
        body.emotions,
        seed=body.seed,
        loras=loras,
        pool=pool,
        temporal=temporal,
        settings=settings,
        user_id=user_id,
    )


@router.post("/stickers/bulk/{set_id}/retry", status_code=status.HTTP_202_ACCEPTED, response_model=JobAccepted)
async def retry_sticker_set(
    set_id: str, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep, user_id: UserDep
) -> JobAccepted:
    """Render the set's failed stickers again; the good ones are kept, never redone."""
    job = await own_job(pool, set_id, user_id)
    if job.kind != STICKER_SET:
        raise not_found("sticker set", set_id, field="setId")
    if not job.status.terminal:
        raise ApiError(409, "still_running", "the set is still running; retry once it has finished", field="setId")
    failed = [child for child in await jobs.set_children(pool, job.id) if child.status is not JobStatus.ready]
    if not failed:
        raise ApiError(409, "nothing_to_retry", "every sticker of this set is ready", field="setId")
    asked = StickerSetCreate.model_validate(job.request)
    character = await own_character(pool, asked.character_id, user_id)
    await jobs.reopen(pool, job.id)
    return await _start_set(
        job.id,
        character,
        [Emotion(child.emotion) for child in failed if child.emotion],
        seed=asked.seed,
        loras=_loras(asked),
        pool=pool,
        temporal=temporal,
        settings=settings,
        user_id=user_id,
    )


@router.get("/status/{job_id}", response_model=JobStatusOut)
async def job_status(job_id: str, pool: PoolDep, temporal: TemporalDep, user_id: UserDep) -> JobStatusOut:
    job = await own_job(pool, job_id, user_id)
    stage, render = await live_stage(temporal, job)
    if stage in (Stage.done, Stage.failed, Stage.cancelled):
        job = await jobs.get_job(pool, job.id) or job  # the workflow may have closed it meanwhile
    stickers = None
    if job.kind == STICKER_SET:
        stickers = [
            StickerStatusOut(
                emotion=Emotion(child.emotion),
                job_id=child.id,
                status=child.status,
                result_url=child.result_url,
                error=child.error,
            )
            for child in await jobs.set_children(pool, job.id)
            if child.emotion
        ]
    return JobStatusOut(
        **job.model_dump(exclude={"id", "user_id", "request", "updated_at", "set_id", "emotion"}),
        job_id=job.id,
        stage=stage,
        stickers=stickers,
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
