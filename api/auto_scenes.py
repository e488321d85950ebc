"""Automatic chat scenes: the end of a chat, judged by Gemini, drawn when it shows a new moment.

A route of its own (`scene/auto`), not a flag on `scene`: its body is a chat's messages, not a scene's words, and
its answer may be `200 not drawn`, which a client of `scene` never has to handle.

The checks go cheapest first, so a request that cannot be drawn never asks Gemini: a repeat of an earlier request
gets its job back; the chat's cooldown and its new messages; the user's daily cap; the messages' screening; one
judgement of a chat at a time. Then Gemini judges the moment on the CPU worker (workflows/chat_moment.py; the API
holds no Gemini key), and a moment worth drawing starts a scene as `scene` does, with Gemini's reading of it as
its tags, its gates checked again under the admission's lock. Nothing is charged for a moment not drawn.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowFailureError

from api.admission import fingerprint, insufficient, key_reused
from api.deps import Caller
from api.generation import (
    ChatScene,
    cast_field_names,
    replayed,
    scene_request,
    scene_summary,
    screened,
    start_generation,
)
from api.schemas import AutoSceneCreate, AutoSceneNotDrawn, AutoSceneStarted, SceneTagsOut, chat_context, kept_messages
from comfyloom.contracts.chat import ChatLine, MomentQuestion, MomentSource, MomentVerdict
from comfyloom.contracts.domain import ImageKind
from comfyloom.db import chats, credits, jobs
from comfyloom.db.chats import ChatRow
from comfyloom.db.pool import Connection
from comfyloom.settings import CPU_TASK_QUEUE, Settings
from comfyloom.tag_schemas import SCENE_TAG_FIELDS, SceneTags
from comfyloom.temporal import TEMPORAL_AWAY
from workflows.policies import JUDGE_MOMENT_RUN_TIMEOUT, JUDGE_MOMENT_WAIT


class NotDrawn(Exception):
    def __init__(self, answer: AutoSceneNotDrawn) -> None:
        super().__init__(answer.reason)
        self.answer = answer


def new_messages(message_ids: list[str], last_judged: str | None) -> int | None:
    """Messages after the one the chat's last automatic scene was judged on; None when it is not among them (the
    window has moved past it: at least as many as were sent, likely more)."""
    if last_judged not in message_ids:
        return None
    return len(message_ids) - 1 - message_ids.index(last_judged)


def gate(chat: ChatRow | None, message_ids: list[str], settings: Settings, now: datetime) -> AutoSceneNotDrawn | None:
    """The chat's own limits: one automatic scene per cooldown, and per AUTO_SCENE_MIN_MESSAGES new messages."""
    if chat is None or chat.last_auto_at is None:
        return None
    cooldown = settings.auto_scene_cooldown_seconds
    next_at = chat.last_auto_at + timedelta(seconds=cooldown)
    if now < next_at:
        ago = (now - chat.last_auto_at).total_seconds()
        return AutoSceneNotDrawn(
            code="cooldown",
            reason=f"this chat's last automatic scene was {ago:.0f} s ago and it gets one every {cooldown} s:"
            f" the next may be drawn from {next_at.astimezone(UTC):%H:%M:%S} UTC",
            next_at=next_at,
        )
    new = new_messages(message_ids, chat.last_auto_message_id)
    least = settings.auto_scene_min_messages
    if new is not None and new < least:
        return AutoSceneNotDrawn(
            code="too_few_messages",
            reason=f"{new} new message(s) since this chat's last automatic scene; another needs {least}",
            messages_needed=least - new,
        )
    return None


def capped(today: int, settings: Settings, now: datetime) -> AutoSceneNotDrawn | None:
    """The user's daily cap of automatic scenes (scenes asked for are not counted)."""
    cap = settings.auto_scene_daily_cap
    if today < cap:
        return None
    if cap == 0:
        return AutoSceneNotDrawn(code="daily_cap", reason="automatic scenes are off here (AUTO_SCENE_DAILY_CAP=0)")
    tomorrow = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return AutoSceneNotDrawn(
        code="daily_cap",
        reason=f"{today} automatic scenes today, the most a user gets a day: the next may be drawn from"
        f" {tomorrow:%Y-%m-%d %H:%M} UTC",
        next_at=tomorrow,
    )


async def limits(conn: Connection, user_id: str, body: AutoSceneCreate, settings: Settings) -> None:
    """Raises:
    NotDrawn: the chat's cooldown or new messages, or the user's daily cap, say not now."""
    now: datetime = await conn.fetchval("select now()")
    chat = await chats.get_chat(conn, user_id, body.chat_id)
    if answer := gate(chat, [m.id for m in body.messages], settings, now):
        raise NotDrawn(answer)
    if answer := capped(await chats.auto_scenes_today(conn, user_id), settings, now):
        raise NotDrawn(answer)


def shown(scene: SceneTags) -> str:
    """What an automatic scene shows, as the chat's last scene: its tags."""
    return ", ".join(tag for name in SCENE_TAG_FIELDS for tag in getattr(scene, name))


async def judge(caller: Caller, question: MomentQuestion) -> MomentVerdict:
    """Gemini's verdict, from a run on the CPU worker; `judge_unavailable` when none comes in time."""
    try:
        handle = await caller.temporal.start_workflow(
            "JudgeChatMoment",
            question,
            id=f"chat-moment-{uuid.uuid4()}",
            task_queue=CPU_TASK_QUEUE,
            execution_timeout=JUDGE_MOMENT_RUN_TIMEOUT,
            result_type=MomentVerdict,
            static_summary=f"Is chat {question.chat_id} of {question.prompt.user_id} worth a scene?",
        )
        return await asyncio.wait_for(handle.result(), JUDGE_MOMENT_WAIT.total_seconds())
    except TimeoutError:
        why = f"no CPU worker judged it within {JUDGE_MOMENT_WAIT.total_seconds():.0f} s"
    except WorkflowFailureError as e:
        why = f"its run failed ({e.cause})"
    except TEMPORAL_AWAY as e:
        why = f"Temporal did not answer ({e})"
    return MomentVerdict(outcome="judge_unavailable", reason=f"the moment could not be judged: {why}")


async def start_auto_scene(
    body: AutoSceneCreate, *, caller: Caller, idempotency_key: str | None
) -> AutoSceneStarted | AutoSceneNotDrawn:
    """A scene of the chat's latest messages if Gemini judges them a new moment worth one; else why not."""
    pool, settings, user_id = caller.pool, caller.settings, caller.user_id
    read = kept_messages(body.messages)
    context = chat_context(read)
    request, cast = await scene_request(body, caller=caller, context=context, chat_id=body.chat_id)
    window = settings.idempotency_window_seconds
    request_hash = fingerprint(request.kind.value, body)
    earlier = await jobs.find_replay(
        pool, user_id, idempotency_key=idempotency_key, request_hash=request_hash, window_seconds=window
    )
    if earlier is not None:
        if earlier.request_hash != request_hash:
            raise key_reused()
        accepted = await replayed(earlier, caller)
        return AutoSceneStarted(**accepted.model_dump(), reason="the same request, answered before")
    if (account := await credits.balance(pool, user_id)).balance < request.price:
        raise insufficient(account.balance, request.price)  # before asking Gemini, which costs us
    try:
        async with pool.acquire() as conn:
            await limits(conn, user_id, body, settings)
    except NotDrawn as e:
        return e.answer
    prompt = request.prompt_request()
    if refusal := await screened(prompt, cast, kind=ImageKind.scene.value, caller=caller):
        return AutoSceneNotDrawn(code="content_refused", reason=f"refused: {refusal.reason}")
    claim = (JUDGE_MOMENT_RUN_TIMEOUT + timedelta(seconds=5)).total_seconds()
    if not await chats.claim_judging(pool, user_id, body.chat_id, claim):
        return AutoSceneNotDrawn(code="judging", reason="another request of this chat is being judged now")
    try:
        chat = await chats.get_chat(pool, user_id, body.chat_id)
        source = MomentSource(
            character_names=[c.name for c in cast],
            messages=[ChatLine(speaker=m.speaker, text=m.text) for m in read],
            last_scene=chat.last_scene if chat else None,
        )
        verdict = await judge(caller, MomentQuestion(chat_id=body.chat_id, prompt=prompt, source=source))
        if verdict.outcome != "drawn" or verdict.scene is None:
            code = verdict.outcome if verdict.outcome != "drawn" else "judge_unavailable"
            return AutoSceneNotDrawn(code=code, reason=verdict.reason)
        drawn = request.model_copy(update={"scene_tags": verdict.scene})

        async def recheck(conn: Connection) -> None:
            await limits(conn, user_id, body, settings)

        accepted = await start_generation(
            drawn,
            cast=cast,
            body=body,
            caller=caller,
            summary=f"{scene_summary(body, cast)}, drawn on its own",
            field_names={"sceneContext": "messages", **cast_field_names(cast)},
            idempotency_key=idempotency_key,
            chat=ChatScene(shown=shown(verdict.scene), auto_message_id=body.messages[-1].id, recheck=recheck),
        )
    except NotDrawn as e:
        return e.answer
    finally:
        await chats.end_judging(pool, user_id, body.chat_id)
    scene = SceneTagsOut.model_validate(verdict.scene.model_dump())
    return AutoSceneStarted(**accepted.model_dump(), reason=verdict.reason, scene=scene)
