"""Webhook secrets and the record of every delivery attempt."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from comfyloom.db.pool import Executor


class DeliveryAttempt(BaseModel):
    event_id: str
    url: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    created_at: datetime


async def tenant_of(conn: Executor, key_id: UUID) -> str:
    """Whose webhooks these are, for metrics: the key's tenant, or `user` for a user key (bounded: one label value
    per app, never per user)."""
    tenant = await conn.fetchval("select tenant from api_keys where id = $1", key_id)
    return str(tenant) if tenant else "user"


async def secret_for(conn: Executor, key_id: UUID) -> str | None:
    value = await conn.fetchval("select webhook_secret from api_keys where id = $1", key_id)
    return str(value) if value else None


async def set_secret(conn: Executor, key_id: UUID, secret: str) -> None:
    await conn.execute("update api_keys set webhook_secret = $2 where id = $1", key_id, secret)


async def set_default_url(conn: Executor, key_id: UUID, url: str | None) -> None:
    await conn.execute("update api_keys set webhook_url = $2 where id = $1", key_id, url)


async def record_attempt(
    conn: Executor,
    *,
    job_id: UUID,
    event_id: str,
    url: str,
    attempt: int,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    await conn.execute(
        "insert into webhook_deliveries (job_id, event_id, url, attempt, status_code, error, duration_ms)"
        " values ($1, $2, $3, $4, $5, $6, $7)",
        job_id,
        event_id,
        url,
        attempt,
        status_code,
        error,
        duration_ms,
    )


async def attempts(conn: Executor, job_id: UUID) -> list[DeliveryAttempt]:
    rows = await conn.fetch("select * from webhook_deliveries where job_id = $1 order by created_at, id", job_id)
    return [DeliveryAttempt.model_validate(dict(r)) for r in rows]
