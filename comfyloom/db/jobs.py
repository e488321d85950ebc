"""Generation jobs: one row per workflow, the durable record a client's status reads."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from comfyloom.contracts.images import Moderation
from comfyloom.db.pool import Executor

# The kind of a sticker set's own row; its stickers are `sticker` jobs with its id as `set_id`.
STICKER_SET = "sticker_set"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    ready = "ready"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.ready, JobStatus.failed, JobStatus.cancelled)


class JobRow(BaseModel):
    id: UUID
    user_id: str
    kind: str
    character_id: UUID | None
    workflow_id: str
    status: JobStatus
    request: dict[str, Any]
    result_url: str | None
    error: str | None
    warnings: list[str]
    set_id: UUID | None = None
    emotion: str | None = None
    story_id: UUID | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    # Its priority on the task queues (comfyloom/scheduling.py); None: started without one.
    priority_key: int | None = None
    # Its image's moderation (read with the job by `get_job`).
    moderation: Moderation | None = None
    # Why it failed: the error type (`ComfyExecutionFailed`, `ContentBlocked`, `timeout`, ...); None otherwise.
    failure_reason: str | None = None
    # The key that asked for it (None: asked before keys were recorded); a retry acts with it.
    key_id: UUID | None = None
    # The failed job this one retries, and the job that retried this one.
    retry_of: UUID | None = None
    retried_as: UUID | None = None
    # When its render was first asked of the GPUs (None: not yet, or a job from before it was noted).
    gpu_asked_at: datetime | None = None
    # The client's chat a scene was drawn for, and whether it was drawn on its own (an automatic scene).
    chat_id: str | None = None
    auto_scene: bool = False
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


async def create_job(
    conn: Executor,
    *,
    job_id: UUID,
    user_id: str,
    kind: str,
    character_id: UUID | None,
    workflow_id: str,
    request: dict[str, Any],
    set_id: UUID | None = None,
    emotion: str | None = None,
    story_id: UUID | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    priority_key: int | None = None,
    key_id: UUID | None = None,
    chat_id: str | None = None,
    auto_scene: bool = False,
) -> JobRow:
    row = await conn.fetchrow(
        # clock_timestamp, not now(): a set's children, created in one transaction, keep their order.
        "insert into generation_jobs (id, user_id, kind, character_id, workflow_id, request, set_id, emotion,"
        " story_id, idempotency_key, request_hash, priority_key, key_id, chat_id, auto_scene, created_at)"
        " values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, clock_timestamp()) returning *",
        job_id,
        user_id,
        kind,
        character_id,
        workflow_id,
        request,
        set_id,
        emotion,
        story_id,
        idempotency_key,
        request_hash,
        priority_key,
        key_id,
        chat_id,
        auto_scene,
    )
    assert row is not None
    return JobRow.model_validate(dict(row))


async def find_replay(
    conn: Executor, user_id: str, *, idempotency_key: str | None, request_hash: str | None, window_seconds: int
) -> JobRow | None:
    """The job an earlier request started: by its Idempotency-Key, or else by the same body within the window."""
    if idempotency_key is not None:
        row = await conn.fetchrow(
            "select * from generation_jobs where user_id = $1 and idempotency_key = $2", user_id, idempotency_key
        )
    elif request_hash is not None and window_seconds > 0:
        row = await conn.fetchrow(
            "select * from generation_jobs where user_id = $1 and request_hash = $2"
            " and created_at > now() - make_interval(secs => $3) order by created_at desc limit 1",
            user_id,
            request_hash,
            window_seconds,
        )
    else:
        row = None
    return JobRow.model_validate(dict(row)) if row else None


async def get_job(conn: Executor, job_id: UUID, *, user_id: str | None = None) -> JobRow | None:
    row = await conn.fetchrow(
        "select j.*, i.moderation from generation_jobs j left join images i on i.job_id = j.id"
        " where j.id = $1 and ($2::text is null or j.user_id = $2)",
        job_id,
        user_id,
    )
    return JobRow.model_validate(dict(row)) if row else None


async def asking_gpu(conn: Executor, workflow_id: str) -> JobRow | None:
    """The job a run (its workflow id) draws, noting when its render was first asked of the GPUs."""
    row = await conn.fetchrow(
        "update generation_jobs set gpu_asked_at = coalesce(gpu_asked_at, clock_timestamp())"
        " where workflow_id = $1 returning *",
        workflow_id,
    )
    return JobRow.model_validate(dict(row)) if row else None


async def mark_running(conn: Executor, job_id: UUID) -> bool:
    """Start a queued job (a running one stays so); False if it has already ended, so its run must not go on."""
    status = await conn.fetchval(
        "update generation_jobs set status = 'running', started_at = coalesce(started_at, now()),"
        " updated_at = now() where id = $1 and status in ('queued', 'running') returning status",
        job_id,
    )
    return status is not None


async def mark_ready(conn: Executor, job_id: UUID, result_url: str) -> None:
    """The job delivered its image; it stays ready whatever a late failure or cancellation says."""
    await conn.execute(
        "update generation_jobs set status = 'ready', result_url = $2, error = null,"
        " finished_at = coalesce(finished_at, now()), updated_at = now() where id = $1",
        job_id,
        result_url,
    )


async def add_warnings(conn: Executor, job_id: UUID, warnings: list[str]) -> None:
    if warnings:
        await conn.execute(
            "update generation_jobs set warnings = (select coalesce(jsonb_agg(distinct w), '[]'::jsonb)"
            " from jsonb_array_elements_text(warnings || $2::jsonb) as w), updated_at = now() where id = $1",
            job_id,
            warnings,
        )


async def mark_failed(
    conn: Executor, job_id: UUID, error: str, *, cancelled: bool = False, reason: str | None = None
) -> None:
    """Close a job as failed (why: `reason`, its error type) or cancelled; a job already closed keeps its first
    outcome."""
    await conn.execute(
        "update generation_jobs set status = $2, error = $3, failure_reason = $4,"
        " finished_at = coalesce(finished_at, now()), updated_at = now()"
        " where id = $1 and status in ('queued', 'running')",
        job_id,
        "cancelled" if cancelled else "failed",
        error[:2000],
        None if cancelled else reason,
    )


async def failed_jobs(
    conn: Executor, *, reason: str | None, since: datetime | None, before: tuple[datetime, UUID] | None, limit: int
) -> list[JobRow]:
    """Every user's failed jobs, newest first, a page at a time: the dead letters an operator looks at."""
    rows = await conn.fetch(
        "select * from generation_jobs where status = 'failed'"
        " and ($1::text is null or failure_reason = $1) and ($2::timestamptz is null or created_at >= $2)"
        " and ($3::timestamptz is null or (created_at, id) < ($3, $4))"
        " order by created_at desc, id desc limit $5",
        reason,
        since,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )
    return [JobRow.model_validate(dict(row)) for row in rows]


async def link_retry(conn: Executor, failed: UUID, retry: UUID) -> None:
    """The failed job and the job that retries it point at each other."""
    await conn.execute("update generation_jobs set retried_as = $2 where id = $1", failed, retry)
    await conn.execute("update generation_jobs set retry_of = $1 where id = $2", failed, retry)


async def set_children(conn: Executor, set_id: UUID) -> list[JobRow]:
    """The newest attempt at each emotion of a sticker set, in the order the set asked for them."""
    rows = await conn.fetch(
        "select distinct on (emotion) * from generation_jobs where set_id = $1 order by emotion, created_at desc",
        set_id,
    )
    children = [JobRow.model_validate(dict(r)) for r in rows]
    return sorted(children, key=lambda j: j.created_at)


async def reopen(conn: Executor, job_id: UUID) -> bool:
    """A failed set runs again for its failed stickers: back to queued, its first error cleared. False when it was
    not failed or cancelled (by now): another retry reopened it first."""
    reopened = await conn.fetchval(
        "update generation_jobs set status = 'queued', error = null, failure_reason = null, finished_at = null,"
        " updated_at = now() where id = $1 and status in ('failed', 'cancelled') returning id",
        job_id,
    )
    return reopened is not None


async def finish(conn: Executor, job_id: UUID, *, error: str | None) -> None:
    """Close a job that records no image of its own (a set): ready, or failed with `error`."""
    await conn.execute(
        "update generation_jobs set status = $2, error = $3, finished_at = coalesce(finished_at, now()),"
        " updated_at = now() where id = $1 and status in ('queued', 'running')",
        job_id,
        "failed" if error else "ready",
        error,
    )


async def list_jobs(
    conn: Executor,
    user_id: str,
    *,
    status: JobStatus | None,
    kind: str | None,
    before: tuple[datetime, UUID] | None,
    limit: int,
) -> list[JobRow]:
    """A user's jobs, newest first, a page at a time (keyset: the last row's created_at and id); a set's
    stickers are listed under their set, not here."""
    rows = await conn.fetch(
        "select * from generation_jobs where user_id = $1 and set_id is null"
        " and ($2::text is null or status = $2) and ($3::text is null or kind = $3)"
        " and ($4::timestamptz is null or (created_at, id) < ($4, $5))"
        " order by created_at desc, id desc limit $6",
        user_id,
        status.value if status else None,
        kind,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )
    return [JobRow.model_validate(dict(r)) for r in rows]


async def running_for_character(conn: Executor, character_id: UUID) -> int:
    """Jobs not yet ended that draw this character: its own, a story's cover with it, a scene with it."""
    count = await conn.fetchval(
        "select count(*) from generation_jobs j where j.status in ('queued', 'running') and ("
        " j.character_id = $1 or j.request -> 'characterIds' ? $1::text"
        " or j.story_id in (select s.id from stories s where $1 = any(s.character_ids)))",
        character_id,
    )
    return int(count or 0)


async def running_for_story(conn: Executor, story_id: UUID) -> int:
    count = await conn.fetchval(
        "select count(*) from generation_jobs where status in ('queued', 'running') and story_id = $1", story_id
    )
    return int(count or 0)


# Without a priority (runs started before priorities, or TASK_PRIORITY off): Temporal's default key.
DEFAULT_PRIORITY_KEY = 3


async def kinds_ahead_of(conn: Executor, job: JobRow, *, in_hand: int) -> list[str]:
    """The kinds of the unfinished renders a GPU takes before this job's, as the queues order them: every one of a
    higher priority, and those of its own priority whose render was asked of the GPUs earlier (a sticker set
    counts by its stickers; one still building its prompt joins the queue behind this one); and, before them, up
    to `in_hand` of a lower priority asked earlier, which the GPUs may hold already (one rendering and one next
    each: priority orders the queue, not what ComfyUI has taken). Jobs from before `gpu_asked_at` count by when
    they were asked for."""
    mine = job.priority_key if job.priority_key is not None else DEFAULT_PRIORITY_KEY
    rows = await conn.fetch(
        "select kind, coalesce(priority_key, $4) > $2 as lower from generation_jobs"
        " where status in ('queued', 'running') and kind <> 'sticker_set' and id <> $1"
        " and (coalesce(priority_key, $4) < $2 or coalesce(gpu_asked_at, created_at) < $3)"
        " and (coalesce(priority_key, $4) < $2 or gpu_asked_at is not null or $5::timestamptz is null)"
        " order by coalesce(gpu_asked_at, created_at)",
        job.id,
        mine,
        job.gpu_asked_at or job.created_at,
        DEFAULT_PRIORITY_KEY,
        job.gpu_asked_at,
    )
    held = [row["kind"] for row in rows if row["lower"]][:in_hand]
    return held + [row["kind"] for row in rows if not row["lower"]]
