"""Stories: what a cover is drawn from, and where it is kept."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from comfyloom.contracts.domain import StoryBrief
from comfyloom.db import pages
from comfyloom.db.pool import Connection, Executor


class StoryRow(BaseModel):
    id: UUID
    user_id: str
    title: str
    genre: str | None
    synopsis: str | None
    character_ids: list[UUID]
    cover_url: str | None
    external_id: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def brief(self) -> StoryBrief:
        return StoryBrief(title=self.title, genre=self.genre, synopsis=self.synopsis)


async def create_story(
    conn: Executor, *, user_id: str, brief: StoryBrief, character_ids: list[UUID], external_id: str | None = None
) -> StoryRow:
    """Raises:
    asyncpg.UniqueViolationError: the user already has a story with this external id."""
    row = await conn.fetchrow(
        "insert into stories (id, user_id, title, genre, synopsis, character_ids, external_id)"
        " values ($1, $2, $3, $4, $5, $6, $7) returning *",
        uuid.uuid4(),
        user_id,
        brief.title,
        brief.genre,
        brief.synopsis,
        character_ids,
        external_id,
    )
    assert row is not None
    return StoryRow.model_validate(dict(row))


async def upsert_story(
    conn: Executor, *, user_id: str, external_id: str, brief: StoryBrief, character_ids: list[UUID]
) -> tuple[StoryRow, bool]:
    """The user's story with the app's id, created or brought up to date; True when created."""
    row = await conn.fetchrow(
        "insert into stories (id, user_id, title, genre, synopsis, character_ids, external_id)"
        " values ($1, $2, $3, $4, $5, $6, $7)"
        " on conflict (user_id, external_id) where external_id is not null do update"
        " set title = excluded.title, genre = excluded.genre, synopsis = excluded.synopsis,"
        " character_ids = excluded.character_ids, updated_at = now()"
        " returning *, (xmax = 0) as created",
        uuid.uuid4(),
        user_id,
        brief.title,
        brief.genre,
        brief.synopsis,
        character_ids,
        external_id,
    )
    assert row is not None
    fields = dict(row)
    created = bool(fields.pop("created"))
    return StoryRow.model_validate(fields), created


async def by_external_id(conn: Executor, user_id: str, external_id: str) -> StoryRow | None:
    row = await conn.fetchrow("select * from stories where user_id = $1 and external_id = $2", user_id, external_id)
    return StoryRow.model_validate(dict(row)) if row else None


async def list_stories(
    conn: Executor, user_id: str, *, before: tuple[datetime, UUID] | None, limit: int
) -> list[StoryRow]:
    """A user's stories, newest first, a page at a time (keyset: the last row's created_at and id)."""
    rows = await pages.newest_first(conn, "stories", user_id, before=before, limit=limit)
    return [StoryRow.model_validate(dict(r)) for r in rows]


async def delete_story(conn: Connection, story: StoryRow) -> None:
    """The story's rows, in the caller's transaction: its covers go with it (cascade); its jobs stay for the
    ledger's sake, without their result URLs; scenes set in it keep their image but no longer name it."""
    await conn.execute("update generation_jobs set result_url = null where story_id = $1", story.id)
    await conn.execute("delete from stories where id = $1", story.id)


async def get_story(conn: Executor, story_id: UUID, *, user_id: str) -> StoryRow | None:
    """A user's story, or None; another user's story is None too (no leaks)."""
    row = await conn.fetchrow("select * from stories where id = $1 and user_id = $2", story_id, user_id)
    return StoryRow.model_validate(dict(row)) if row else None
