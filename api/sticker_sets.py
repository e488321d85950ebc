"""Sticker sets: admitting a set (its row, a child row and credit hold per emotion) and starting its workflow;
a retry reopens the set for its failed stickers only."""

from __future__ import annotations

import uuid
from uuid import UUID

from api.admission import Ticket, admission, fingerprint
from api.deps import Caller
from api.errors import ApiError, not_found
from api.generation import (
    as_loras,
    cast_field_names,
    launch,
    refuse_if_unsafe,
    replayed,
    scheduling_for,
    webhook_for,
)
from api.owned import own_character, own_job
from api.schemas import JobAccepted, StickerSetCreate
from comfy_templates import template_for
from comfyloom import start_outbox
from comfyloom.contracts.domain import Emotion, ImageKind, Lora
from comfyloom.contracts.prompt import PromptRequest
from comfyloom.contracts.requests import StickerSetChild, StickerSetRequest
from comfyloom.contracts.webhooks import Webhook
from comfyloom.db import characters, credits, jobs
from comfyloom.db.jobs import STICKER_SET, JobStatus
from comfyloom.scheduling import STICKER_SET_PRIORITY, Scheduling
from workflows.sticker_set import StickerSetWorkflow, child_workflow_id, set_workflow_id


async def start_new_set(
    body: StickerSetCreate,
    *,
    caller: Caller,
    idempotency_key: str | None,
) -> JobAccepted:
    character = await own_character(caller.pool, body.character_id, caller.user_id)
    set_id = uuid.uuid4()
    chosen = as_loras(body.loras)
    prompt = PromptRequest(
        job_id=set_id, user_id=caller.user_id, kind=ImageKind.sticker, character_ids=[character.id], loras=chosen
    )
    await refuse_if_unsafe(
        prompt,
        [character],
        kind=STICKER_SET,
        caller=caller,
        field_names=cast_field_names([character], single=True),
    )
    return await start_set(
        set_id,
        character,
        body.emotions,
        body=body,
        idempotency_key=idempotency_key,
        seed=body.seed,
        loras=chosen,
        webhook=await webhook_for(body.webhook_url, caller),
        caller=caller,
        placed=scheduling_for(caller, STICKER_SET_PRIORITY, body.priority),
    )


async def retry_set(set_id: str, *, caller: Caller) -> JobAccepted:
    job = await own_job(caller.pool, set_id, caller.user_id)
    if job.kind != STICKER_SET:
        raise not_found("sticker set", set_id, field="setId")
    if not job.status.terminal:
        raise ApiError(409, "still_running", "the set is still running; retry once it has finished", field="setId")
    failed = [child for child in await jobs.set_children(caller.pool, job.id) if child.status is not JobStatus.ready]
    if not failed:
        raise ApiError(409, "nothing_to_retry", "every sticker of this set is ready", field="setId")
    asked = StickerSetCreate.model_validate(job.request)
    character = await own_character(caller.pool, asked.character_id, caller.user_id)
    return await start_set(
        job.id,
        character,
        [Emotion(child.emotion) for child in failed if child.emotion],
        body=None,
        idempotency_key=None,
        seed=asked.seed,
        loras=as_loras(asked.loras),
        webhook=await webhook_for(asked.webhook_url, caller),
        caller=caller,
        # As first asked, but for `urgent`, which was an operator's to give: a retry runs at the set's own priority.
        placed=scheduling_for(caller, STICKER_SET_PRIORITY, "normal" if asked.priority == "urgent" else asked.priority),
    )


async def start_set(
    set_id: UUID,
    character: characters.CharacterRow,
    emotions: list[Emotion],
    *,
    body: StickerSetCreate | None,
    idempotency_key: str | None,
    seed: int | None,
    loras: list[Lora],
    webhook: Webhook | None,
    caller: Caller,
    placed: Scheduling | None,
) -> JobAccepted:
    """Admit the set (its row, when `body` is the new set's request; a child job row and credit hold per
    emotion), then run the set's workflow over them. A retry (no `body`) reopens the set instead."""
    settings, user_id = caller.settings, caller.user_id
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
        webhook=webhook,
    )
    note = start_outbox.pending(
        StickerSetWorkflow.__name__,
        request,
        workflow_id=workflow_id,
        job_id=set_id,
        summary=f"Stickers of {character.name}: {', '.join(e.value for e in emotions)}",
        user_id=user_id,
        kind=STICKER_SET,
        character_ids=[character.id],
        new_run=body is None,  # a retry is a new run of the set, under the same id
        scheduling=placed,  # its stickers inherit it
    )
    async with admission(caller.pool, ticket, settings) as admitted:
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
                    key_id=caller.key.id,
                )
            else:
                if not await jobs.reopen(conn, set_id):  # rolled back: nothing held, nothing started
                    raise ApiError(409, "still_running", "the set is being retried already", field="setId")
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
                    priority_key=placed.priority_key if placed else None,
                    key_id=caller.key.id,
                )
                await credits.hold(conn, user_id=user_id, workflow_id=child_id, job_id=child.job_id, amount=child.price)
            await start_outbox.record(conn, note)
    if replay is not None:
        return await replayed(replay, caller)
    return await launch(note, caller=caller)
