"""FastAPI dependencies: the process-wide resources the lifespan opened, the caller's API key, and the user
it acts for: a user key's own, or the app user a service key names in X-On-Behalf-Of."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.errors import ApiError
from api.launcher import Launcher
from comfyloom.db import api_keys, app_users
from comfyloom.db.job_notices import JobNotices
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore


# Every dependency is `async def`, even where nothing is awaited: FastAPI runs a plain `def` dependency in its
# thread pool, a hop per dependency per request that showed in a burst's profile.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def get_store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.store
    return store


async def get_notices(request: Request) -> JobNotices:
    notices: JobNotices = request.app.state.notices
    return notices


async def get_launcher(request: Request) -> Launcher:
    launcher: Launcher = request.app.state.launcher
    return launcher


# Shown in the OpenAPI docs as the scheme every endpoint but health and the docs requires.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key, `Authorization: Bearer cl_…`, created with `comfyloom keys create --user ID` (a user's)"
    " or `--tenant APP` (a service key, acting for the app's users named in `X-On-Behalf-Of`).",
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


async def stream_user(
    pool: Annotated[asyncpg.Pool, Depends(get_pool)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    access_token: Annotated[
        str | None, Query(description="The API key, for clients that cannot send headers (EventSource).")
    ] = None,
    on_behalf_of: OnBehalfOf = None,
    on_behalf_of_query: Annotated[
        str | None,
        Query(alias="on_behalf_of", pattern=app_users.APP_USER_ID.pattern, description="X-On-Behalf-Of, as a query."),
    ] = None,
) -> str:
    """The user of a stream request, whose key and app user may come as query parameters."""
    key = await authenticate(pool, credentials.credentials if credentials else access_token)
    return await acting_user(pool, key, on_behalf_of or on_behalf_of_query)


ON_BEHALF_OF = "X-On-Behalf-Of"
OnBehalfOf = Annotated[
    str | None,
    Header(
        alias=ON_BEHALF_OF,
        pattern=app_users.APP_USER_ID.pattern,
        description="A service key's app user this request acts for (your app's own user id; created on first"
        " use). A user key may not send it.",
    ),
]


async def acting_user(pool: asyncpg.Pool, key: api_keys.ApiKeyRow, on_behalf_of: str | None) -> str:
    """The user a request acts for: a user key's own, or the app user a service key names (recorded on first
    use). A service key reaches only its own tenant's users; a user key, only itself."""
    if key.tenant is None:
        if on_behalf_of is not None:
            raise ApiError(403, "forbidden", "only a service key may act for another user", field=ON_BEHALF_OF)
        assert key.user_id is not None
        return key.user_id
    if on_behalf_of is None:
        raise ApiError(
            422,
            "validation_error",
            f"a service key acts for one of its app's users: name them in {ON_BEHALF_OF}",
            field=ON_BEHALF_OF,
        )
    return await app_users.ensure(pool, key.tenant, on_behalf_of, key.id)


async def current_user_id(
    pool: Annotated[asyncpg.Pool, Depends(get_pool)],
    key: Annotated[api_keys.ApiKeyRow, Depends(current_key)],
    on_behalf_of: OnBehalfOf = None,
) -> str:
    return await acting_user(pool, key, on_behalf_of)


async def admin_key(key: Annotated[api_keys.ApiKeyRow, Depends(current_key)]) -> api_keys.ApiKeyRow:
    if not key.admin:
        raise ApiError(403, "forbidden", "this endpoint needs an operator's key (comfyloom keys create --admin)")
    return key


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
LauncherDep = Annotated[Launcher, Depends(get_launcher)]
NoticesDep = Annotated[JobNotices, Depends(get_notices)]
KeyDep = Annotated[api_keys.ApiKeyRow, Depends(current_key)]
UserDep = Annotated[str, Depends(current_user_id)]
AdminDep = Annotated[api_keys.ApiKeyRow, Depends(admin_key)]
StreamUserDep = Annotated[str, Depends(stream_user)]


@dataclass(frozen=True)
class Caller:
    """Who a request acts for, with what key, and the resources it may use: what every start of a job needs."""

    user_id: str
    key: api_keys.ApiKeyRow
    pool: asyncpg.Pool
    temporal: Client
    settings: Settings
    launcher: Launcher


async def current_caller(
    user_id: UserDep,
    key: KeyDep,
    pool: PoolDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    launcher: LauncherDep,
) -> Caller:
    return Caller(user_id=user_id, key=key, pool=pool, temporal=temporal, settings=settings, launcher=launcher)


CallerDep = Annotated[Caller, Depends(current_caller)]
