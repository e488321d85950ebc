"""An operator's retry of a failed job (the dead letters): the same request, for the same user, acting with the
key that first asked for it (its webhook is signed by it, its tenant's share of the GPU is used), as a new job
linked to the failed one. The credits are held again, as for any request; a second retry of the same job gets the
same new job back (its Idempotency-Key is the failed job's id)."""

from __future__ import annotations

from api.covers import start_cover_request
from api.deps import Caller
from api.errors import ApiError
from api.generation import start_for_character, start_scene
from api.owned import any_job, own_character
from api.schemas import AvatarCreate, CoverCreate, JobAccepted, RetryAccepted, SceneCreate, StickerCreate
from api.sticker_sets import retry_set
from comfyloom.contracts.domain import ImageKind
from comfyloom.db import api_keys, jobs
from comfyloom.db.jobs import STICKER_SET, JobRow, JobStatus

# Failures whose request would fail the same way: refused for its content, at prompt time or once drawn.
REFUSED_FOR_CONTENT = {"ContentRefused", "ContentBlocked"}


async def retry_failed(job_id: str, *, operator: Caller) -> JobAccepted:
    """Raises:
    ApiError: 404 for no such job; 409 for a job that is not failed, was cancelled, was refused for its content,
        is one sticker of a set (retry the set), or whose key is gone; 402 when its user lacks the credits.
    """
    job = await _failed_job(operator, job_id)
    key = await api_keys.get_key(operator.pool, job.key_id) if job.key_id else None
    if key is None or key.revoked_at is not None:
        raise ApiError(
            409,
            "key_gone",
            "the key that asked for this job was revoked or deleted (or not recorded, for jobs from before "
            "retries), so its webhook cannot be signed: ask the user to request it again",
            field="jobId",
        )
    caller = Caller(
        user_id=job.user_id,
        key=key,
        pool=operator.pool,
        temporal=operator.temporal,
        settings=operator.settings,
        launcher=operator.launcher,
    )
    if job.kind == STICKER_SET:  # the set's own retry: its failed stickers again, under the same set
        return await retry_set(str(job.id), caller=caller)
    accepted = await _ask_again(job, caller)
    await jobs.link_retry(operator.pool, job.id, accepted.job_id)
    return RetryAccepted(**accepted.model_dump(), retry_of=job.id)


async def _failed_job(operator: Caller, job_id: str) -> JobRow:
    job = await any_job(operator.pool, job_id)
    if job.set_id is not None:
        raise ApiError(409, "part_of_a_set", f"this sticker is part of set {job.set_id}: retry the set", field="jobId")
    if job.status is JobStatus.cancelled:
        raise ApiError(409, "job_cancelled", "a cancelled job is not retried: it was stopped on purpose", field="jobId")
    if job.status is not JobStatus.failed:
        raise ApiError(
            409, "not_failed", f"only a failed job is retried; this one is {job.status.value}", field="jobId"
        )
    if job.failure_reason in REFUSED_FOR_CONTENT:
        raise ApiError(
            409,
            "refused_for_content",
            f"this job was refused for its content ({job.failure_reason}); the same request would be refused again",
            field="jobId",
        )
    return job


async def _ask_again(job: JobRow, caller: Caller) -> JobAccepted:
    """The job's request as first posted, started again for its user."""
    # A newline, which no HTTP header carries: no client can send this key and take the retry's place.
    again = f"operator retry\nof {job.id}"
    kind = ImageKind(job.kind)
    if kind is ImageKind.avatar or kind is ImageKind.sticker:
        body = (AvatarCreate if kind is ImageKind.avatar else StickerCreate).model_validate(job.request)
        character = await own_character(caller.pool, body.character_id, caller.user_id)
        extra = {"emotion": body.emotion} if isinstance(body, StickerCreate) else {}
        return await start_for_character(
            kind, character, body, summary=f"Retry of {job.id}", caller=caller, idempotency_key=again, **extra
        )
    if kind is ImageKind.cover:
        cover = CoverCreate.model_validate(job.request)
        if job.story_id is not None:  # a story described inline was saved: the retry draws that story
            cover = cover.model_copy(
                update={"story_id": job.story_id, "title": None, "genre": None, "synopsis": None, "character_ids": None}
            )
        return await start_cover_request(cover, caller=caller, idempotency_key=again)
    return await start_scene(SceneCreate.model_validate(job.request), caller=caller, idempotency_key=again)
