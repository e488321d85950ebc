"""How long renders took on the GPU, by kind: the queue estimates read their recent medians."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from comfyloom.db.pool import Executor

# The renders of a kind an estimate looks at: recent enough to follow a GPU swap, enough for a steady median.
RECENT = 20
# Without a priority (runs started before priorities, or TASK_PRIORITY off): Temporal's default key.
DEFAULT_PRIORITY_KEY = 3


async def record(conn: Executor, kind: str, worker: str, seconds: float) -> None:
    await conn.execute("insert into render_times (kind, worker, seconds) values ($1, $2, $3)", kind, worker, seconds)


async def medians(conn: Executor) -> dict[str, tuple[float, int]]:
    """By kind: the median of its last RECENT render times, and how many there were."""
    rows = await conn.fetch(
        "select kind, percentile_cont(0.5) within group (order by seconds) as median, count(*) as n from ("
        " select kind, seconds, row_number() over (partition by kind order by finished_at desc) as recent"
        " from render_times) t where recent <= $1 group by kind",
        RECENT,
    )
    return {row["kind"]: (float(row["median"]), int(row["n"])) for row in rows}


async def ahead_of(
    conn: Executor, job_id: UUID, priority_key: int | None, created_at: datetime, *, in_hand: int
) -> list[str]:
    """The kinds of the unfinished renders a GPU takes before this job's, as the queues order them: every one of a
    higher priority, and those of its own priority asked for earlier (a sticker set counts by its stickers); and,
    before them, up to `in_hand` of a lower priority asked earlier, which the GPUs may hold already (one
    rendering and one next each: priority orders the queue, not what ComfyUI has taken)."""
    mine = priority_key if priority_key is not None else DEFAULT_PRIORITY_KEY
    rows = await conn.fetch(
        "select kind, coalesce(priority_key, $4) > $2 as lower from generation_jobs"
        " where status in ('queued', 'running') and kind <> 'sticker_set' and id <> $1"
        " and (coalesce(priority_key, $4) < $2 or created_at < $3) order by created_at",
        job_id,
        mine,
        created_at,
        DEFAULT_PRIORITY_KEY,
    )
    held = [row["kind"] for row in rows if row["lower"]][:in_hand]
    return held + [row["kind"] for row in rows if not row["lower"]]
