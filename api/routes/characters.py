from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import PoolDep, SettingsDep, UserDep
from api.errors import content_refused, responses
from api.owned import own_character
from api.schemas import CharacterCreate, CharacterOut, ImageOut
from comfyloom.db import characters, images, refusals
from comfyloom.prompts import safety

router = APIRouter(prefix="/api/v1/characters", tags=["characters"], responses=responses(401, 422))


def _out(row: characters.CharacterRow) -> CharacterOut:
    return CharacterOut.model_validate(row.model_dump())


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CharacterOut)
async def create_character(
    body: CharacterCreate, pool: PoolDep, settings: SettingsDep, user_id: UserDep
) -> CharacterOut:
    """A character of the caller's: its words are screened (422 `content_refused`) before it is saved."""
    features = body.visual_features
    texts = safety.character_texts("", body.name, body.description, features.model_dump(exclude_none=True))
    signals = safety.age_signal("visualFeatures.age", features.age)
    if refusal := safety.check(texts, signals=signals, blocklist=settings.content_blocklist):
        await refusals.record(pool, refusal, user_id=user_id, kind="character", stage="request")
        raise content_refused(refusal)
    row = await characters.create_character(
        pool,
        user_id=user_id,
        name=body.name,
        description=body.description,
        visual_features=body.visual_features.model_dump(exclude_none=True),
    )
    return _out(row)


@router.get("/{character_id}", response_model=CharacterOut, responses=responses(404))
async def get_character(character_id: str, pool: PoolDep, user_id: UserDep) -> CharacterOut:
    """The character, with `avatarUrl` once an avatar is ready."""
    return _out(await own_character(pool, character_id, user_id))


@router.get("/{character_id}/images", response_model=list[ImageOut], responses=responses(404))
async def list_images(character_id: str, pool: PoolDep, user_id: UserDep) -> list[ImageOut]:
    """A character's images, newest first, each with what it takes to render it again."""
    row = await own_character(pool, character_id, user_id)
    return [ImageOut.model_validate(image.model_dump()) for image in await images.of_character(pool, row.id)]
