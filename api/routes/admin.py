"""Operator endpoints, for admin keys only."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import AdminDep, PoolDep, SettingsDep
from api.errors import ApiError, responses
from api.routes.credits import change_credits, credits_out
from api.schemas import ApiKeyCreate, ApiKeyCreated, CreditGrant, CreditsOut
from comfyloom.db import api_keys, webhooks

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
