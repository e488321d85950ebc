"""A user's own rows by id: another user's id, or a malformed one, is the same 404 (nothing leaks)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from api.errors import not_found
from comfyloom.db import characters, jobs


def _uuid(value: UUID | str) -> UUID | None:
    try:
        return value if isinstance(value, UUID) else UUID(value)
    except ValueError:
        return None


async def own_character(pool: asyncpg.Pool, character_id: UUID | str, user_id: str) -> characters.CharacterRow:
    ident = _uuid(character_id)
    row = await characters.get_character(pool, ident, user_id=user_id) if ident else None
    if row is None:
        raise not_found("character", character_id, field="characterId")
    return row


async def own_job(pool: asyncpg.Pool, job_id: UUID | str, user_id: str) -> jobs.JobRow:
    ident = _uuid(job_id)
    row = await jobs.get_job(pool, ident, user_id=user_id) if ident else None
    if row is None:
        raise not_found("job", job_id, field="jobId")
    return row
