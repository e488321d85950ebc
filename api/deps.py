"""FastAPI dependencies: the process-wide resources the lifespan opened, and the caller's identity."""

from __future__ import annotations

from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Request
from temporalio.client import Client

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


def current_user_id(
    settings: Annotated[Settings, Depends(get_settings)],
    x_user_id: Annotated[
        str | None,
        Header(
            pattern=r"^[A-Za-z0-9_-]{1,64}$",
            description="The calling user (goes into object keys). A stand-in until API keys.",
        ),
    ] = None,
) -> str:
    return x_user_id or settings.default_user_id


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
UserDep = Annotated[str, Depends(current_user_id)]
