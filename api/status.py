"""A job's status as a client sees it, once (`status_of`) or as a stream of changes (`watch`).

The stream polls the job (its row, the workflow's progress query, the GPU activity's heartbeats).
The workflow lists every stage it has passed, so a stage that came and went between two looks is
still sent, in order.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from api.live_stage import live_stage
from api.schemas import JobStatusOut, QueueOut, RenderProgressOut, StickerStatusOut
from comfyloom.contracts.domain import Emotion, Stage
from comfyloom.db import jobs
from comfyloom.db.job_notices import JobNotices, Wake
from comfyloom.db.jobs import STICKER_SET, JobStatus
from comfyloom.gpu_fleet import recent_gpu_fleet
from comfyloom.queue_estimate import estimate
from comfyloom.settings import Settings


async def observe(
    pool: asyncpg.Pool, temporal: Client, settings: Settings, job: jobs.JobRow, *, with_passed: bool = False
) -> tuple[JobStatusOut, list[Stage] | None]:
    """A job as a client sees it (the row, the live stage from Temporal, a set's stickers), and the stages
    its workflow has passed through (None: its progress query went unanswered)."""
    live = await live_stage(temporal, job, with_passed=with_passed)
    if live.stage in (Stage.done, Stage.failed, Stage.cancelled) and not job.status.terminal:
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
    render = live.render
    queue = None
    if live.stage is Stage.waiting_for_gpu and job.kind != STICKER_SET:
        with contextlib.suppress(RPCError, asyncpg.PostgresError):  # no estimate this time; the status still goes
            fleet = await recent_gpu_fleet(temporal, settings.temporal_namespace)
            queue = QueueOut.model_validate((await estimate(pool, fleet, settings, job)).model_dump())
    out = JobStatusOut(
        **job.model_dump(exclude={"id", "user_id", "request", "updated_at", "set_id", "emotion", "priority_key"}),
        job_id=job.id,
        stage=live.stage,
        stickers=stickers,
        progress=RenderProgressOut(step=render.step, total=render.total, node=render.node) if render else None,
        waiting=live.waiting,
        waiting_since=live.waiting_since,
        queue=queue,
    )
    return out, live.passed


async def status_of(pool: asyncpg.Pool, temporal: Client, settings: Settings, job: jobs.JobRow) -> JobStatusOut:
    status, _ = await observe(pool, temporal, settings, job)
    return status


POLL_SECONDS = 0.25
# A stream with nothing new this long says so (None), so proxies keep an idle connection open.
IDLE_SECONDS = 15.0
# Looks at an ended job whose run did not answer which stages it passed, before the stream ends without them.
ENDED_LOOKS = 8


def _key(status: JobStatusOut) -> tuple[object, ...]:
    progress = status.progress
    stickers = tuple((s.emotion, s.status) for s in status.stickers or [])
    ahead = status.queue.ahead if status.queue else None
    return status.status, status.stage, progress.step if progress else None, status.waiting, stickers, ahead


def at_stage(status: JobStatusOut, stage: Stage) -> JobStatusOut:
    """The status as it was at a stage the job went through between two looks."""
    return status.model_copy(
        update={
            "stage": stage,
            "status": JobStatus.queued if stage is Stage.queued else JobStatus.running,
            "progress": None,
            "waiting": None,
            "waiting_since": None,
            "queue": None,
            "result_url": None,
            "error": None,
            "finished_at": None,
        }
    )


async def watch(
    pool: asyncpg.Pool, temporal: Client, settings: Settings, notices: JobNotices, job: jobs.JobRow
) -> AsyncIterator[JobStatusOut | None]:
    """Statuses of `job` as they change; the last one has ended (ready, failed or cancelled). Looked at every
    POLL_SECONDS, and at once when a job of its user changes status (its end, mostly)."""
    with notices.subscribed(job.user_id) as wake:
        async for seen in _watch(pool, temporal, settings, job, wake):
            yield seen


async def _watch(
    pool: asyncpg.Pool, temporal: Client, settings: Settings, job: jobs.JobRow, wake: Wake
) -> AsyncIterator[JobStatusOut | None]:
    announced = 0
    last: tuple[object, ...] | None = None
    last_stage: Stage | None = None
    quiet_since = time.monotonic()
    ended_looks = 0
    while True:
        row = await jobs.get_job(pool, job.id) or job
        # The stages passed between two looks come from the workflow's progress query.
        status, passed = await observe(pool, temporal, settings, row, with_passed=True)
        if passed is None:
            # Unanswered (a busy CPU worker, a closed run replaying): this look knows nothing the last did not,
            # and a stage passed since must not be lost. Look again, the first look and a long silence aside.
            ended_looks += status.status.terminal
            if last is not None and (not status.status.terminal or ended_looks < ENDED_LOOKS):
                if time.monotonic() - quiet_since > IDLE_SECONDS:
                    yield None
                    quiet_since = time.monotonic()
                await wake.wait(POLL_SECONDS)
                wake.clear()
                continue
            passed = []
        # The workflow's last stage is the one shown now, unless the job has ended: it is ready before its run
        # ends (staging is cleared after), so the run's last stage (`saving`) is one the stream passed.
        for stage in passed[announced:] if status.status.terminal else passed[announced:-1]:
            if stage is not last_stage and stage is not status.stage:
                yield at_stage(status, stage)
                last_stage = stage
        announced = max(announced, len(passed))
        if _key(status) != last:
            yield status
            last, last_stage, quiet_since = _key(status), status.stage, time.monotonic()
        elif time.monotonic() - quiet_since > IDLE_SECONDS:
            yield None
            quiet_since = time.monotonic()
        if status.status.terminal:
            return
        await wake.wait(POLL_SECONDS)
        wake.clear()
