"""Starting a job's workflow so that no crash strands the job.

The API writes what starts the workflow (its type, argument, summary and search attributes) in the
transaction that admits the job (its row and credit hold), then starts the run and deletes that note.
A crash in between leaves the note: the same request sent again (its Idempotency-Key) starts the run,
and so does every CPU worker's sweep once the note is older than a grace period. Starting twice is
harmless: the workflow id is the job's, and a run that already started is left as it is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import Priority, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from comfyloom import search
from comfyloom.db.pool import Connection
from comfyloom.scheduling import Scheduling
from comfyloom.settings import CPU_TASK_QUEUE

log = logging.getLogger("comfyloom.start_outbox")

# How old a note must be before a sweep starts its run: longer than an API takes from commit to start.
SWEEP_GRACE = timedelta(seconds=30)
SWEEP_EVERY_SECONDS = 15.0


class PendingStart(BaseModel):
    workflow_id: str
    job_id: UUID
    workflow_type: str
    arg: dict[str, Any]
    summary: str
    user_id: str
    kind: str
    character_ids: list[str] = []
    new_run: bool = False
    # The job's own run, which carries its search attributes; False for a run beside it (a webhook delivery).
    job_run: bool = True
    # Its priority and fairness on the task queues (comfyloom/scheduling.py); None: Temporal's defaults.
    scheduling: Scheduling | None = None
    created_at: datetime | None = None


def pending(
    workflow_type: str,
    arg: BaseModel,
    *,
    workflow_id: str,
    job_id: UUID,
    summary: str,
    user_id: str,
    kind: str,
    character_ids: Iterable[object] = (),
    new_run: bool = False,
    job_run: bool = True,
    scheduling: Scheduling | None = None,
) -> PendingStart:
    """The note for starting a workflow of `workflow_type` (a `workflow.defn` class's name) with `arg`."""
    return PendingStart(
        workflow_id=workflow_id,
        job_id=job_id,
        workflow_type=workflow_type,
        arg=arg.model_dump(mode="json"),
        summary=summary,
        user_id=user_id,
        kind=kind,
        character_ids=[str(c) for c in character_ids],
        new_run=new_run,
        job_run=job_run,
        scheduling=scheduling,
    )


async def record(conn: Connection, start: PendingStart) -> None:
    """Write the note, inside the transaction that admits the job."""
    await conn.execute(
        "insert into workflow_starts (workflow_id, job_id, workflow_type, arg, summary, user_id, kind,"
        " character_ids, new_run, job_run, scheduling) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        " on conflict (workflow_id) do update set job_id = excluded.job_id, arg = excluded.arg,"
        " created_at = now()",
        start.workflow_id,
        start.job_id,
        start.workflow_type,
        start.arg,
        start.summary,
        start.user_id,
        start.kind,
        start.character_ids,
        start.new_run,
        start.job_run,
        start.scheduling.model_dump() if start.scheduling else None,
    )


async def launch(pool: asyncpg.Pool, temporal: Client, start: PendingStart) -> None:
    """Start the run the note describes, unless it has started already, then delete the note.

    Raises:
        RPCError: Temporal refused or did not answer; the note stays for the next try.
    """
    if not await _started(temporal, start):
        attributes = (
            search.for_job(start.user_id, start.kind, start.character_ids)
            if start.job_run
            else TypedSearchAttributes.empty
        )
        try:
            await _start(temporal, start, attributes)
        except RPCError as e:
            if e.status != RPCStatusCode.INVALID_ARGUMENT or "search attribute" not in e.message.lower():
                raise
            log.error("%s; starting %s without search attributes: run `comfyloom temporal-setup`", e, start.workflow_id)
            await _start(temporal, start, TypedSearchAttributes.empty)
    await forget(pool, start.workflow_id)


async def forget(pool: asyncpg.Pool | Connection, workflow_id: str) -> None:
    await pool.execute("delete from workflow_starts where workflow_id = $1", workflow_id)


async def _start(temporal: Client, start: PendingStart, attributes: TypedSearchAttributes) -> None:
    try:
        await temporal.start_workflow(
            start.workflow_type,
            start.arg,
            id=start.workflow_id,
            task_queue=CPU_TASK_QUEUE,
            static_summary=start.summary,
            search_attributes=attributes,
            # Inherited by its activities (the GPU step's task carries it) and a set's child stickers.
            priority=Priority(**start.scheduling.model_dump()) if start.scheduling else Priority.default,
            id_reuse_policy=(
                WorkflowIDReusePolicy.ALLOW_DUPLICATE if start.new_run else WorkflowIDReusePolicy.REJECT_DUPLICATE
            ),
        )
    except WorkflowAlreadyStartedError:
        log.info("workflow %s had started already", start.workflow_id)


async def _started(temporal: Client, start: PendingStart) -> bool:
    """Whether the run of a set's retry, started again from its note, exists already: one that began after the
    note was written (the set's earlier run is not it). Any other start needs no look: it is its id's only
    run, and Temporal refuses a second one (REJECT_DUPLICATE)."""
    if not start.new_run or start.created_at is None:
        return False
    try:
        described = await temporal.get_workflow_handle(start.workflow_id).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return described.start_time >= start.created_at or described.status == WorkflowExecutionStatus.RUNNING


async def pending_for(pool: asyncpg.Pool | Connection, workflow_id: str) -> PendingStart | None:
    row = await pool.fetchrow("select * from workflow_starts where workflow_id = $1", workflow_id)
    return PendingStart.model_validate(dict(row)) if row else None


async def sweep(pool: asyncpg.Pool, temporal: Client, *, grace: timedelta = SWEEP_GRACE) -> list[str]:
    """Start every run whose note is older than `grace`: jobs an API crash left between admission and start.
    The workflow ids started (or found started)."""
    rows = await pool.fetch(
        "select * from workflow_starts where created_at < now() - $1::interval order by created_at limit 100", grace
    )
    done = []
    for row in rows:
        start = PendingStart.model_validate(dict(row))
        try:
            await launch(pool, temporal, start)
        except RPCError as e:
            log.warning("could not start stranded job %s yet: %s", start.workflow_id, e)
            continue
        log.warning("started job %s, which an API left admitted but not started", start.workflow_id)
        done.append(start.workflow_id)
    return done


async def sweep_forever(pool: asyncpg.Pool, temporal: Client, *, every: float = SWEEP_EVERY_SECONDS) -> None:
    while True:
        try:
            await sweep(pool, temporal)
        except Exception as e:  # the database or Temporal away: the next round tries again
            log.warning("sweep for stranded jobs failed: %r", e)
        await asyncio.sleep(every)
