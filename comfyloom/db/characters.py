"""Characters: who the images are of."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from comfyloom.contracts import VisualFeatures
from comfyloom.db.pool import Executor


class CharacterRow(BaseModel):
    id: UUID
    user_id: str
    name: str
    description: str
    visual_features: dict[str, Any]
    avatar_url: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def features(self) -> VisualFeatures:
        return VisualFeatures(**self.visual_features)


async def create_character(
    conn: Executor,
    *,
    user_id: str,
    name: str,
    description: str,
    visual_features: dict[str, Any],
) -> CharacterRow:
    row = await conn.fetchrow(
        "insert into characters (id, user_id, name, description, visual_features)"
        " values ($1, $2, $3, $4, $5) returning *",
        uuid.uuid4(),
        user_id,
        name,
        description,
        visual_features,
    )
    assert row is not None
    return CharacterRow.model_validate(dict(row))


async def get_character(conn: Executor, character_id: UUID, *, user_id: str | None = None) -> CharacterRow | None:
    """A character, or None; with user_id, another user's character is also None (no leaks)."""
    row = await conn.fetchrow(
        "select * from characters where id = $1 and ($2::text is null or user_id = $2)", character_id, user_id
    )
    return CharacterRow.model_validate(dict(row)) if row else None
