"""Characters: who the images are of, by our id or your app's (`externalId`), listed and erased."""

from __future__ import annotations

import asyncpg
from fastapi import APIRouter, Response, status

from api import pages
from api.deps import PoolDep, SettingsDep, StoreDep, UserDep
from api.erasure import erase_character
from api.errors import ApiError, content_refused, responses
from api.owned import BY_EXTERNAL_ID, ExternalIdPath, own_by_external_id, own_character
from api.schemas import (
    CharacterCreate,
    CharacterFields,
    CharacterListOut,
    CharacterOut,
    ImageOut,
)
from comfyloom.db import characters, images, refusals
from comfyloom.prompts import safety
from comfyloom.settings import Settings

router = APIRouter(prefix="/api/v1/characters", tags=["characters"], responses=responses(401, 403, 422))


def _out(row: characters.CharacterRow) -> CharacterOut:
    return CharacterOut.model_validate(row.model_dump())


async def _screen(body: CharacterFields, pool: asyncpg.Pool, settings: Settings, user_id: str) -> None:
    """A character's words are screened (422 `content_refused`) before it is saved or changed."""
    features = body.visual_features
    texts = safety.character_texts("", body.name, body.description, features.model_dump(exclude_none=True))
    signals = safety.age_signal("visualFeatures.age", features.age)
    if refusal := safety.check(texts, signals=signals, blocklist=settings.content_blocklist):
        await refusals.record(pool, refusal, user_id=user_id, kind="character", stage="request")
        raise content_refused(refusal)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CharacterOut, responses=responses(409))
async def create_character(
    body: CharacterCreate, pool: PoolDep, settings: SettingsDep, user_id: UserDep
) -> CharacterOut:
    """A character of the caller's: its words are screened (422 `content_refused`) before it is saved. An
    `externalId` the user already has is a 409: `PUT /characters/by-external-id/{externalId}` updates it."""
    await _screen(body, pool, settings, user_id)
    try:
        row = await characters.create_character(
            pool,
            user_id=user_id,
            name=body.name,
            description=body.description,
            visual_features=body.visual_features.model_dump(exclude_none=True),
            external_id=body.external_id,
        )
    except asyncpg.UniqueViolationError as e:
        message = (
            f"a character with externalId {body.external_id} exists; PUT {router.prefix}/by-external-id/… changes it"
        )
        raise ApiError(409, "external_id_taken", message, field="externalId") from e
    return _out(row)


@router.get("", response_model=CharacterListOut)
async def list_characters(
    pool: PoolDep, user_id: UserDep, limit: pages.Limit = 20, cursor: pages.Cursor = None
) -> CharacterListOut:
    """The caller's characters, newest first, a page at a time."""
    rows = await characters.list_characters(pool, user_id, before=pages.decode(cursor), limit=limit + 1)
    return CharacterListOut(items=[_out(r) for r in rows[:limit]], next_cursor=pages.next_cursor(rows, limit))


@router.put(
    BY_EXTERNAL_ID,
    response_model=CharacterOut,
    responses={201: {"model": CharacterOut, "description": "Created: the user had no character with this id."}},
)
async def upsert_character(
    external_id: ExternalIdPath,
    body: CharacterFields,
    response: Response,
    pool: PoolDep,
    settings: SettingsDep,
    user_id: UserDep,
) -> CharacterOut:
    """The user's character with your app's id, created (201) or brought up to date (200), so your app keeps
    no map of our ids: send this before each generation and use the `id` it answers."""
    await _screen(body, pool, settings, user_id)
    row, created = await characters.upsert_character(
        pool,
        user_id=user_id,
        external_id=external_id,
        name=body.name,
        description=body.description,
        visual_features=body.visual_features.model_dump(exclude_none=True),
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _out(row)


@router.get(BY_EXTERNAL_ID, response_model=CharacterOut, responses=responses(404))
async def get_character_by_external_id(external_id: ExternalIdPath, pool: PoolDep, user_id: UserDep) -> CharacterOut:
    """The user's character with your app's id; 404 when there is none."""
    return _out(await own_by_external_id(characters.by_external_id, pool, external_id, user_id, "character"))


@router.get("/{character_id}", response_model=CharacterOut, responses=responses(404))
async def get_character(character_id: str, pool: PoolDep, user_id: UserDep) -> CharacterOut:
    """The character, with `avatarUrl` once an avatar is ready."""
    return _out(await own_character(pool, character_id, user_id))


@router.delete(
    "/{character_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses(404, 409, 503),
)
async def delete_character(character_id: str, pool: PoolDep, store: StoreDep, user_id: UserDep) -> Response:
    """Erase a character: its avatars and stickers are deleted from storage and its rows removed; stories stop
    naming it. Refused (409) while a job draws it. Its jobs stay in `/jobs`, without result URLs, and the
    credit ledger keeps its entries. Scenes it appears in are the user's and are kept."""
    await erase_character(pool, store, await own_character(pool, character_id, user_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{character_id}/images", response_model=list[ImageOut], responses=responses(404))
async def list_character_images(character_id: str, pool: PoolDep, user_id: UserDep) -> list[ImageOut]:
    """A character's images, newest first, each with what it takes to render it again."""
    row = await own_character(pool, character_id, user_id)
    return [ImageOut.model_validate(image.model_dump()) for image in await images.of_character(pool, row.id)]
