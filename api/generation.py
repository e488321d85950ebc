"""Starting a job: build its request from this deployment's templates, screen it, record it, start its workflow.

Every endpoint that starts a generation goes through here, so each kind is started the same way.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from api.admission import Ticket, admission, fingerprint
from api.deps import Caller
from api.errors import ApiError, content_refused, responses
from api.owned import own_cast, own_story
from api.schemas import (
    AvatarCreate,
    CamelRequest,
    JobAccepted,
    JobRequest,
    LoraIn,
    SceneCreate,
    SceneOptions,
    StickerCreate,
)
from comfy_templates import template_for
from comfyloom import start_outbox, webhooks
from comfyloom.contracts.domain import ImageKind, Lora
from comfyloom.contracts.prompt import PromptRequest
from comfyloom.contracts.requests import GenerationRequest, generation_request
from comfyloom.contracts.webhooks import Webhook
from comfyloom.db import characters, chats, credits, jobs, refusals
from comfyloom.db.pool import Connection
from comfyloom.kinds import KINDS
from comfyloom.prompts.safety import Refusal
from comfyloom.prompts.screening import screen
from comfyloom.scheduling import KIND_PRIORITY, RequestedPriority, Scheduling, scheduling
from comfyloom.settings import Settings

# A stored story's words, and its characters', are named by the story's id when refused.
STORED_STORY_FIELDS = {"story.": "storyId", "characters[": "storyId"}

# What every route that starts a job declares: a 202 with the job, and each way admission can refuse. The 202
# comes once the job is admitted; its run starts right after (api/launcher.py).
STARTS_A_JOB: dict[str, Any] = {
    "status_code": 202,
    "response_model": JobAccepted,
    "responses": responses(402, 404, 429),
}


def as_loras(given: list[LoraIn]) -> list[Lora]:
    return [Lora.model_validate(lora.model_dump()) for lora in given]


def new_request(
    kind: ImageKind, caller: Caller, *, size: tuple[int, int] | None = None, **fields: Any
) -> GenerationRequest:
    """A job of `kind` on the template this deployment uses for it, at its manifest's size unless `size`."""
    settings = caller.settings
    template = template_for(kind, settings)
    width, height = size or template.manifest.size
    return generation_request(
        job_id=uuid.uuid4(),
        user_id=caller.user_id,
        kind=kind,
        template=template.name,
        width=width,
        height=height,
        background=template.manifest.background,
        gpu_wait_deadline_seconds=settings.gpu_wait_deadline_seconds,
        price=KINDS[kind].price(settings.credit_prices),
        **fields,
    )


def scheduling_for(caller: Caller, base: int, requested: RequestedPriority) -> Scheduling | None:
    """A job's priority and fairness (comfyloom/scheduling.py); None when TASK_PRIORITY is off (first come,
    first served). `urgent` is refused (422 naming `priority`) to any key but an operator's: a request may lower
    its priority, never raise it."""
    if requested == "urgent" and not caller.key.admin:
        raise ApiError(
            422,
            "priority_refused",
            "only an operator key may ask for priority urgent; use normal or background",
            field="priority",
        )
    if not caller.settings.task_priority:
        return None
    return scheduling(
        base, requested, user_id=caller.user_id, tenant=caller.key.tenant, weights=caller.settings.fairness_weights
    )


async def webhook_for(url: str | None, caller: Caller) -> Webhook | None:
    """The webhook a job reports to: the request's, else its key's default; refused (422 naming `webhookUrl`)
    when it resolves to an address this deployment does not call."""
    url = url or caller.key.webhook_url
    if url is None:
        return None
    try:
        reason = await asyncio.wait_for(webhooks.refusal(url, caller.settings.webhook_allowed_networks), 5)
    except TimeoutError:
        reason = "its host took over 5 s to resolve"
    if reason:
        raise ApiError(422, "webhook_refused", f"webhookUrl {url} cannot be called: {reason}", field="webhookUrl")
    return Webhook(url=url, key_id=caller.key.id)


def cast_field_names(cast: list[characters.CharacterRow], *, single: bool = False) -> dict[str, str]:
    """How the request names each character whose words were refused: `characterId` or `characterIds[i]`."""
    if single:
        return {"characters[0].": "characterId"}
    return {f"characters[{i}].": f"characterIds[{i}]" for i in range(len(cast))}


async def screened(
    prompt: PromptRequest, cast: list[characters.CharacterRow], *, kind: str, caller: Caller
) -> Refusal | None:
    """The request-time screening, before any job exists: a refusal is recorded, and returned to be answered."""
    if refusal := screen(prompt, cast, blocklist=caller.settings.content_blocklist):
        await refusals.record(caller.pool, refusal, user_id=prompt.user_id, kind=kind, stage="request")
    return refusal


async def refuse_if_unsafe(
    prompt: PromptRequest,
    cast: list[characters.CharacterRow],
    *,
    kind: str,
    caller: Caller,
    field_names: dict[str, str],
) -> None:
    """Raises:
    ApiError: 422 `content_refused`, naming the fields the screening refused."""
    if refusal := await screened(prompt, cast, kind=kind, caller=caller):
        raise content_refused(refusal, field_names=field_names)


async def launch(start: start_outbox.PendingStart, *, caller: Caller, story_id: UUID | None = None) -> JobAccepted:
    """The answer to an admitted job (its rows, holds and note committed); its run starts right after
    (api/launcher.py), or from its note if that fails."""
    caller.launcher.start(start)
    return JobAccepted(
        job_id=start.job_id,
        workflow_id=start.workflow_id,
        status_url=status_url(start.job_id, caller.settings),
        story_id=story_id,
    )


def status_url(job_id: UUID, settings: Settings) -> str:
    return f"{settings.api_public_url}/api/v1/image-generation/status/{job_id}"


def _owned_by_story(kind: str) -> bool:
    """A job row's kind is an image kind or a sticker set's (`sticker_set`, no `ImageKind`)."""
    return kind in ImageKind.__members__.values() and KINDS[ImageKind(kind)].owner == "story"


async def replayed(job: jobs.JobRow, caller: Caller) -> JobAccepted:
    """The answer to a repeated request: the job the first one started. If a crash stopped the first request
    between admitting the job and starting its workflow, the workflow is started now, as any admitted job's is."""
    if (note := await start_outbox.pending_for(caller.pool, job.workflow_id)) is not None:
        caller.launcher.start(note)
    return JobAccepted(
        job_id=job.id,
        workflow_id=job.workflow_id,
        status_url=status_url(job.id, caller.settings),
        story_id=job.story_id if _owned_by_story(job.kind) else None,
        replayed=True,
    )


@dataclass(frozen=True)
class ChatScene:
    """What a scene admitted for a chat leaves in the chat's row: what it shows, and for an automatic scene the
    latest message it was judged on, and its gates checked again under the admission's lock (`recheck` raises)."""

    shown: str
    auto_message_id: str | None = None
    recheck: Callable[[Connection], Awaitable[None]] | None = None


async def start_generation(
    request: GenerationRequest,
    *,
    cast: list[characters.CharacterRow],
    body: JobRequest,
    caller: Caller,
    summary: str,
    field_names: dict[str, str],
    idempotency_key: str | None,
    chat: ChatScene | None = None,
) -> JobAccepted:
    """Screen, admit (job row and credit hold), start its kind's workflow: the same for every single image.

    A repeat of an earlier request (its Idempotency-Key, or the same body within the window) gets the
    earlier job back, and nothing new is started or charged.
    """
    await refuse_if_unsafe(
        request.prompt_request(), cast, kind=request.kind.value, caller=caller, field_names=field_names
    )
    request = request.model_copy(update={"webhook": await webhook_for(body.webhook_url, caller)})
    placed = scheduling_for(caller, KIND_PRIORITY[request.kind], body.priority)
    workflow_id = f"{request.kind.value}-{request.job_id}"
    ticket = Ticket(request.user_id, request.price, fingerprint(request.kind.value, body), idempotency_key)
    note = start_outbox.pending(
        KINDS[request.kind].workflow,
        request,
        workflow_id=workflow_id,
        job_id=request.job_id,
        summary=summary,
        user_id=request.user_id,
        kind=request.kind.value,
        character_ids=request.character_ids,
        scheduling=placed,
    )
    async with admission(caller.pool, ticket, caller.settings) as admitted:
        replay = admitted.replay
        if replay is None:
            await admit_generation(admitted.conn, request, body, ticket, note, caller.key.id, chat)
    if replay is not None:
        return await replayed(replay, caller)
    return await launch(
        note, caller=caller, story_id=request.story_id if KINDS[request.kind].owner == "story" else None
    )


async def admit_generation(
    conn: Connection,
    request: GenerationRequest,
    body: CamelRequest,
    ticket: Ticket,
    note: start_outbox.PendingStart,
    key_id: UUID,
    chat: ChatScene | None = None,
) -> None:
    """The job's row, its credit hold and the note that starts its workflow (and its chat's row): one transaction."""
    if chat is not None and chat.recheck is not None:
        await chat.recheck(conn)
    await jobs.create_job(
        conn,
        job_id=request.job_id,
        user_id=request.user_id,
        kind=request.kind.value,
        character_id=request.character_id,
        workflow_id=note.workflow_id,
        request=body.model_dump(mode="json", by_alias=True),
        story_id=request.story_id,
        idempotency_key=ticket.idempotency_key,
        request_hash=ticket.request_hash,
        priority_key=note.scheduling.priority_key if note.scheduling else None,
        key_id=key_id,
        chat_id=request.chat_id,
        auto_scene=chat is not None and chat.auto_message_id is not None,
    )
    await credits.hold(
        conn, user_id=request.user_id, workflow_id=note.workflow_id, job_id=request.job_id, amount=request.price
    )
    await start_outbox.record(conn, note)
    if chat is not None and request.chat_id is not None:
        shown, message = chat.shown, chat.auto_message_id
        await chats.scene_asked(conn, request.user_id, request.chat_id, shown=shown, auto_message_id=message)


async def start_for_character(
    kind: ImageKind,
    character: characters.CharacterRow,
    body: AvatarCreate | StickerCreate,
    *,
    summary: str,
    caller: Caller,
    idempotency_key: str | None,
    **fields: Any,
) -> JobAccepted:
    """An image of one character (an avatar, a sticker): the same request, screening and start for each."""
    request = new_request(
        kind, caller, character_ids=[character.id], seed=body.seed, loras=as_loras(body.loras), **fields
    )
    return await start_generation(
        request,
        cast=[character],
        body=body,
        caller=caller,
        summary=summary,
        field_names=cast_field_names([character], single=True),
        idempotency_key=idempotency_key,
    )


def scene_sizes(settings: Settings) -> list[tuple[int, int]]:
    """The scene template's sizes within this GPU's pixel budget (SCENE_MAX_PIXELS): the spec's enum for `size`."""
    budget = settings.scene_max_pixels
    return [s for s in template_for(ImageKind.scene, settings).manifest.allowed_sizes if s[0] * s[1] <= budget]


def scene_size(size: tuple[int, int], settings: Settings) -> tuple[int, int]:
    """One of `scene_sizes`; anything else is a 422 naming `size`, saying why and what fits."""
    budget = settings.scene_max_pixels
    usable = scene_sizes(settings)
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


async def scene_request(
    body: SceneOptions, *, caller: Caller, context: str, chat_id: str | None, **fields: Any
) -> tuple[GenerationRequest, list[characters.CharacterRow]]:
    """A chat scene at an allowed size, with the caller's characters (and story) it names."""
    size = scene_size(body.dimensions, caller.settings)
    cast = await own_cast(caller.pool, body.character_ids, caller.user_id)
    story = await own_story(caller.pool, body.story_id, caller.user_id) if body.story_id else None
    request = new_request(
        ImageKind.scene,
        caller,
        size=size,
        character_ids=[c.id for c in cast],
        scene_context=context,
        story_id=story.id if story else None,
        chat_id=chat_id,
        seed=body.seed,
        loras=as_loras(body.loras),
        **fields,
    )
    return request, cast


def scene_summary(body: SceneOptions, cast: list[characters.CharacterRow]) -> str:
    return f"Scene {body.size} with {', '.join(c.name for c in cast) or 'no characters'}"


async def start_scene(
    body: SceneCreate,
    *,
    caller: Caller,
    idempotency_key: str | None,
) -> JobAccepted:
    """A scene of the moment the request's `context` describes; in a chat, it becomes the chat's last scene."""
    request, cast = await scene_request(body, caller=caller, context=body.context, chat_id=body.chat_id)
    return await start_generation(
        request,
        cast=cast,
        body=body,
        caller=caller,
        summary=scene_summary(body, cast),
        field_names={"sceneContext": "context", **cast_field_names(cast)},
        idempotency_key=idempotency_key,
        chat=ChatScene(shown=body.context) if body.chat_id else None,
    )
