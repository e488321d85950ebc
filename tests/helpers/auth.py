"""API keys for test users: `as_user("user-2")` is the header of a real key, stored on first use."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

import asyncpg
import httpx

from comfyloom.db import api_keys, credits

# Enough that only the credit tests, with users of their own, ever run short.
TEST_USER_CREDITS = 1_000_000
# secret -> (user, admin): every key a test has asked for; the API client's hook stores them.
_KEYS: dict[str, tuple[str, bool]] = {}


def as_user(user: str, *, admin: bool = False) -> dict[str, str]:
    """The Authorization header of `user`'s test key (the same key every time)."""
    secret = "cl_test_" + hashlib.sha256(f"{user}:{admin}".encode()).hexdigest()[:32]
    _KEYS[secret] = (user, admin)
    return {"Authorization": f"Bearer {secret}"}


def store_keys_hook(pool: asyncpg.Pool) -> Callable[[httpx.Request], Awaitable[None]]:
    """An httpx request hook that stores a test key in the database before its first request."""
    stored: set[str] = set()

    async def hook(request: httpx.Request) -> None:
        secret = request.headers.get("authorization", "").removeprefix("Bearer ")
        if secret in _KEYS and secret not in stored:
            user, admin = _KEYS[secret]
            if not await pool.fetchval("select 1 from api_keys where key_hash = $1", api_keys.hash_key(secret)):
                await api_keys.create(pool, user_id=user, admin=admin, name="test", secret=secret)
                async with pool.acquire() as conn:
                    await credits.grant(conn, user, TEST_USER_CREDITS, "test user")
            stored.add(secret)

    return hook
