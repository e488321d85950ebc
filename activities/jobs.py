"""Job bookkeeping in Postgres: open, finish (record the image), fail (and clean up). All idempotent."""

from __future__ import annotations

import uuid

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from comfyloom.contracts import FailJob, FinishJob, GenerationResult, ImageKind, JobRef, StickerSetSummary
from comfyloom.db import jobs
from comfyloom.storage import ObjectStore


class JobActivities:
    def __init__(self, pool: asyncpg.Pool, store: ObjectStore) -> None:
        self._pool = pool
        self._store = store

    @activity.defn(name="open_job")
    async def open_job(self, ref: JobRef) -> None:
        await jobs.mark_running(self._pool, ref.job_id)

    @activity.defn(name="finish_job")
    async def finish_job(self, finish: FinishJob) -> GenerationResult:
        image, converted = finish.image, finish.converted
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                await conn.execute(
                    "insert into character_images (id, character_id, job_id, kind, object_key, url, width,"
                    " height, size_bytes, positive_prompt, negative_prompt, seed, template, template_sha256,"
                    " checkpoint, source_text, tags, loras, translator)"
                    " values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
                    " on conflict (job_id) do nothing",
                    uuid.uuid4(),
                    finish.character_id,
                    finish.job_id,
                    finish.kind.value,
                    image.key,
                    image.url,
                    converted.width,
                    converted.height,
                    converted.size_bytes,
                    finish.prompt.positive,
                    finish.prompt.negative,
                    finish.seed,
                    finish.template,
                    finish.template_sha256,
                    finish.checkpoint,
                    finish.prompt.source_text,
                    finish.prompt.tags.model_dump(mode="json"),
                    [lora.model_dump(mode="json") for lora in finish.prompt.loras],
                    finish.prompt.translator,
                )
            except asyncpg.ForeignKeyViolationError as e:
                raise ApplicationError(
                    "the character was deleted while its image was generated",
                    type="CharacterNotFound",
                    non_retryable=True,
                ) from e
            if finish.kind is ImageKind.sticker and finish.emotion is not None:
                await conn.execute(
                    "insert into character_stickers (id, character_id, job_id, emotion, url, messenger_url)"
                    " values ($1, $2, $3, $4, $5, $6) on conflict (job_id) do nothing",
                    uuid.uuid4(),
                    finish.character_id,
                    finish.job_id,
                    finish.emotion.value,
                    image.url,
                    finish.messenger.url if finish.messenger else None,
                )
            if finish.kind is ImageKind.avatar:
                await conn.execute(
                    "update characters set avatar_url = $2, updated_at = now() where id = $1",
                    finish.character_id,
                    image.url,
                )
            await conn.execute(
                "update generation_jobs set status = 'ready', result_url = $2, error = null,"
                " finished_at = coalesce(finished_at, now()), updated_at = now() where id = $1",
                finish.job_id,
                image.url,
            )
        return GenerationResult(
            job_id=finish.job_id,
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
            await self._store.delete(key)
        await jobs.mark_failed(self._pool, fail.job_id, fail.error, cancelled=fail.cancelled)
        activity.logger.info("job %s closed (%s); %d staged objects removed", fail.job_id, fail.error, removed)
