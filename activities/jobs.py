"""Job bookkeeping in Postgres: open, finish (record the image), fail (and clean up). All idempotent."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from comfyloom.contracts.jobs import FailJob, FinishJob, JobRef, OpenJob
from comfyloom.contracts.requests import GenerationResult, StickerSetSummary
from comfyloom.db import credits, images, jobs, kind_rows, render_times
from comfyloom.errors import ErrorType, failure
from comfyloom.kinds import KINDS
from comfyloom.storage import ObjectStore


def _workflow_id() -> str:
    """The running job's workflow id: what its credit hold is keyed by."""
    workflow_id = activity.info().workflow_id
    assert workflow_id is not None, "job activities run inside a workflow"
    return workflow_id


class JobActivities:
    def __init__(self, pool: asyncpg.Pool, store: ObjectStore) -> None:
        self._pool = pool
        self._store = store

    @activity.defn(name="open_job")
    async def open_job(self, job: OpenJob) -> None:
        """Hold the job's price (a no-op: the API held it at admission, under this workflow id) and start it."""
        async with self._pool.acquire() as conn, conn.transaction():
            if job.price:
                try:
                    await credits.hold(
                        conn,
                        user_id=job.user_id,
                        workflow_id=_workflow_id(),
                        job_id=job.job_id,
                        amount=job.price,
                    )
                except credits.InsufficientCredits as e:
                    raise failure(ErrorType.insufficient_credits, str(e)) from e
            # Cancelled while its start was on the way (a sweep or a retried request started it): nothing to do.
            if not await jobs.mark_running(conn, job.job_id):
                raise failure(ErrorType.job_ended, "the job was cancelled before its run began")

    @activity.defn(name="finish_job")
    async def finish_job(self, finish: FinishJob) -> GenerationResult:
        """Record the image and close its job as ready, in one transaction: both or neither."""
        request, image, converted = finish.request, finish.image, finish.converted
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                spec = KINDS[request.kind]
                await images.record(conn, finish, spec.owner, kind_rows.ROWS[finish.request.kind](finish))
            except asyncpg.ForeignKeyViolationError as e:
                raise failure(
                    ErrorType.character_not_found,
                    "the character or story this image is for was deleted while it was generated",
                ) from e
            await jobs.mark_ready(conn, request.job_id, image.url)
            charged = await credits.charge(conn, _workflow_id())
            if finish.render_seconds is not None:
                await render_times.record(conn, request.kind.value, finish.worker or "?", finish.render_seconds)
        if charged is not None:  # committed, and not by an earlier attempt: counted once
            _count_delivery(request.kind.value, charged, finish.worker, finish.render_seconds)
        return GenerationResult(
            job_id=request.job_id,
            url=image.url,
            key=image.key,
            width=converted.width,
            height=converted.height,
            size_bytes=converted.size_bytes,
            messenger_url=finish.messenger.url if finish.messenger else None,
        )

    @activity.defn(name="finish_set")
    async def finish_set(self, summary: StickerSetSummary) -> None:
        """A set is ready when every sticker is; otherwise failed, naming each failed emotion and why."""
        await jobs.finish(self._pool, summary.set_job_id, error=summary.error())

    @activity.defn(name="fail_job")
    async def fail_job(self, fail: FailJob) -> None:
        """Close the job with its reason and leave no object behind that nothing points at."""
        removed = await self._store.delete_prefix(fail.staging_prefix)
        for key in fail.published_keys:
            held = await self._store.describe(key)
            if held is None:
                continue
            if held.owned_by_another(str(fail.job_id)):
                # Publishing refused the key (ObjectTaken): the object there is another job's image.
                activity.logger.warning("%s is job %s's image: left in place", key, held.owner)
                continue
            await self._store.delete(key)
        async with self._pool.acquire() as conn, conn.transaction():
            await jobs.mark_failed(conn, fail.job_id, fail.error, cancelled=fail.cancelled, reason=fail.reason)
            refunded = await credits.release(conn, _workflow_id(), fail.error[:200])
        activity.logger.info(
            "job %s closed (%s); %d staged objects removed, %d credits released",
            fail.job_id,
            fail.error,
            removed,
            refunded,
        )

    @activity.defn(name="cancel_set")
    async def cancel_set(self, ref: JobRef) -> None:
        """A cancelled set: stickers that never started are cancelled and their holds released; the started
        ones were cancelled as child workflows and closed themselves."""
        async with self._pool.acquire() as conn, conn.transaction():
            for child in await jobs.set_children(conn, ref.job_id):
                if child.status is jobs.JobStatus.queued:
                    await jobs.mark_failed(conn, child.id, "cancelled", cancelled=True)
                    await credits.release(conn, child.workflow_id, "cancelled")
            await jobs.mark_failed(conn, ref.job_id, "cancelled", cancelled=True)


def _count_delivery(kind: str, charged: int, worker: str | None, render_seconds: float | None) -> None:
    """On the CPU worker's endpoint: credits charged by kind, and each GPU worker's render time (its busy fraction
    is the rate of the sum), since nothing scrapes the GPU machine at home."""
    meter = activity.metric_meter()
    meter.create_counter("comfyloom_credits_charged", "Credits charged for delivered images").add(
        charged, {"kind": kind}
    )
    if render_seconds is not None:
        meter.create_histogram_float(
            "comfyloom_gpu_render_seconds", "ComfyUI's execution time of each delivered render", unit="s"
        ).record(render_seconds, {"worker": worker or "?", "kind": kind})
