"""Characters: who the images are of."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from comfyloom.contracts.domain import VisualFeatures
from comfyloom.db import pages
from comfyloom.db.pool import Connection, Executor


class CharacterRow(BaseModel):
    id: UUID
    user_id: str
    name: str
    description: str
    visual_features: dict[str, Any]
    avatar_url: str | None
    external_id: str | None = None
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
    external_id: str | None = None,
) -> CharacterRow:
    """Raises:
    asyncpg.UniqueViolationError: the user already has a character with this external id."""
    row = await conn.fetchrow(
        "insert into characters (id, user_id, name, description, visual_features, external_id)"
        " values ($1, $2, $3, $4, $5, $6) returning *",
        uuid.uuid4(),
        user_id,
        name,
        description,
        visual_features,
        external_id,
    )
    assert row is not None
    return CharacterRow.model_validate(dict(row))


async def upsert_character(
    conn: Executor,
    *,
    user_id: str,
    external_id: str,
    name: str,
    description: str,
    visual_features: dict[str, Any],
) -> tuple[CharacterRow, bool]:
    """The user's character with the app's id, created or brought up to date; True when created."""
    row = await conn.fetchrow(
        "insert into characters (id, user_id, name, description, visual_features, external_id)"
        " values ($1, $2, $3, $4, $5, $6)"
        " on conflict (user_id, external_id) where external_id is not null do update"
        " set name = excluded.name, description = excluded.description,"
        " visual_features = excluded.visual_features, updated_at = now()"
        " returning *, (xmax = 0) as created",
        uuid.uuid4(),
        user_id,
        name,
        description,
        visual_features,
        external_id,
    )
    assert row is not None
    fields = dict(row)
    created = bool(fields.pop("created"))
    return CharacterRow.model_validate(fields), created


async def by_external_id(conn: Executor, user_id: str, external_id: str) -> CharacterRow | None:
    row = await conn.fetchrow("select * from characters where user_id = $1 and external_id = $2", user_id, external_id)
    return CharacterRow.model_validate(dict(row)) if row else None


async def list_characters(
    conn: Executor, user_id: str, *, before: tuple[datetime, UUID] | None, limit: int
) -> list[CharacterRow]:
    """A user's characters, newest first, a page at a time (keyset: the last row's created_at and id)."""
    rows = await pages.newest_first(conn, "characters", user_id, before=before, limit=limit)
    return [CharacterRow.model_validate(dict(r)) for r in rows]


async def delete_character(conn: Connection, character: CharacterRow) -> None:
    """The character's rows, in the caller's transaction: its images go with it (cascade); its jobs stay for
    the ledger's sake, without their result URLs; stories stop naming it."""
    await conn.execute("update generation_jobs set result_url = null where character_id = $1", character.id)
    await conn.execute(
        "update stories set character_ids = array_remove(character_ids, $1), updated_at = now()"
        " where user_id = $2 and $1 = any(character_ids)",
        character.id,
        character.user_id,
    )
    await conn.execute("delete from characters where id = $1", character.id)


async def get_character(conn: Executor, character_id: UUID, *, user_id: str | None = None) -> CharacterRow | None:
    """A character, or None; with user_id, another user's character is also None (no leaks)."""
    row = await conn.fetchrow(
        "select * from characters where id = $1 and ($2::text is null or user_id = $2)", character_id, user_id
    )
    return CharacterRow.model_validate(dict(row)) if row else None
