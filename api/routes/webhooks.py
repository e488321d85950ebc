"""A key's webhooks: its signing secret, and every attempt to deliver a job's end."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import KeyDep, PoolDep, UserDep
from api.errors import responses
from api.owned import own_job
from api.schemas import WebhookAttemptOut, WebhookSecretOut
from comfyloom import webhooks
from comfyloom.db import webhooks as deliveries

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], responses=responses(401, 403, 422))


@router.post("/secret", response_model=WebhookSecretOut)
async def rotate_secret(pool: PoolDep, key: KeyDep) -> WebhookSecretOut:
    """A new signing secret for the calling key's webhooks, shown only now; deliveries from now on use it."""
    secret = webhooks.new_secret()
    await deliveries.set_secret(pool, key.id, secret)
    return WebhookSecretOut(webhook_secret=secret)


@router.get("/deliveries/{job_id}", response_model=list[WebhookAttemptOut], responses=responses(404))
async def job_deliveries(job_id: str, pool: PoolDep, user_id: UserDep) -> list[WebhookAttemptOut]:
    """Every attempt to tell a job's webhook how it ended, oldest first: what the receiver answered, or why
    nothing was sent. Attempts go on with backoff for a day until the receiver answers 2xx."""
    job = await own_job(pool, job_id, user_id)
    return [WebhookAttemptOut.model_validate(a.model_dump()) for a in await deliveries.attempts(pool, job.id)]
