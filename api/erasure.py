"""Erasing a character or a story: its images from storage, then its rows, refused while a job draws it.

Storage goes first, inside the transaction that holds the row: if storage fails nothing is removed and the
client may try again; if the commit fails after it, a retry finds the objects already gone. The credit
ledger is kept whole: jobs stay (without their result URLs) and so do their ledger entries.
"""

from __future__ import annotations

import asyncpg

from api.errors import ApiError
from comfyloom import object_keys
from comfyloom.db import characters, jobs, stories
from comfyloom.storage import ObjectStore


def _still_running(what: str, count: int, field: str) -> ApiError:
    return ApiError(
        409,
        "still_running",
        f"{count} job(s) drawing this {what} have not ended: cancel them (DELETE /jobs/{{jobId}}) or wait",
        field=field,
    )


def _storage_down(e: Exception) -> ApiError:
    return ApiError(503, "storage_unavailable", f"storage refused the deletion, nothing was removed: {e}")


async def erase_character(pool: asyncpg.Pool, store: ObjectStore, character: characters.CharacterRow) -> None:
    """Raises:
    ApiError: 409 while a job draws the character; 503 if storage refuses."""
    async with pool.acquire() as conn, conn.transaction():
        # The row lock: a job admitted now waits for this to end, then fails its foreign key.
        await conn.execute("select 1 from characters where id = $1 for update", character.id)
        if count := await jobs.running_for_character(conn, character.id):
            raise _still_running("character", count, "characterId")
        try:
            await store.delete_prefix(object_keys.character_prefix(character.user_id, character.id))
        except Exception as e:
            raise _storage_down(e) from e
        await characters.delete_character(conn, character)


async def erase_story(pool: asyncpg.Pool, store: ObjectStore, story: stories.StoryRow) -> None:
    """Raises:
    ApiError: 409 while a cover of the story is being made; 503 if storage refuses."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("select 1 from stories where id = $1 for update", story.id)
        if count := await jobs.running_for_story(conn, story.id):
            raise _still_running("story", count, "storyId")
        try:
            await store.delete_prefix(object_keys.story_prefix(story.id))
        except Exception as e:
            raise _storage_down(e) from e
        await stories.delete_story(conn, story)
