"""Starting a job: build its request from this deployment's templates, screen it, record it, start its workflow.

Every endpoint that starts a generation goes through here, so each kind is started the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel
from temporalio.client import Client

from api.errors import ApiError, content_refused
from api.owned import own_cast
from api.schemas import CamelRequest, CoverOptions, JobAccepted, LoraIn
from comfy_templates import template_for
from comfyloom.contracts import GenerationRequest, ImageKind, Lora, PromptRequest
from comfyloom.db import characters, credits, jobs, refusals, stories
from comfyloom.db.pool import Connection
from comfyloom.prompts.screening import screen
from comfyloom.settings import CPU_TASK_QUEUE, Settings
from workflows.avatar import AvatarWorkflow
from workflows.cover import CoverWorkflow
from workflows.scene import SceneWorkflow
from workflows.sticker import StickerWorkflow

# A stored story's words, and its characters', are named by the story's id when refused.
STORED_STORY_FIELDS = {"story.": "storyId", "characters[": "storyId"}

WORKFLOWS: dict[ImageKind, Any] = {
    ImageKind.avatar: AvatarWorkflow.run,
    ImageKind.sticker: StickerWorkflow.run,
    ImageKind.cover: CoverWorkflow.run,
    ImageKind.scene: SceneWorkflow.run,
}


def as_loras(given: list[LoraIn]) -> list[Lora]:
    return [Lora.model_validate(lora.model_dump()) for lora in given]


@asynccontextmanager
async def admission(pool: asyncpg.Pool, user_id: str, price: int) -> AsyncIterator[Connection]:
    """One transaction per admitted request: its job rows and credit holds are written together or not at all.

    A per-user advisory lock serialises a user's admissions across API replicas, so the balance read
    here is the balance the holds will take from: concurrent requests can never overdraw it.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(hashtext($1))", f"admission:{user_id}")
        account = await credits.balance(conn, user_id)
        if account.balance < price:
            raise insufficient(account.balance, price)
        try:
            yield conn
        except credits.InsufficientCredits as e:  # a balance moved under us after all: still a clean 402
            raise insufficient(account.balance, price) from e


def insufficient(balance: int, price: int) -> ApiError:
    return ApiError(
        402,
        "insufficient_credits",
        f"this costs {price} credits and the balance is {balance}",
        extra={"balance": balance, "price": price},
    )


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
    story_id: UUID | None = None,
    **options: Any,
) -> JobAccepted:
    """Start a job's workflow; if Temporal refuses, the job's rows are failed, its credits released, and the
    client gets a 503."""
    try:
        await temporal.start_workflow(
            run, arg, id=workflow_id, task_queue=CPU_TASK_QUEUE, static_summary=summary, **options
        )
    except Exception as e:
        async with pool.acquire() as conn, conn.transaction():
            for row in rows:
                await jobs.mark_failed(conn, row, f"could not start the workflow: {e}")
            for hold in holds:
                await credits.release(conn, hold, "the workflow could not be started")
        raise ApiError(503, "temporal_unavailable", "the job could not be started; try again") from e
    return JobAccepted(
        job_id=job_id,
        workflow_id=workflow_id,
        status_url=f"{settings.api_public_url}/api/v1/image-generation/status/{job_id}",
        story_id=story_id,
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
) -> JobAccepted:
    """Screen, admit (job row and credit hold), start its kind's workflow: the same for every single image."""
    await refuse_if_unsafe(
        request.prompt_request(), cast, kind=request.kind.value, pool=pool, settings=settings, field_names=field_names
    )
    workflow_id = f"{request.kind.value}-{request.job_id}"
    async with admission(pool, request.user_id, request.price) as conn:
        await jobs.create_job(
            conn,
            job_id=request.job_id,
            user_id=request.user_id,
            kind=request.kind.value,
            character_id=request.character_id,
            workflow_id=workflow_id,
            request=body.model_dump(mode="json", by_alias=True),
            story_id=request.story_id,
        )
        await credits.hold(
            conn, user_id=request.user_id, workflow_id=workflow_id, job_id=request.job_id, amount=request.price
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
    )
