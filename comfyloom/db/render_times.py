"""How long renders took on the GPU, by kind: the queue estimates read their recent medians."""

from __future__ import annotations

from datetime import datetime

from comfyloom.db.pool import Executor

# The renders of a kind an estimate looks at: recent enough to follow a GPU swap, enough for a steady median.
RECENT = 20


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


async def by_worker_since(conn: Executor, since: datetime) -> dict[str, tuple[int, float]]:
    """By GPU worker: its renders delivered since `since`, and their GPU seconds."""
    rows = await conn.fetch(
        "select worker, count(*) as n, sum(seconds) as busy from render_times where finished_at >= $1 group by worker",
        since,
    )
    return {row["worker"]: (int(row["n"]), float(row["busy"])) for row in rows}
