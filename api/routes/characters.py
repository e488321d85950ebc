from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from api.deps import PoolDep, UserDep
from api.errors import not_found
from api.schemas import CharacterCreate, CharacterOut
from comfyloom.db import characters

router = APIRouter(prefix="/api/v1/characters", tags=["characters"])


def _out(row: characters.CharacterRow) -> CharacterOut:
    return CharacterOut.model_validate(row.model_dump())


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CharacterOut)
async def create_character(body: CharacterCreate, pool: PoolDep, user_id: UserDep) -> CharacterOut:
    row = await characters.create_character(
        pool,
        user_id=user_id,
        name=body.name,
        description=body.description,
        visual_features=body.visual_features.model_dump(exclude_none=True),
    )
    return _out(row)


@router.get("/{character_id}", response_model=CharacterOut)
async def get_character(character_id: str, pool: PoolDep, user_id: UserDep) -> CharacterOut:
    row = None
    try:
        row = await characters.get_character(pool, UUID(character_id), user_id=user_id)
    except ValueError:
        pass  # a malformed id names no character either
    if row is None:
        raise not_found("character", character_id, field="characterId")
    return _out(row)
