"""A user's own rows by id: another user's id, or a malformed one, is the same 404 (nothing leaks)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, TypeVar
from uuid import UUID

import asyncpg
from fastapi import Path

from api.errors import not_found
from api.schemas import EXTERNAL_ID
from comfyloom.db import characters, jobs, stories

Row = TypeVar("Row")

# A character or story by your app's own id: `PUT` creates or changes it, `GET` reads it.
BY_EXTERNAL_ID = "/by-external-id/{externalId}"
ExternalIdPath = Annotated[str, Path(alias="externalId", pattern=EXTERNAL_ID, description="Your app's id for it.")]


async def _own(
    lookup: Callable[..., Awaitable[Row | None]], ident: UUID | str, user_id: str | None, what: str, field: str
) -> Row:
    """The user's row by id (any user's for None), or the one 404 for a missing id, a malformed one, and another
    user's."""
    try:
        key = ident if isinstance(ident, UUID) else UUID(ident)
    except ValueError:
        key = None
    row = await lookup(key, user_id=user_id) if key else None
    if row is None:
        raise not_found(what, ident, field=field)
    return row


async def own_character(
    pool: asyncpg.Pool, character_id: UUID | str, user_id: str, *, field: str = "characterId"
) -> characters.CharacterRow:
    return await _own(partial(characters.get_character, pool), character_id, user_id, "character", field)


async def own_cast(pool: asyncpg.Pool, character_ids: list[UUID], user_id: str) -> list[characters.CharacterRow]:
    """A cover's or scene's characters, in order; a missing one is named by its place in `characterIds`."""
    return [
        await own_character(pool, ident, user_id, field=f"characterIds[{i}]") for i, ident in enumerate(character_ids)
    ]


async def own_story(pool: asyncpg.Pool, story_id: UUID | str, user_id: str) -> stories.StoryRow:
    return await _own(partial(stories.get_story, pool), story_id, user_id, "story", "storyId")


async def own_job(pool: asyncpg.Pool, job_id: UUID | str, user_id: str) -> jobs.JobRow:
    return await _own(partial(jobs.get_job, pool), job_id, user_id, "job", "jobId")


async def any_job(pool: asyncpg.Pool, job_id: UUID | str) -> jobs.JobRow:
    """Any user's job, for an operator."""
    return await _own(partial(jobs.get_job, pool), job_id, None, "job", "jobId")


async def own_by_external_id(
    lookup: Callable[[asyncpg.Pool, str, str], Awaitable[Row | None]],
    pool: asyncpg.Pool,
    external_id: str,
    user_id: str,
    what: str,
) -> Row:
    row = await lookup(pool, user_id, external_id)
    if row is None:
        raise not_found(f"{what} with externalId", external_id, field="externalId")
    return row
