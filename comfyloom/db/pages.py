"""A user's rows of one table, newest first, a page at a time: the keyset every listing uses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal
from uuid import UUID

import asyncpg

from comfyloom.db.pool import Executor

# The tables listed this way (a name, not input: it is part of the SQL).
Listed = Literal["characters", "stories"]


async def newest_first(
    conn: Executor, table: Listed, user_id: str, *, before: tuple[datetime, UUID] | None, limit: int
) -> Sequence[asyncpg.Record]:
    """Rows after `before` (the last row's created_at and id), newest first; the index on
    (user_id, created_at desc, id desc) serves it."""
    return await conn.fetch(
        f"select * from {table} where user_id = $1"
        " and ($2::timestamptz is null or (created_at, id) < ($2, $3))"
        " order by created_at desc, id desc limit $4",
        user_id,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )
