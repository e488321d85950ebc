"""A user's own rows by id: another user's id, or a malformed one, is the same 404 (nothing leaks)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from api.errors import not_found
from comfyloom.db import characters, jobs, stories


def _uuid(value: UUID | str) -> UUID | None:
    try:
        return value if isinstance(value, UUID) else UUID(value)
    except ValueError:
        return None


async def own_character(
    pool: asyncpg.Pool, character_id: UUID | str, user_id: str, *, field: str = "characterId"
) -> characters.CharacterRow:
    ident = _uuid(character_id)
    row = await characters.get_character(pool, ident, user_id=user_id) if ident else None
    if row is None:
        raise not_found("character", character_id, field=field)
    return row


async def own_cast(pool: asyncpg.Pool, character_ids: list[UUID], user_id: str) -> list[characters.CharacterRow]:
    """A cover's or scene's characters, in order; a missing one is named by its place in `characterIds`."""
    return [
        await own_character(pool, ident, user_id, field=f"characterIds[{i}]") for i, ident in enumerate(character_ids)
    ]


async def own_story(pool: asyncpg.Pool, story_id: UUID | str, user_id: str) -> stories.StoryRow:
    ident = _uuid(story_id)
    row = await stories.get_story(pool, ident, user_id=user_id) if ident else None
    if row is None:
        raise not_found("story", story_id, field="storyId")
    return row


async def own_job(pool: asyncpg.Pool, job_id: UUID | str, user_id: str) -> jobs.JobRow:
    ident = _uuid(job_id)
    row = await jobs.get_job(pool, ident, user_id=user_id) if ident else None
    if row is None:
        raise not_found("job", job_id, field="jobId")
    return row
