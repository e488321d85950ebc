"""Cancelling a job that has no run yet: its API died, or Temporal was away, between admission and start.

The job's rows are closed and its credits come back here, and the note that would start its run is dropped. A
job that named a webhook is told it was cancelled, as a run that ends tells it: by a `WebhookWorkflow`, started
from a note of its own written in the same transaction, as every note is (api/launcher.py, then the sweep).
"""

from __future__ import annotations

import asyncpg

from api.launcher import Launcher
from comfyloom import start_outbox
from comfyloom.contracts.webhooks import Webhook, WebhookDelivery
from comfyloom.db import credits, jobs
from workflows.webhook import WebhookWorkflow


async def cancel_unstarted(pool: asyncpg.Pool, launcher: Launcher, job: jobs.JobRow) -> None:
    """Close a job (a set with its stickers, whose holds are theirs) whose run does not exist. A start already
    on its way finds the job ended (`open_job`) and renders nothing."""
    async with pool.acquire() as conn, conn.transaction():
        note = await start_outbox.pending_for(conn, job.workflow_id)
        stickers = await jobs.set_children(conn, job.id) if job.kind == jobs.STICKER_SET else []
        for row in (job, *stickers):
            await jobs.mark_failed(conn, row.id, "cancelled", cancelled=True)
            await credits.release(conn, row.workflow_id, "cancelled")
        await start_outbox.forget(conn, job.workflow_id)
        announce = _announcement(job, note)
        if announce is not None:
            await start_outbox.record(conn, announce)
    if announce is not None:
        launcher.start(announce)


def _announcement(job: jobs.JobRow, note: start_outbox.PendingStart | None) -> start_outbox.PendingStart | None:
    """The note that starts the delivery of the job's end, if its request named a webhook (or its key did)."""
    hook = note.arg.get("webhook") if note else None
    if hook is None:
        return None
    webhook = Webhook.model_validate(hook)
    delivery = WebhookDelivery(job_id=job.id, url=webhook.url, key_id=webhook.key_id, event_id=f"msg_cancel_{job.id}")
    return start_outbox.pending(
        WebhookWorkflow.__name__,
        delivery,
        workflow_id=f"webhook-cancel-{job.id}",
        job_id=job.id,
        summary=f"Webhook: {webhook.url}",
        user_id=job.user_id,
        kind=job.kind,
        job_run=False,
    )
