"""FastAPI dependencies: the process-wide resources the lifespan opened, and the caller's API key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import asyncpg
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.errors import ApiError
from comfyloom.db import api_keys
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def get_store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.store
    return store


# Shown in the OpenAPI docs as the scheme every endpoint but health and the docs requires.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key, `Authorization: Bearer cl_…`, created with `comfyloom keys create --user ID`.",
)
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def authenticate(pool: asyncpg.Pool, secret: str | None) -> api_keys.ApiKeyRow:
    """The caller's key, for HTTP and WebSocket alike; 401 without a live one."""
    if not secret:
        raise ApiError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>", headers=UNAUTHORIZED)
    key = await api_keys.authenticate(pool, secret)
    if key is None:
        raise ApiError(401, "unauthorized", "this API key is unknown or revoked", headers=UNAUTHORIZED)
    return key


async def current_key(
    pool: Annotated[asyncpg.Pool, Depends(get_pool)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> api_keys.ApiKeyRow:
    return await authenticate(pool, credentials.credentials if credentials else None)


def bearer_or_token(authorization: str | None, query: Mapping[str, str]) -> str | None:
    """The key of a stream request: the header, or `access_token` for clients that cannot send headers."""
    scheme, _, secret = (authorization or "").partition(" ")
    return secret if scheme.lower() == "bearer" and secret else query.get("access_token")


async def stream_key(
    pool: Annotated[asyncpg.Pool, Depends(get_pool)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    access_token: Annotated[
        str | None, Query(description="The API key, for clients that cannot send headers (EventSource).")
    ] = None,
) -> api_keys.ApiKeyRow:
    return await authenticate(pool, credentials.credentials if credentials else access_token)


def current_user_id(key: Annotated[api_keys.ApiKeyRow, Depends(current_key)]) -> str:
    return key.user_id


def admin_key(key: Annotated[api_keys.ApiKeyRow, Depends(current_key)]) -> api_keys.ApiKeyRow:
    if not key.admin:
        raise ApiError(403, "forbidden", "this endpoint needs an operator's key (comfyloom keys create --admin)")
    return key


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
UserDep = Annotated[str, Depends(current_user_id)]
AdminDep = Annotated[api_keys.ApiKeyRow, Depends(admin_key)]
StreamKeyDep = Annotated[api_keys.ApiKeyRow, Depends(stream_key)]
