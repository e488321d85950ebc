"""Stories: what a cover is drawn from, and where it is kept."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from comfyloom.contracts import StoryBrief
from comfyloom.db.pool import Executor


class StoryRow(BaseModel):
    id: UUID
    user_id: str
    title: str
    genre: str | None
    synopsis: str | None
    character_ids: list[UUID]
    cover_url: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def brief(self) -> StoryBrief:
        return StoryBrief(title=self.title, genre=self.genre, synopsis=self.synopsis)


async def create_story(conn: Executor, *, user_id: str, brief: StoryBrief, character_ids: list[UUID]) -> StoryRow:
    row = await conn.fetchrow(
        "insert into stories (id, user_id, title, genre, synopsis, character_ids)"
        " values ($1, $2, $3, $4, $5, $6) returning *",
        uuid.uuid4(),
        user_id,
        brief.title,
        brief.genre,
        brief.synopsis,
        character_ids,
    )
    assert row is not None
    return StoryRow.model_validate(dict(row))


async def get_story(conn: Executor, story_id: UUID, *, user_id: str) -> StoryRow | None:
    """A user's story, or None; another user's story is None too (no leaks)."""
    row = await conn.fetchrow("select * from stories where id = $1 and user_id = $2", story_id, user_id)
    return StoryRow.model_validate(dict(row)) if row else None
