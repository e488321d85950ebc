"""Pool creation and forward-only SQL migrations, safe to run from every process at once."""

from __future__ import annotations

import json
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

if TYPE_CHECKING:  # asyncpg's classes are generic only in its type stubs
    # A connection, in or out of a transaction (one the pool lent, or one opened alone).
    Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy[Any]
    # What a query can run on: a connection, or the pool (each query then on a connection of its own).
    Executor: TypeAlias = asyncpg.Pool | Connection
else:
    Connection = asyncpg.Connection | PoolConnectionProxy
    Executor = asyncpg.Pool | Connection

# Any constant works: it only has to be the same in every process that migrates.
_MIGRATION_LOCK = 0x636F6D66


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """A released connection goes back as it is. asyncpg still rolls back a transaction left open; its default
    reset would also run `RESET ALL`, `UNLISTEN *`, `CLOSE ALL` and `pg_advisory_unlock_all()`, a round trip on
    every release (8 % of the API's CPU under a burst), for session state this code never leaves behind: no
    SET, LISTEN or cursor outside a transaction, and the one session lock (migrations) is unlocked in place."""


async def connect(database_url: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, init=_init_connection, reset=_nothing_to_reset
    )
    assert pool is not None
    return pool


def _migration_files() -> list[tuple[str, str]]:
    folder = resources.files("comfyloom.db") / "migrations"
    files = sorted((f.name, f.read_text()) for f in folder.iterdir() if f.name.endswith(".sql"))
    return files


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply pending migrations; the advisory lock lets the API and workers start together."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("select pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "create table if not exists schema_migrations ("
                " name text primary key, applied_at timestamptz not null default now())"
            )
            done = {r["name"] for r in await conn.fetch("select name from schema_migrations")}
            for name, sql in _migration_files():
                if name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("insert into schema_migrations (name) values ($1)", name)
                applied.append(name)
        finally:
            await conn.execute("select pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied
