"""API keys: a random secret per key, stored as its SHA-256. A user key acts as its one user (some are
operators'); a service key belongs to a tenant (an app's backend) and acts for any of that app's users."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from comfyloom import webhooks
from comfyloom.db.app_users import TENANT
from comfyloom.db.pool import Executor

KEY_PREFIX = "cl_"
# User ids become object-key segments (characters/{userId}/…), so they are kept to a safe alphabet.
USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ApiKeyRow(BaseModel):
    id: UUID
    # One of the two: the user a user key acts as, or the tenant whose users a service key acts for.
    user_id: str | None
    tenant: str | None = None
    name: str
    prefix: str
    admin: bool
    # Where this key's jobs report when a request names no webhook (its secret is read only to sign).
    webhook_url: str | None = None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    """A plain SHA-256 suffices: keys are 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create(
    conn: Executor,
    *,
    user_id: str | None = None,
    tenant: str | None = None,
    name: str = "",
    admin: bool = False,
    secret: str | None = None,
    webhook_url: str | None = None,
) -> tuple[ApiKeyRow, str]:
    """A new key for `user_id`, or a service key for `tenant`: its row, and the secret, which is never stored
    and cannot be shown again.

    Raises:
        ValueError: neither or both of user_id and tenant, one not in its alphabet, or an admin service key.
    """
    if (user_id is None) == (tenant is None):
        raise ValueError("a key is for a user or, a service key, for a tenant: give one of the two")
    if user_id is not None and not USER_ID.fullmatch(user_id):
        raise ValueError(f"user id {user_id!r} must be 1-64 letters, digits, '_' or '-'")
    if tenant is not None and not TENANT.fullmatch(tenant):
        raise ValueError(f"tenant {tenant!r} must be 1-32 letters, digits, '_' or '-'")
    if tenant is not None and admin:
        raise ValueError("a service key acts for its tenant's users; an operator's key is a user key")
    secret = secret or new_secret()
    row = await conn.fetchrow(
        "insert into api_keys (id, user_id, tenant, name, prefix, key_hash, admin, webhook_url, webhook_secret)"
        " values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning *",
        uuid.uuid4(),
        user_id,
        tenant,
        name,
        secret[:10],
        hash_key(secret),
        admin,
        webhook_url,
        webhooks.new_secret(),
    )
    assert row is not None
    return ApiKeyRow.model_validate(dict(row)), secret


async def authenticate(conn: Executor, secret: str) -> ApiKeyRow | None:
    """The live key with this secret, or None; last use is recorded at most once a minute per key."""
    row = await conn.fetchrow("select * from api_keys where key_hash = $1 and revoked_at is null", hash_key(secret))
    if row is None:
        return None
    key = ApiKeyRow.model_validate(dict(row))
    if key.last_used_at is None or (datetime.now(key.created_at.tzinfo) - key.last_used_at).total_seconds() > 60:
        await conn.execute("update api_keys set last_used_at = now() where id = $1", key.id)
    return key


async def get_key(conn: Executor, key_id: UUID) -> ApiKeyRow | None:
    row = await conn.fetchrow("select * from api_keys where id = $1", key_id)
    return ApiKeyRow.model_validate(dict(row)) if row else None


async def list_keys(conn: Executor, *, user_id: str | None = None) -> list[ApiKeyRow]:
    rows = await conn.fetch(
        "select * from api_keys where ($1::text is null or user_id = $1) order by created_at", user_id
    )
    return [ApiKeyRow.model_validate(dict(r)) for r in rows]


async def revoke(conn: Executor, key_id: UUID) -> bool:
    """True if a live key was revoked; a revoked key stops working on its next request."""
    done = await conn.execute("update api_keys set revoked_at = now() where id = $1 and revoked_at is null", key_id)
    return bool(done.endswith(" 1"))
