"""A user's jobs: status, the list, cancellation, and live progress streams."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Query, status
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.deps import PoolDep, SettingsDep, TemporalDep, UserDep
from api.errors import ApiError
from api.generation import status_url
from api.owned import own_job
from api.progress import live_stage
from api.schemas import JobListOut, JobStatusOut, JobSummaryOut, RenderProgressOut, StickerStatusOut
from comfyloom.contracts import Emotion, Stage
from comfyloom.db import credits, jobs
from comfyloom.db.jobs import STICKER_SET, JobStatus
from comfyloom.settings import Settings

router = APIRouter(prefix="/api/v1/image-generation", tags=["jobs"])


async def status_of(pool: asyncpg.Pool, temporal: Client, job: jobs.JobRow) -> JobStatusOut:
    """A job as a client sees it: the row, the live stage from Temporal, and a set's stickers."""
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


@router.get("/status/{job_id}", response_model=JobStatusOut)
async def job_status(job_id: str, pool: PoolDep, temporal: TemporalDep, user_id: UserDep) -> JobStatusOut:
    return await status_of(pool, temporal, await own_job(pool, job_id, user_id))


def _cursor(job: jobs.JobRow) -> str:
    return base64.urlsafe_b64encode(f"{job.created_at.isoformat()}|{job.id}".encode()).decode()


def _after(cursor: str) -> tuple[datetime, UUID]:
    try:
        created_at, ident = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created_at), UUID(ident)
    except ValueError as e:
        raise ApiError(422, "validation_error", "not a cursor this API gave", field="cursor") from e


def summary(job: jobs.JobRow, settings: Settings) -> JobSummaryOut:
    return JobSummaryOut(
        **job.model_dump(
            include={
                "kind",
                "status",
                "character_id",
                "story_id",
                "workflow_id",
                "result_url",
                "error",
                "created_at",
                "finished_at",
            }
        ),
        job_id=job.id,
        status_url=status_url(job.id, settings),
    )


@router.get("/jobs", response_model=JobListOut)
async def list_jobs(
    pool: PoolDep,
    settings: SettingsDep,
    user_id: UserDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    kind: Annotated[
        str | None, Query(pattern=r"^(avatar|sticker|sticker_set|cover|scene)$", description="Only this kind.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="`nextCursor` of the previous page.")] = None,
) -> JobListOut:
    """The caller's jobs, newest first, so a client can rebuild its view after a restart. A sticker set is
    one entry; its stickers are in its status."""
    rows = await jobs.list_jobs(
        pool, user_id, status=status, kind=kind, before=_after(cursor) if cursor else None, limit=limit + 1
    )
    page = rows[:limit]
    return JobListOut(
        items=[summary(job, settings) for job in page],
        next_cursor=_cursor(page[-1]) if len(rows) > limit else None,
    )


@router.delete("/jobs/{job_id}", status_code=status.HTTP_202_ACCEPTED, response_model=JobStatusOut)
async def cancel_job(job_id: str, pool: PoolDep, temporal: TemporalDep, user_id: UserDep) -> JobStatusOut:
    """Cancel a job: its render stops in ComfyUI, staged objects are removed, its credits come back, and its
    status ends `cancelled`. A sticker set cancels every sticker still running; a set's sticker, just itself.

    The answer is the job's status as the cancellation starts; follow the status or a stream to the end.
    """
    job = await own_job(pool, job_id, user_id)
    if job.status.terminal:
        raise ApiError(409, "already_finished", f"the job has already ended: {job.status.value}", field="jobId")
    try:
        await temporal.get_workflow_handle(job.workflow_id).cancel()
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise ApiError(503, "temporal_unavailable", "the job could not be cancelled; try again") from e
        # No workflow behind a live row (it never started): close the row and give the credits back here.
        async with pool.acquire() as conn, conn.transaction():
            await jobs.mark_failed(conn, job.id, "cancelled", cancelled=True)
            await credits.release(conn, job.workflow_id, "cancelled")
    return await status_of(pool, temporal, job)
