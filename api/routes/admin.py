"""Operator endpoints, for admin keys only."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import AdminDep, PoolDep
from api.errors import ApiError
from api.schemas import ApiKeyCreate, ApiKeyCreated
from comfyloom.db import api_keys

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(body: ApiKeyCreate, pool: PoolDep, admin: AdminDep) -> ApiKeyCreated:
    """A key for a user; the response is the only time its secret is shown."""
    try:
        key, secret = await api_keys.create(pool, user_id=body.user_id, name=body.name, admin=body.admin)
    except ValueError as e:
        raise ApiError(422, "validation_error", str(e), field="userId") from e
    return ApiKeyCreated(id=key.id, user_id=key.user_id, name=key.name, admin=key.admin, key=secret)
