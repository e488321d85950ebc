"""The job event log the user and chat streams serve (api/job_stream.py): each job's events, once each, in order.

Nothing else writes a job's stages down (they live in Temporal), so the streams append what they observe. Two
streams (two devices, two API replicas) may observe one job at once; `append` keeps the log right:

- one writer a user at a time (`pg_advisory_xact_lock` on the user, held until commit), so a user's ids commit in
  the order they were drawn. A reader of `id > cursor` for a user can then never miss a row whose lower id commits
  after a higher one it has read (the bigserial gap), since no two of that user's writers overlap;
- a job's events carry a `rank` that only goes up (started 0, its stages, its end last): a row is added only above
  the job's last, and nothing after an end. A stage seen twice, seen late by a slower stream, or seen again after
  the end is dropped, so each event is in the log once, in the job's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from comfyloom.db.jobs import JobRow
from comfyloom.db.pool import Executor

ENDS = ("ready", "failed", "cancelled")
# pg_advisory_xact_lock(key1, key2): this constant, and the user's hashtext. Two users whose names hash alike only
# take turns; nothing else in comfyloom uses this first key.
_LOCK = 0x6A657674


@dataclass(frozen=True)
class NewEvent:
    """An event a stream observed: its type, the stage it shows, its place in the job's order, the job's status."""

    event: str
    stage: str
    rank: int
    status: dict[str, Any]


class EventRow(BaseModel):
    id: int
    user_id: str
    job_id: UUID
    chat_id: str | None
    event: str
    stage: str
    rank: int
    status: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class WatchedJob:
    """A job a stream looks at, with the rank of its last event in the log (None: it has none yet)."""

    job: JobRow
    rank: int | None


async def append(
    pool: asyncpg.Pool, *, user_id: str, job_id: UUID, chat_id: str | None, events: Sequence[NewEvent]
) -> list[EventRow]:
    """Add those of `events` (in the job's order) that move the job forward: above its last rank, and none after
    its end. Returns the rows added."""
    added: list[EventRow] = []
    async with pool.acquire() as conn, conn.transaction():
        # Held until commit: the user's next writer draws its ids after these rows are visible (see the module).
        await conn.execute("select pg_advisory_xact_lock($1, hashtext($2))", _LOCK, user_id)
        head = await conn.fetchrow(
            "select rank, event from job_events where job_id = $1 order by rank desc limit 1", job_id
        )
        if head is not None and head["event"] in ENDS:
            return added
        last = head["rank"] if head is not None else None
        for event in events:
            if last is not None and event.rank <= last:
                continue
            row = await conn.fetchrow(
                "insert into job_events (user_id, job_id, chat_id, event, stage, rank, status)"
                " values ($1, $2, $3, $4, $5, $6, $7) returning *",
                user_id,
                job_id,
                chat_id,
                event.event,
                event.stage,
                event.rank,
                event.status,
            )
            assert row is not None
            added.append(EventRow.model_validate(dict(row)))
            last = event.rank
            if event.event in ENDS:
                break
    return added


async def watched_jobs(
    conn: Executor, user_id: str, chat_id: str | None, *, ended_since: datetime, limit: int
) -> list[WatchedJob]:
    """A stream's jobs to look at: the subject's unfinished ones, oldest first, then those ended since
    `ended_since` whose end is not in the log yet; at most `limit`. A set's stickers are its set's."""
    rows = await conn.fetch(
        "select j.*, i.moderation, h.rank as head_rank from ("
        " (select * from generation_jobs where user_id = $1 and ($2::text is null or chat_id = $2)"
        "  and set_id is null and status in ('queued', 'running') order by created_at limit $4)"
        " union all"
        " (select * from generation_jobs g where user_id = $1 and ($2::text is null or chat_id = $2)"
        "  and set_id is null and finished_at >= $3 and status not in ('queued', 'running')"
        "  and not exists (select 1 from job_events e where e.job_id = g.id and e.event = any($5::text[]))"
        "  order by finished_at limit $4)"
        ") j left join images i on i.job_id = j.id"
        " left join lateral (select rank from job_events e where e.job_id = j.id order by rank desc limit 1) h on true"
        " order by j.status in ('queued', 'running') desc, j.created_at limit $4",
        user_id,
        chat_id,
        ended_since,
        limit,
        list(ENDS),
    )
    return [WatchedJob(JobRow.model_validate(dict(row)), row["head_rank"]) for row in rows]


async def newest(conn: Executor, user_id: str) -> tuple[int, datetime]:
    """The id of the user's latest event (0: none yet), and the database's time now."""
    row = await conn.fetchrow(
        "select coalesce(max(id), 0) as id, clock_timestamp() as now from job_events where user_id = $1", user_id
    )
    assert row is not None
    return int(row["id"]), row["now"]


async def find(conn: Executor, user_id: str, event_id: int) -> EventRow | None:
    """One of the user's events by id (None: unknown, another user's, or gone with its job)."""
    row = await conn.fetchrow("select * from job_events where id = $1 and user_id = $2", event_id, user_id)
    return EventRow.model_validate(dict(row)) if row else None


async def count_after(conn: Executor, user_id: str, chat_id: str | None, cursor: int, *, up_to: int) -> int:
    """How many of the subject's events follow `cursor`, counting no further than `up_to`."""
    count = await conn.fetchval(
        "select count(*) from (select 1 from job_events where user_id = $1 and ($2::text is null or chat_id = $2)"
        " and id > $3 limit $4) t",
        user_id,
        chat_id,
        cursor,
        up_to,
    )
    return int(count or 0)


async def after(conn: Executor, user_id: str, chat_id: str | None, cursor: int, *, limit: int) -> list[EventRow]:
    """The subject's events after `cursor`, in order."""
    rows = await conn.fetch(
        "select * from job_events where user_id = $1 and ($2::text is null or chat_id = $2) and id > $3"
        " order by id limit $4",
        user_id,
        chat_id,
        cursor,
        limit,
    )
    return [EventRow.model_validate(dict(row)) for row in rows]


async def in_flight(conn: Executor, user_id: str, chat_id: str | None, upto: int) -> list[EventRow]:
    """The last event up to `upto` of each of the subject's unfinished jobs, in order: where each one stands."""
    rows = await conn.fetch(
        "select * from (select distinct on (e.job_id) e.* from job_events e join generation_jobs j on j.id = e.job_id"
        " where j.user_id = $1 and ($2::text is null or j.chat_id = $2) and j.set_id is null"
        " and j.status in ('queued', 'running') and e.id <= $3 order by e.job_id, e.id desc) last"
        " where event <> all($4::text[]) order by id",
        user_id,
        chat_id,
        upto,
        list(ENDS),
    )
    return [EventRow.model_validate(dict(row)) for row in rows]
