"""A job's webhook, and one delivery of it (workflow → the deliver_webhook activity)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel


class Webhook(BaseModel):
    """Where a job's end is told, and the key whose secret signs it (the secret itself never enters a history)."""

    url: str
    key_id: UUID


class WebhookDelivery(BaseModel):
    job_id: UUID
    url: str
    key_id: UUID
    # The Standard Webhooks `webhook-id`: one per job run's end, the same on every attempt.
    event_id: str
