"""Delivering a job's end to its webhook: signed, each attempt on record, retried by Temporal for hours."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from temporalio import activity

from comfyloom import webhooks
from comfyloom.contracts.webhooks import WebhookDelivery
from comfyloom.db import jobs
from comfyloom.db import webhooks as deliveries
from comfyloom.db.jobs import STICKER_SET, JobRow
from comfyloom.errors import ErrorType, failure
from comfyloom.settings import Settings

# A receiver that takes longer is treated as down: the attempt fails and is tried again later.
RECEIVER_TIMEOUT_SECONDS = 10.0


def final_status(job: JobRow, stickers: list[JobRow]) -> dict[str, Any]:
    """What the webhook says: the job as `GET /status/{jobId}` ends it (camelCase), a set with its stickers."""
    data: dict[str, Any] = {
        "jobId": str(job.id),
        "kind": job.kind,
        "status": job.status.value,
        "workflowId": job.workflow_id,
        "characterId": str(job.character_id) if job.character_id else None,
        "storyId": str(job.story_id) if job.story_id else None,
        "resultUrl": job.result_url,
        "error": job.error,
        "warnings": job.warnings,
        "createdAt": job.created_at.isoformat(),
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
    }
    if job.kind == STICKER_SET:
        data["stickers"] = [
            {
                "emotion": s.emotion,
                "jobId": str(s.id),
                "status": s.status.value,
                "resultUrl": s.result_url,
                "error": s.error,
            }
            for s in stickers
        ]
    return data


class WebhookActivities:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self._pool = pool
        self._settings = settings
        self._http = http or httpx.AsyncClient(timeout=RECEIVER_TIMEOUT_SECONDS, follow_redirects=False)

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, delivery: WebhookDelivery) -> int:
        """POST the job's final status to its webhook; the receiver's status code once it answers 2xx.

        Raises:
            ApplicationError: WebhookRefused (not retried) for a URL that resolves inwards or a key without a
                secret; WebhookFailed (retried with backoff) for any other answer, or none.
        """
        attempt = activity.info().attempt
        started = time.monotonic()
        tenant = await deliveries.tenant_of(self._pool, delivery.key_id)

        async def record(status_code: int | None, error: str | None, outcome: str = "failed") -> None:
            """The attempt, in the deliveries table its tenant reads and in the metric its operator watches."""
            attempts = activity.metric_meter().create_counter(
                "comfyloom_webhook_attempts", "Webhook delivery attempts, by the key's tenant and outcome"
            )
            attempts.add(1, {"tenant": tenant, "outcome": "delivered" if error is None else outcome})
            await deliveries.record_attempt(
                self._pool,
                job_id=delivery.job_id,
                event_id=delivery.event_id,
                url=delivery.url,
                attempt=attempt,
                status_code=status_code,
                error=error,
                duration_ms=int((time.monotonic() - started) * 1000),
            )

        if reason := await webhooks.refusal(delivery.url, self._settings.webhook_allowed_networks):
            await record(None, reason, "refused")
            raise failure(ErrorType.webhook_refused, f"the webhook was not sent: {reason}")
        secret = await deliveries.secret_for(self._pool, delivery.key_id)
        if secret is None:
            await record(None, "the key has no webhook secret", "refused")
            raise failure(ErrorType.webhook_refused, "the webhook was not sent: its key has no webhook secret")
        job = await jobs.get_job(self._pool, delivery.job_id)
        assert job is not None, "a webhook is sent for a job that exists"
        stickers = await jobs.set_children(self._pool, job.id) if job.kind == STICKER_SET else []
        now = datetime.now(UTC)
        payload = webhooks.body(f"job.{job.status.value}", now, final_status(job, stickers))
        headers = webhooks.signed_headers(secret, delivery.event_id, now, payload)
        try:
            response = await self._http.post(delivery.url, content=payload, headers=headers)
        except httpx.HTTPError as e:
            await record(None, f"{type(e).__name__}: {e}")
            raise failure(ErrorType.webhook_failed, f"the receiver did not answer: {type(e).__name__}") from e
        await record(response.status_code, None if response.is_success else response.text[:500])
        if not response.is_success:
            raise failure(ErrorType.webhook_failed, f"the receiver answered {response.status_code}")
        return response.status_code
