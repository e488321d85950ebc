from __future__ import annotations

import uuid
from uuid import UUID

import asyncpg
from fastapi import APIRouter
from pydantic.alias_generators import to_camel
from temporalio.client import Client

from api.admission import IdempotencyKey, Ticket, admission, fingerprint, insufficient
from api.deps import PoolDep, SettingsDep, TemporalDep, UserDep
from api.errors import ApiError, not_found, responses
from api.generation import (
    STARTS_A_JOB,
    STORED_STORY_FIELDS,
    as_loras,
    cast_field_names,
    launch,
    new_request,
    refuse_if_unsafe,
    replayed,
    start_cover,
    start_generation,
)
from api.owned import own_cast, own_character, own_job, own_story
from api.schemas import (
    AvatarCreate,
    CoverCreate,
    JobAccepted,
    SceneCreate,
    StickerCreate,
    StickerSetCreate,
)
from comfy_templates import template_for
from comfyloom import starts
from comfyloom.contracts import (
    Emotion,
    ImageKind,
    Lora,
    PromptRequest,
    StickerSetChild,
    StickerSetRequest,
    StoryBrief,
)
from comfyloom.db import characters, credits, jobs, stories
from comfyloom.db.jobs import STICKER_SET, JobStatus
from comfyloom.settings import Settings
from workflows.sticker_set import StickerSetWorkflow, child_workflow_id, set_workflow_id

router = APIRouter(prefix="/api/v1/image-generation", tags=["image generation"], responses=responses(401, 422))


@router.post("/avatar", **STARTS_A_JOB)
async def generate_avatar(
    body: AvatarCreate,
    pool: PoolDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    user_id: UserDep,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """A 768x768 portrait of one of the caller's characters; its price is charged only if it is delivered."""
    character = await own_character(pool, body.character_id, user_id)
    request = new_request(
        ImageKind.avatar, user_id, settings, character_ids=[character.id], seed=body.seed, loras=as_loras(body.loras)
    )
    return await start_generation(
        request,
        cast=[character],
        body=body,
        pool=pool,
        temporal=temporal,
        settings=settings,
        summary=f"Avatar of {character.name}",
        field_names=cast_field_names([character], single=True),
        idempotency_key=idempotency_key,
    )


@router.post("/sticker", **STARTS_A_JOB)
async def generate_sticker(
    body: StickerCreate,
    pool: PoolDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    user_id: UserDep,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """One emotion sticker: a 768x1152 cut-out WebP and a messenger-ready 512x512 one."""
    character = await own_character(pool, body.character_id, user_id)
    request = new_request(
        ImageKind.sticker,
        user_id,
        settings,
        character_ids=[character.id],
        emotion=body.emotion,
        seed=body.seed,
        loras=as_loras(body.loras),
    )
    return await start_generation(
        request,
        cast=[character],
        body=body,
        pool=pool,
        temporal=temporal,
        settings=settings,
        summary=f"Sticker of {character.name}: {body.emotion.value}",
        field_names=cast_field_names([character], single=True),
        idempotency_key=idempotency_key,
    )


@router.post("/cover", **STARTS_A_JOB)
async def generate_cover(
    body: CoverCreate,
    pool: PoolDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    user_id: UserDep,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """A 1024x1024 story cover: of a stored story (`storyId`), or of one described here, which is saved as a
    story (its id comes back as `storyId`)."""
    described = [name for name in ("title", "genre", "synopsis", "character_ids") if getattr(body, name) is not None]
    if body.story_id is not None:
        if described:
            fields = [to_camel(name) for name in described]
            raise ApiError(
                422, "invalid_request", "give storyId or describe the story (title, …), not both", fields=fields
            )
        story = await own_story(pool, body.story_id, user_id)
        story_fields = STORED_STORY_FIELDS
    else:
        if body.title is None:
            raise ApiError(422, "invalid_request", "a cover needs a storyId, or a story's title", field="title")
        brief = StoryBrief(title=body.title, genre=body.genre, synopsis=body.synopsis)
        cast = await own_cast(pool, body.character_ids or [], user_id)
        prompt = PromptRequest(
            job_id=uuid.uuid4(), user_id=user_id, kind=ImageKind.cover, character_ids=[c.id for c in cast], story=brief
        )
        story_fields = {"story.title": "title", "story.synopsis": "synopsis"}
        # Checked before the story is saved, so neither a repeat nor a 402 leaves a story behind
        # (admission checks both again, atomically).
        repeat = await jobs.find_replay(
            pool,
            user_id,
            idempotency_key=idempotency_key,
            request_hash=fingerprint(ImageKind.cover.value, body),
            window_seconds=settings.idempotency_window_seconds,
        )
        if repeat is not None:
            return await replayed(repeat, pool, temporal, settings)
        account = await credits.balance(pool, user_id)
        if account.balance < settings.credit_prices.cover:
            raise insufficient(account.balance, settings.credit_prices.cover)
        await refuse_if_unsafe(
            prompt,
            cast,
            kind=ImageKind.cover.value,
            pool=pool,
            settings=settings,
            field_names={**story_fields, **cast_field_names(cast)},
        )
        story = await stories.create_story(pool, user_id=user_id, brief=brief, character_ids=[c.id for c in cast])
    return await start_cover(
        story,
        body,
        user_id=user_id,
        pool=pool,
        temporal=temporal,
        settings=settings,
        story_fields=story_fields,
        idempotency_key=idempotency_key,
    )


def scene_size(size: tuple[int, int], settings: Settings) -> tuple[int, int]:
    """One of the scene template's sizes, within this GPU's pixel budget (SCENE_MAX_PIXELS)."""
    budget = settings.scene_max_pixels
    usable = [s for s in template_for(ImageKind.scene, settings).manifest.allowed_sizes if s[0] * s[1] <= budget]
    choices = ", ".join(f"{w}x{h}" for w, h in usable) or "none"
    width, height = size
    if size not in usable:
        why = (
            f"is {width * height:,} pixels, over this server's budget of {budget:,}"
            if width * height > budget
            else "is not a size the scene template renders"
        )
        raise ApiError(422, "invalid_size", f"{width}x{height} {why}; use one of: {choices}", field="size")
    return size


@router.post("/scene", **STARTS_A_JOB)
async def generate_scene(
    body: SceneCreate,
    pool: PoolDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    user_id: UserDep,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """A chat scene: the moment `context` describes, with the given characters, at one of the allowed sizes."""
    size = scene_size(body.dimensions, settings)
    cast = await own_cast(pool, body.character_ids, user_id)
    story = await own_story(pool, body.story_id, user_id) if body.story_id else None
    request = new_request(
        ImageKind.scene,
        user_id,
        settings,
        size=size,
        character_ids=[c.id for c in cast],
        scene_context=body.context,
        story_id=story.id if story else None,
        chat_id=body.chat_id,
        seed=body.seed,
        loras=as_loras(body.loras),
    )
    names = ", ".join(c.name for c in cast) or "no characters"
    return await start_generation(
        request,
        cast=cast,
        body=body,
        pool=pool,
        temporal=temporal,
        settings=settings,
        summary=f"Scene {body.size} with {names}",
        field_names={"sceneContext": "context", **cast_field_names(cast)},
        idempotency_key=idempotency_key,
    )


async def _start_set(
    set_id: UUID,
    character: characters.CharacterRow,
    emotions: list[Emotion],
    *,
    body: StickerSetCreate | None,
    idempotency_key: str | None,
    seed: int | None,
    loras: list[Lora],
    pool: asyncpg.Pool,
    temporal: Client,
    settings: Settings,
    user_id: str,
) -> JobAccepted:
    """Admit the set (its row, when `body` is the new set's request; a child job row and credit hold per
    emotion), then run the set's workflow over them. A retry (no `body`) reopens the set instead."""
    workflow_id = set_workflow_id(set_id)
    template = template_for(ImageKind.sticker, settings)
    shares = settings.credit_prices.set_shares(len(emotions))
    children = [
        StickerSetChild(emotion=emotion, job_id=uuid.uuid4(), price=share)
        for emotion, share in zip(emotions, shares, strict=True)
    ]
    child_ids = [child_workflow_id(workflow_id, child.emotion, child.job_id) for child in children]
    # A retry is never a replay: the set being finished (checked by the caller) is what guards it.
    request_hash = fingerprint(STICKER_SET, body) if body is not None else None
    ticket = Ticket(user_id, sum(shares), request_hash, idempotency_key)
    width, height = template.manifest.size
    request = StickerSetRequest(
        set_job_id=set_id,
        user_id=user_id,
        character_id=character.id,
        children=children,
        template=template.name,
        width=width,
        height=height,
        background=template.manifest.background,
        seed=seed,
        loras=loras,
        gpu_wait_deadline_seconds=settings.gpu_wait_deadline_seconds,
    )
    note = starts.pending(
        StickerSetWorkflow,
        request,
        workflow_id=workflow_id,
        job_id=set_id,
        summary=f"Stickers of {character.name}: {', '.join(e.value for e in emotions)}",
        user_id=user_id,
        kind=STICKER_SET,
        character_ids=[character.id],
        new_run=body is None,  # a retry is a new run of the set, under the same id
    )
    async with admission(pool, ticket, settings) as admitted:
        replay = admitted.replay
        if replay is None:
            conn = admitted.conn
            if body is not None:
                await jobs.create_job(
                    conn,
                    job_id=set_id,
                    user_id=user_id,
                    kind=STICKER_SET,
                    character_id=character.id,
                    workflow_id=workflow_id,
                    request=body.model_dump(mode="json", by_alias=True),
                    idempotency_key=idempotency_key,
                    request_hash=request_hash,
                )
            else:
                await jobs.reopen(conn, set_id)
            for child, child_id in zip(children, child_ids, strict=True):
                await jobs.create_job(
                    conn,
                    job_id=child.job_id,
                    user_id=user_id,
                    kind=ImageKind.sticker.value,
                    character_id=character.id,
                    workflow_id=child_id,
                    request={"emotion": child.emotion.value},
                    set_id=set_id,
                    emotion=child.emotion.value,
                )
                await credits.hold(conn, user_id=user_id, workflow_id=child_id, job_id=child.job_id, amount=child.price)
            await starts.record(conn, note)
    if replay is not None:
        return await replayed(replay, pool, temporal, settings)
    return await launch(
        note,
        rows=[set_id, *(c.job_id for c in children)],
        holds=child_ids,
        pool=pool,
        temporal=temporal,
        settings=settings,
    )


@router.post("/stickers/bulk", **STARTS_A_JOB)
async def generate_sticker_set(
    body: StickerSetCreate,
    pool: PoolDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    user_id: UserDep,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """A set of stickers, one child workflow per emotion; status lists each sticker."""
    character = await own_character(pool, body.character_id, user_id)
    set_id = uuid.uuid4()
    chosen = as_loras(body.loras)
    prompt = PromptRequest(
        job_id=set_id, user_id=user_id, kind=ImageKind.sticker, character_ids=[character.id], loras=chosen
    )
    await refuse_if_unsafe(
        prompt,
        [character],
        kind=STICKER_SET,
        pool=pool,
        settings=settings,
        field_names=cast_field_names([character], single=True),
    )
    return await _start_set(
        set_id,
        character,
        body.emotions,
        body=body,
        idempotency_key=idempotency_key,
        seed=body.seed,
        loras=chosen,
        pool=pool,
        temporal=temporal,
        settings=settings,
        user_id=user_id,
    )


@router.post("/stickers/bulk/{set_id}/retry", **(STARTS_A_JOB | {"responses": responses(402, 404, 409, 429, 503)}))
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
    return await _start_set(
        job.id,
        character,
        [Emotion(child.emotion) for child in failed if child.emotion],
        body=None,
        idempotency_key=None,
        seed=asked.seed,
        loras=as_loras(asked.loras),
        pool=pool,
        temporal=temporal,
        settings=settings,
        user_id=user_id,
    )
