"""Routes that start a generation: each takes the request, makes one call into api/, and answers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.admission import IdempotencyKey
from api.auto_scenes import start_auto_scene
from api.covers import start_cover_request
from api.deps import CallerDep
from api.errors import responses
from api.generation import STARTS_A_JOB, start_for_character, start_scene
from api.owned import own_character
from api.schemas import (
    AutoSceneCreate,
    AutoSceneNotDrawn,
    AutoSceneStarted,
    AvatarCreate,
    CoverCreate,
    JobAccepted,
    SceneCreate,
    StickerCreate,
    StickerSetCreate,
)
from api.sticker_sets import retry_set, start_new_set
from comfyloom.contracts.domain import ImageKind

router = APIRouter(prefix="/api/v1/image-generation", tags=["image generation"], responses=responses(401, 403, 422))


@router.post("/avatar", **STARTS_A_JOB)
async def generate_avatar(body: AvatarCreate, caller: CallerDep, idempotency_key: IdempotencyKey = None) -> JobAccepted:
    """A 768x768 portrait of one of the caller's characters; its price is charged only if it is delivered."""
    character = await own_character(caller.pool, body.character_id, caller.user_id)
    return await start_for_character(
        ImageKind.avatar,
        character,
        body,
        summary=f"Avatar of {character.name}",
        caller=caller,
        idempotency_key=idempotency_key,
    )


@router.post("/sticker", **STARTS_A_JOB)
async def generate_sticker(
    body: StickerCreate, caller: CallerDep, idempotency_key: IdempotencyKey = None
) -> JobAccepted:
    """One emotion sticker: a 768x1152 cut-out WebP and a messenger-ready 512x512 one."""
    character = await own_character(caller.pool, body.character_id, caller.user_id)
    return await start_for_character(
        ImageKind.sticker,
        character,
        body,
        summary=f"Sticker of {character.name}: {body.emotion.value}",
        caller=caller,
        idempotency_key=idempotency_key,
        emotion=body.emotion,
    )


@router.post("/cover", **STARTS_A_JOB)
async def generate_cover(body: CoverCreate, caller: CallerDep, idempotency_key: IdempotencyKey = None) -> JobAccepted:
    """A 1024x1024 story cover: of a stored story (`storyId`), or of one described here, which is saved as a
    story (its id comes back as `storyId`)."""
    return await start_cover_request(body, caller=caller, idempotency_key=idempotency_key)


@router.post("/scene", **STARTS_A_JOB)
async def generate_scene(body: SceneCreate, caller: CallerDep, idempotency_key: IdempotencyKey = None) -> JobAccepted:
    """A chat scene: the moment `context` describes, with the given characters, at one of the allowed sizes."""
    return await start_scene(body, caller=caller, idempotency_key=idempotency_key)


@router.post(
    "/scene/auto",
    **(
        STARTS_A_JOB
        | {
            "response_model": AutoSceneStarted,
            "responses": {
                200: {"model": AutoSceneNotDrawn, "description": "Not drawn: `code` and `reason` say why."},
                **responses(402, 404, 429),
            },
        }
    ),
)
async def generate_auto_scene(
    body: AutoSceneCreate, caller: CallerDep, idempotency_key: IdempotencyKey = None
) -> AutoSceneStarted | JSONResponse:
    """A chat scene if the conversation's latest messages show a new moment (a new place, an action, a change of
    mood), judged by Gemini: 202 with the scene's job, or 200 `{"drawn": false, "code", "reason"}` and nothing
    charged. A chat gets one automatic scene per AUTO_SCENE_COOLDOWN_SECONDS and per AUTO_SCENE_MIN_MESSAGES new
    messages, a user AUTO_SCENE_DAILY_CAP a UTC day (scenes asked for are not counted); a request inside those is
    answered at once, with `nextAt` or `messagesNeeded`, without asking Gemini. Without Gemini nothing is drawn."""
    answer = await start_auto_scene(body, caller=caller, idempotency_key=idempotency_key)
    if isinstance(answer, AutoSceneNotDrawn):
        return JSONResponse(answer.as_json())
    return answer


@router.post("/stickers/bulk", **STARTS_A_JOB)
async def generate_sticker_set(
    body: StickerSetCreate, caller: CallerDep, idempotency_key: IdempotencyKey = None
) -> JobAccepted:
    """A set of stickers, one child workflow per emotion; status lists each sticker."""
    return await start_new_set(body, caller=caller, idempotency_key=idempotency_key)


@router.post("/stickers/bulk/{set_id}/retry", **(STARTS_A_JOB | {"responses": responses(402, 404, 409, 429)}))
async def retry_sticker_set(set_id: str, caller: CallerDep) -> JobAccepted:
    """Render the set's failed stickers again; the good ones are kept, never redone."""
    return await retry_set(set_id, caller=caller)
