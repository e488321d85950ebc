"""How long a job waiting for a GPU will wait: its place (`ahead`) and when it should start and be ready, from
the renders before it and the recent median render time of each kind (kept by the CPU worker as renders
finish), over the GPU workers taking this template now. No GPU polling: it says so, and invents no time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from comfyloom.contracts.domain import ImageKind
from comfyloom.contracts.health import QueueEstimate
from comfyloom.db import jobs, render_times
from comfyloom.db.jobs import JobRow
from comfyloom.db.pool import Executor
from comfyloom.gpu_fleet import GpuFleet, takers
from comfyloom.kinds import KINDS
from comfyloom.scheduling import held_ahead
from comfyloom.settings import Settings

NO_GPU = "no GPU is taking jobs: the GPU machine is off, asleep, or its worker is not running"


async def estimate(pool: Executor, fleet: GpuFleet, settings: Settings, job: JobRow) -> QueueEstimate:
    """Raises:
    asyncpg.PostgresError: the database did not answer (the caller goes on without an estimate).
    """
    kind = ImageKind(job.kind)
    gpus = takers(KINDS[kind].template(settings), fleet)
    ahead = await jobs.kinds_ahead_of(pool, job, in_hand=held_ahead(job.priority_key) * gpus)
    if gpus == 0:
        return QueueEstimate(ahead=len(ahead), gpus=0, note=NO_GPU)
    medians = await render_times.medians(pool)
    if kind.value not in medians:
        return QueueEstimate(
            ahead=len(ahead), gpus=gpus, note=f"{len(ahead)} ahead; no {kind.value} render measured yet"
        )
    known = [seconds for seconds, _ in medians.values()]
    typical = sorted(known)[len(known) // 2]
    work = sum(medians.get(other, (typical, 0))[0] for other in ahead)
    # The first renders ahead are under way on the GPUs already: half of each is left, on average.
    work -= sum(medians.get(other, (typical, 0))[0] / 2 for other in ahead[:gpus])
    start = datetime.now(UTC) + timedelta(seconds=max(0.0, work) / gpus)
    own, measured = medians[kind.value]
    return QueueEstimate(
        ahead=len(ahead),
        gpus=gpus,
        estimated_start_at=start,
        estimated_ready_at=start + timedelta(seconds=own),
        note=f"{len(ahead)} ahead on {gpus} GPU(s); {'an' if kind.value[0] in 'aeiou' else 'a'} {kind.value} takes"
        f" about {own:.0f} s (median of the last {measured})",
    )
