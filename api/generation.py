"""Starting a job: build its request from this deployment's templates, screen it, record it, start its workflow.

Every endpoint that starts a generation goes through here, so each kind is started the same way.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from api.admission import Ticket, admission, fingerprint
from api.errors import ApiError, content_refused, responses
from api.owned import own_cast
from api.schemas import CamelRequest, CoverOptions, JobAccepted, LoraIn
from comfy_templates import template_for
from comfyloom import search
from comfyloom.contracts import GenerationRequest, ImageKind, Lora, PromptRequest
from comfyloom.db import characters, credits, jobs, refusals, stories
from comfyloom.prompts.screening import screen
from comfyloom.settings import CPU_TASK_QUEUE, Settings
from workflows.avatar import AvatarWorkflow
from workflows.cover import CoverWorkflow
from workflows.scene import SceneWorkflow
from workflows.sticker import StickerWorkflow

log = logging.getLogger("comfyloom.api")

# A stored story's words, and its characters', are named by the story's id when refused.
STORED_STORY_FIELDS = {"story.": "storyId", "characters[": "storyId"}

# What every route that starts a job declares: a 202 with the job, and each way admission can refuse.
STARTS_A_JOB: dict[str, Any] = {
    "status_code": 202,
    "response_model": JobAccepted,
    "responses": responses(402, 404, 429, 503),
}

WORKFLOWS: dict[ImageKind, Any] = {
    ImageKind.avatar: AvatarWorkflow.run,
    ImageKind.sticker: StickerWorkflow.run,
    ImageKind.cover: CoverWorkflow.run,
    ImageKind.scene: SceneWorkflow.run,
}


def as_loras(given: list[LoraIn]) -> list[Lora]:
    return [Lora.model_validate(lora.model_dump()) for lora in given]


def new_request(
    kind: ImageKind, user_id: str, settings: Settings, *, size: tuple[int, int] | None = None, **fields: Any
) -> GenerationRequest:
    """A job of `kind` on the template this deployment uses for it, at its manifest's size unless `size`."""
    template = template_for(kind, settings)
    width, height = size or template.manifest.size
    return GenerationRequest(
        job_id=uuid.uuid4(),
        user_id=user_id,
        kind=kind,
        template=template.name,
        width=width,
        height=height,
        background=template.manifest.background,
        gpu_wait_deadline_seconds=settings.gpu_wait_deadline_seconds,
        price=getattr(settings.credit_prices, kind.value),
        **fields,
    )


def cast_field_names(cast: list[characters.CharacterRow], *, single: bool = False) -> dict[str, str]:
    """How the request names each character whose words were refused: `characterId` or `characterIds[i]`."""
    if single:
        return {"characters[0].": "characterId"}
    return {f"characters[{i}].": f"characterIds[{i}]" for i in range(len(cast))}


async def refuse_if_unsafe(
    prompt: PromptRequest,
    cast: list[characters.CharacterRow],
    *,
    kind: str,
    pool: asyncpg.Pool,
    settings: Settings,
    field_names: dict[str, str],
) -> None:
    """The request-time screening: a refusal is recorded and answered 422, before any job exists."""
    if refusal := screen(prompt, cast, blocklist=settings.content_blocklist):
        await refusals.record(pool, refusal, user_id=prompt.user_id, kind=kind, stage="request")
        raise content_refused(refusal, field_names=field_names)


async def start_workflow(
    run: Any,
    arg: BaseModel,
    *,
    job_id: UUID,
    workflow_id: str,
    rows: list[UUID],
    holds: list[str],
    pool: asyncpg.Pool,
    temporal: Client,
    settings: Settings,
    summary: str,
    attributes: TypedSearchAttributes,
    story_id: UUID | None = None,
    **options: Any,
) -> JobAccepted:
    """Start a job's workflow; if Temporal refuses, the job's rows are failed, its credits released, and the
    client gets a 503. A namespace without comfyloom's search attributes gets the run without them."""

    async def start(with_attributes: TypedSearchAttributes) -> None:
        await temporal.start_workflow(
            run,
            arg,
            id=workflow_id,
            task_queue=CPU_TASK_QUEUE,
            static_summary=summary,
            search_attributes=with_attributes,
            **options,
        )

    try:
        try:
            await start(attributes)
        except RPCError as e:
            if e.status != RPCStatusCode.INVALID_ARGUMENT or "search attribute" not in e.message.lower():
                raise
            log.error("%s; starting %s without search attributes: run `comfyloom temporal-setup`", e, workflow_id)
            await start(TypedSearchAttributes.empty)
    except Exception as e:
        async with pool.acquire() as conn, conn.transaction():
            for row in rows:
                await jobs.mark_failed(conn, row, f"could not start the workflow: {e}")
            for hold in holds:
                await credits.release(conn, hold, "the workflow could not be started")
        raise ApiError(503, "temporal_unavailable", "the job could not be started; try again") from e
    return JobAccepted(
        job_id=job_id, workflow_id=workflow_id, status_url=status_url(job_id, settings), story_id=story_id
    )


def status_url(job_id: UUID, settings: Settings) -> str:
    return f"{settings.api_public_url}/api/v1/image-generation/status/{job_id}"


def replayed(job: jobs.JobRow, settings: Settings) -> JobAccepted:
    """The answer to a repeated request: the job the first one started."""
    return JobAccepted(
        job_id=job.id,
        workflow_id=job.workflow_id,
        status_url=status_url(job.id, settings),
        story_id=job.story_id if job.kind == ImageKind.cover.value else None,
        replayed=True,
    )


async def start_generation(
    request: GenerationRequest,
    *,
    cast: list[characters.CharacterRow],
    body: CamelRequest,
    pool: asyncpg.Pool,
    temporal: Client,
    settings: Settings,
    summary: str,
    field_names: dict[str, str],
    idempotency_key: str | None,
) -> JobAccepted:
    """Screen, admit (job row and credit hold), start its kind's workflow: the same for every single image.

    A repeat of an earlier request (its Idempotency-Key, or the same body within the window) gets the
    earlier job back, and nothing new is started or charged.
    """
    await refuse_if_unsafe(
        request.prompt_request(), cast, kind=request.kind.value, pool=pool, settings=settings, field_names=field_names
    )
    workflow_id = f"{request.kind.value}-{request.job_id}"
    ticket = Ticket(request.user_id, request.price, fingerprint(request.kind.value, body), idempotency_key)
    async with admission(pool, ticket, settings) as admitted:
        if admitted.replay is not None:
            return replayed(admitted.replay, settings)
        await jobs.create_job(
            admitted.conn,
            job_id=request.job_id,
            user_id=request.user_id,
            kind=request.kind.value,
            character_id=request.character_id,
            workflow_id=workflow_id,
            request=body.model_dump(mode="json", by_alias=True),
            story_id=request.story_id,
            idempotency_key=ticket.idempotency_key,
            request_hash=ticket.request_hash,
        )
        await credits.hold(
            admitted.conn, user_id=request.user_id, workflow_id=workflow_id, job_id=request.job_id, amount=request.price
        )
    return await start_workflow(
        WORKFLOWS[request.kind],
        request,
        job_id=request.job_id,
        workflow_id=workflow_id,
        rows=[request.job_id],
        holds=[workflow_id],
        pool=pool,
        temporal=temporal,
        settings=settings,
        summary=summary,
        attributes=search.for_job(request.user_id, request.kind.value, request.character_ids),
        story_id=request.story_id if request.kind is ImageKind.cover else None,
    )


async def start_cover(
    story: stories.StoryRow,
    options: CoverOptions,
    *,
    user_id: str,
    pool: asyncpg.Pool,
    temporal: Client,
    settings: Settings,
    story_fields: dict[str, str],
    idempotency_key: str | None,
) -> JobAccepted:
    """A cover of a stored story, showing its characters; `story_fields` names where refused words came from
    (`title`, … when the request described the story; `storyId` when it named a stored one)."""
    cast = await own_cast(pool, story.character_ids, user_id)
    request = new_request(
        ImageKind.cover,
        user_id,
        settings,
        character_ids=[c.id for c in cast],
        story=story.brief,
        story_id=story.id,
        seed=options.seed,
        loras=as_loras(options.loras),
    )
    return await start_generation(
        request,
        cast=cast,
        body=options,
        pool=pool,
        temporal=temporal,
        settings=settings,
        summary=f"Cover of {story.title}",
        field_names={**story_fields, **cast_field_names(cast)},
        idempotency_key=idempotency_key,
    )
