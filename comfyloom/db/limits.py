"""Per-user limits kept in Postgres, so every API replica counts the same requests and jobs."""

from __future__ import annotations

import math

from comfyloom.db.pool import Connection


async def count_request(conn: Connection, user_id: str) -> tuple[int, int]:
    """Count one request in the user's current minute: the count so far, and seconds until the next minute."""
    row = await conn.fetchrow(
        "insert into rate_limit_windows as w (user_id, window_start, count)"
        " values ($1, date_trunc('minute', now()), 1)"
        " on conflict (user_id, window_start) do update set count = w.count + 1"
        " returning count, extract(epoch from date_trunc('minute', now()) + interval '1 minute' - now()) as left",
        user_id,
    )
    assert row is not None
    if row["count"] == 1:  # a new window: the user's old ones go, once a minute at most
        await conn.execute(
            "delete from rate_limit_windows where user_id = $1 and window_start < now() - interval '1 hour'", user_id
        )
    return int(row["count"]), max(1, math.ceil(float(row["left"])))


async def active_jobs(conn: Connection, user_id: str) -> int:
    """Jobs the user has queued or running; a sticker set counts once, not per sticker."""
    count = await conn.fetchval(
        "select count(*) from generation_jobs where user_id = $1 and set_id is null"
        " and status in ('queued', 'running')",
        user_id,
    )
    return int(count)
