"""Stories: what covers are drawn from. A cover can also be asked for with the story described inline."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.admission import IdempotencyKey
from api.covers import start_cover
from api.deps import PoolDep, SettingsDep, TemporalDep, UserDep
from api.errors import content_refused, responses
from api.generation import STARTS_A_JOB, STORED_STORY_FIELDS
from api.owned import own_cast, own_story
from api.schemas import CoverOptions, ImageOut, JobAccepted, StoryCreate, StoryOut
from comfyloom.db import images, refusals, stories
from comfyloom.prompts import safety

router = APIRouter(prefix="/api/v1/stories", tags=["stories"], responses=responses(401, 422))


def _out(row: stories.StoryRow) -> StoryOut:
    return StoryOut.model_validate(row.model_dump())


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StoryOut, responses=responses(404))
async def create_story(body: StoryCreate, pool: PoolDep, settings: SettingsDep, user_id: UserDep) -> StoryOut:
    """A story of the user's own characters; its title and synopsis are screened like a character's words."""
    cast = await own_cast(pool, body.character_ids, user_id)
    texts = {"title": body.title, "genre": body.genre, "synopsis": body.synopsis}
    if refusal := safety.check(texts, signals=[], blocklist=settings.content_blocklist):
        await refusals.record(pool, refusal, user_id=user_id, kind="story", stage="request")
        raise content_refused(refusal)
    row = await stories.create_story(pool, user_id=user_id, brief=body.brief, character_ids=[c.id for c in cast])
    return _out(row)


@router.get("/{story_id}", response_model=StoryOut, responses=responses(404))
async def get_story(story_id: str, pool: PoolDep, user_id: UserDep) -> StoryOut:
    """The story, with `coverUrl` once a cover is ready."""
    return _out(await own_story(pool, story_id, user_id))


@router.get("/{story_id}/images", response_model=list[ImageOut], responses=responses(404))
async def list_images(story_id: str, pool: PoolDep, user_id: UserDep) -> list[ImageOut]:
    """A story's covers, newest first, each with what it takes to render it again."""
    row = await own_story(pool, story_id, user_id)
    return [ImageOut.model_validate(image.model_dump()) for image in await images.of_story(pool, row.id)]


@router.post("/{story_id}/generate-cover", **STARTS_A_JOB)
async def generate_cover(
    story_id: str,
    pool: PoolDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    user_id: UserDep,
    body: CoverOptions | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JobAccepted:
    """The design document's route: the same job as `POST /image-generation/cover` with this `storyId`."""
    story = await own_story(pool, story_id, user_id)
    return await start_cover(
        story,
        body or CoverOptions(),
        user_id=user_id,
        pool=pool,
        temporal=temporal,
        settings=settings,
        story_fields=STORED_STORY_FIELDS,
        idempotency_key=idempotency_key,
    )
