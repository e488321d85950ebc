"""Stories: what covers are drawn from, by our id or your app's (`externalId`), listed and erased. A cover can
also be asked for with the story described inline."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from fastapi import APIRouter, Response, status

from api import pages
from api.admission import IdempotencyKey
from api.covers import start_cover
from api.deps import CallerDep, PoolDep, SettingsDep, StoreDep, UserDep
from api.erasure import erase_story
from api.errors import ApiError, content_refused, responses
from api.generation import STARTS_A_JOB, STORED_STORY_FIELDS
from api.owned import BY_EXTERNAL_ID, ExternalIdPath, own_by_external_id, own_cast, own_story
from api.schemas import (
    CoverOptions,
    ImageOut,
    JobAccepted,
    StoryCreate,
    StoryFields,
    StoryListOut,
    StoryOut,
)
from comfyloom.db import images, refusals, stories
from comfyloom.prompts import safety
from comfyloom.settings import Settings

router = APIRouter(prefix="/api/v1/stories", tags=["stories"], responses=responses(401, 403, 422))


def _out(row: stories.StoryRow) -> StoryOut:
    return StoryOut.model_validate(row.model_dump())


async def _screened_cast(body: StoryFields, pool: asyncpg.Pool, settings: Settings, user_id: str) -> list[UUID]:
    """The story's characters, the user's own (404 naming `characterIds[i]`), once its words pass screening."""
    cast = await own_cast(pool, body.character_ids, user_id)
    texts = {"title": body.title, "genre": body.genre, "synopsis": body.synopsis}
    if refusal := safety.check(texts, signals=[], blocklist=settings.content_blocklist):
        await refusals.record(pool, refusal, user_id=user_id, kind="story", stage="request")
        raise content_refused(refusal)
    return [c.id for c in cast]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StoryOut, responses=responses(404, 409))
async def create_story(body: StoryCreate, pool: PoolDep, settings: SettingsDep, user_id: UserDep) -> StoryOut:
    """A story of the user's own characters; its title and synopsis are screened like a character's words.
    An `externalId` the user already has is a 409: `PUT /stories/by-external-id/{externalId}` changes it."""
    cast = await _screened_cast(body, pool, settings, user_id)
    try:
        row = await stories.create_story(
            pool, user_id=user_id, brief=body.brief, character_ids=cast, external_id=body.external_id
        )
    except asyncpg.UniqueViolationError as e:
        message = f"a story with externalId {body.external_id} exists; PUT {router.prefix}/by-external-id/… changes it"
        raise ApiError(409, "external_id_taken", message, field="externalId") from e
    return _out(row)


@router.get("", response_model=StoryListOut)
async def list_stories(
    pool: PoolDep, user_id: UserDep, limit: pages.Limit = 20, cursor: pages.Cursor = None
) -> StoryListOut:
    """The caller's stories, newest first, a page at a time."""
    rows = await stories.list_stories(pool, user_id, before=pages.decode(cursor), limit=limit + 1)
    return StoryListOut(items=[_out(r) for r in rows[:limit]], next_cursor=pages.next_cursor(rows, limit))


@router.put(
    BY_EXTERNAL_ID,
    response_model=StoryOut,
    responses={
        201: {"model": StoryOut, "description": "Created: the user had no story with this id."},
        **responses(404),
    },
)
async def upsert_story(
    external_id: ExternalIdPath,
    body: StoryFields,
    response: Response,
    pool: PoolDep,
    settings: SettingsDep,
    user_id: UserDep,
) -> StoryOut:
    """The user's story with your app's id, created (201) or brought up to date (200)."""
    cast = await _screened_cast(body, pool, settings, user_id)
    row, created = await stories.upsert_story(
        pool, user_id=user_id, external_id=external_id, brief=body.brief, character_ids=cast
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _out(row)


@router.get(BY_EXTERNAL_ID, response_model=StoryOut, responses=responses(404))
async def get_story_by_external_id(external_id: ExternalIdPath, pool: PoolDep, user_id: UserDep) -> StoryOut:
    """The user's story with your app's id; 404 when there is none."""
    return _out(await own_by_external_id(stories.by_external_id, pool, external_id, user_id, "story"))


@router.get("/{story_id}", response_model=StoryOut, responses=responses(404))
async def get_story(story_id: str, pool: PoolDep, user_id: UserDep) -> StoryOut:
    """The story, with `coverUrl` once a cover is ready."""
    return _out(await own_story(pool, story_id, user_id))


@router.delete(
    "/{story_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=responses(404, 409, 503)
)
async def delete_story(story_id: str, pool: PoolDep, store: StoreDep, user_id: UserDep) -> Response:
    """Erase a story: its covers are deleted from storage and its rows removed. Refused (409) while a cover of
    it is being made. Its jobs stay in `/jobs`, without result URLs; the credit ledger keeps its entries;
    scenes set in it are kept, no longer naming it. Its characters are untouched."""
    await erase_story(pool, store, await own_story(pool, story_id, user_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{story_id}/images", response_model=list[ImageOut], responses=responses(404))
async def list_story_images(story_id: str, pool: PoolDep, user_id: UserDep) -> list[ImageOut]:
    """A story's covers, newest first, each with what it takes to render it again."""
    row = await own_story(pool, story_id, user_id)
    return [ImageOut.model_validate(image.model_dump()) for image in await images.of_story(pool, row.id)]


@router.post("/{story_id}/generate-cover", **STARTS_A_JOB)
async def generate_story_cover(
    story_id: str, caller: CallerDep, body: CoverOptions | None = None, idempotency_key: IdempotencyKey = None
) -> JobAccepted:
    """The design document's route: the same job as `POST /image-generation/cover` with this `storyId`."""
    story = await own_story(caller.pool, story_id, caller.user_id)
    return await start_cover(
        story,
        body or CoverOptions(),
        caller=caller,
        story_fields=STORED_STORY_FIELDS,
        idempotency_key=idempotency_key,
    )
