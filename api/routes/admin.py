"""Operator endpoints, for admin keys only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BeforeValidator

from api import pages
from api.deps import AdminDep, CallerDep, PoolDep, SettingsDep, TemporalDep
from api.errors import ApiError, responses
from api.fleet import fleet_view
from api.retries import retry_failed
from api.routes.credits import change_credits, credits_out
from api.routes.jobs import summary
from api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    CreditGrant,
    CreditsOut,
    FailedJobListOut,
    FailedJobOut,
    FleetOut,
    JobAccepted,
    RetryAccepted,
)
from comfyloom.db import api_keys, jobs, webhooks
from comfyloom.temporal import TEMPORAL_AWAY

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=responses(401, 422))


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated, responses=responses(403))
async def create_api_key(body: ApiKeyCreate, pool: PoolDep, admin: AdminDep) -> ApiKeyCreated:
    """A key for a user, or a service key for an app (`tenant`); the response is the only time its secret is
    shown."""
    try:
        key, secret = await api_keys.create(
            pool,
            user_id=body.user_id,
            tenant=body.tenant,
            name=body.name,
            admin=body.admin,
            webhook_url=body.webhook_url,
        )
    except ValueError as e:
        raise ApiError(422, "validation_error", str(e), fields=["userId", "tenant"]) from e
    signing = await webhooks.secret_for(pool, key.id)
    assert signing is not None, "every new key gets a webhook secret"
    return ApiKeyCreated(
        **key.model_dump(include={"id", "user_id", "tenant", "name", "admin", "webhook_url"}),
        key=secret,
        webhook_secret=signing,
    )


@router.post("/credits", response_model=CreditsOut, responses=responses(402, 403))
async def grant_credits(body: CreditGrant, pool: PoolDep, settings: SettingsDep, admin: AdminDep) -> CreditsOut:
    """Add credits to a user (negative takes them away; 402 if that would go below zero)."""
    return await change_credits(pool, body.user_id, body, body.note or f"granted by {admin.user_id}", settings)


@router.get("/credits/{user_id}", response_model=CreditsOut, responses=responses(403))
async def user_credits(user_id: str, pool: PoolDep, settings: SettingsDep, admin: AdminDep) -> CreditsOut:
    """Any user's credits, as `GET /api/v1/credits` shows them to that user."""
    return await credits_out(pool, user_id, settings)


def _rfc3339_only(value: object) -> object:
    """A time as the spec says (`date-time`): not a number, which pydantic would read as seconds since 1970."""
    if not isinstance(value, str) or value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("a date-time like 2026-12-04T18:00:00Z")
    return value


@router.get("/jobs", response_model=FailedJobListOut, responses=responses(403))
async def failed_jobs(
    pool: PoolDep,
    settings: SettingsDep,
    admin: AdminDep,
    status: Annotated[Literal["failed"], Query(description="Failed jobs: the only ones listed here.")] = "failed",
    reason: Annotated[
        str | None,
        Query(max_length=100, pattern=r"^[A-Za-z_]+$", description="Only this failure (`ComfyExecutionFailed`, …)."),
    ] = None,
    since: Annotated[
        datetime | None,
        BeforeValidator(_rfc3339_only),
        Query(description="Only jobs asked for at or after this time (RFC 3339, e.g. 2026-12-04T18:00:00Z)."),
    ] = None,
    limit: pages.Limit = 20,
    cursor: pages.Cursor = None,
) -> FailedJobListOut:
    """Every user's failed jobs, newest first: the dead letters, each with why it failed and whether it was
    retried."""
    rows = await jobs.failed_jobs(pool, reason=reason, since=since, before=pages.decode(cursor), limit=limit + 1)
    items = [
        FailedJobOut(
            **summary(job, settings).model_dump(),
            user_id=job.user_id,
            reason=job.failure_reason,
            retry_of=job.retry_of,
            retried_as=job.retried_as,
        )
        for job in rows[:limit]
    ]
    return FailedJobListOut(items=items, next_cursor=pages.next_cursor(rows, limit))


@router.post(
    "/jobs/{job_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RetryAccepted | JobAccepted,
    responses=responses(402, 403, 404, 409, 429),
)
async def retry_job(job_id: str, caller: CallerDep, admin: AdminDep) -> JobAccepted:
    """Start a failed job again: the same request for the same user, its credits held again (402 if the user lacks
    them), linked to the failed one (`retryOf`, and the failed job's `retriedAs`); a second retry gets the same new
    job. A sticker set retries its failed stickers. A job that is not failed, was cancelled, was refused for its
    content, or is one sticker of a set is a 409 saying why."""
    return await retry_failed(job_id, operator=caller)


@router.get("/gpu-workers", response_model=FleetOut, responses=responses(403, 503))
async def gpu_workers(pool: PoolDep, temporal: TemporalDep, settings: SettingsDep, admin: AdminDep) -> FleetOut:
    """Each GPU worker: its ComfyUI (version, devices, node packs), which templates it can render and why not,
    its queue, renders and busy share in the last hour, when it was last seen, and what it has in ComfyUI now.
    The same as a page for people: `/api/v1/admin/fleet`."""
    try:
        return FleetOut(workers=await fleet_view(pool, temporal, settings))
    except TEMPORAL_AWAY as e:
        raise ApiError(503, "temporal_unavailable", f"Temporal did not answer; try again ({e})") from e
