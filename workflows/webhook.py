"""WebhookWorkflow: tells a job's webhook how the job ended, for as long as the receiver takes to accept.

A workflow of its own, started by the job's workflow as it ends and left running when that closes: the job
is over for its user at once, while delivery retries with backoff for hours (workflows/policies.py).
"""

from __future__ import annotations

from uuid import UUID

from temporalio import workflow

from activities import steps
from workflows.runner import run_step

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts.webhooks import Webhook, WebhookDelivery
    from workflows.patches import ANNOUNCE_END


@workflow.defn
class WebhookWorkflow:
    @workflow.run
    async def run(self, delivery: WebhookDelivery) -> int:
        return await run_step(steps.deliver_webhook, delivery, summary=delivery.url)


async def announce_end(webhook: Webhook | None, job_id: UUID) -> None:
    """Start the delivery beside the ending job, if it asked for one, and go on: once per run (its ids are the
    run's), so a retried sticker set announces its second ending too."""
    if webhook is None:
        return
    workflow.deprecate_patch(ANNOUNCE_END.id)
    run_id = workflow.info().run_id
    delivery = WebhookDelivery(job_id=job_id, url=webhook.url, key_id=webhook.key_id, event_id=f"msg_{run_id}")
    await workflow.start_child_workflow(
        WebhookWorkflow.run,
        delivery,
        id=f"webhook-{run_id}",
        parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        static_summary=f"Webhook: {delivery.url}",
    )
