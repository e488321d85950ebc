"""Gemini answers cached by a hash of their question: the same character never costs a second call."""

from __future__ import annotations

from typing import Any

from comfyloom.db.pool import Executor


async def get(conn: Executor, key: str) -> dict[str, Any] | None:
    result: dict[str, Any] | None = await conn.fetchval(
        "update prompt_translations set hits = hits + 1, last_used_at = now() where cache_key = $1 returning result",
        key,
    )
    return result


async def put(conn: Executor, key: str, *, task: str, model: str, result: dict[str, Any]) -> None:
    await conn.execute(
        "insert into prompt_translations (cache_key, task, model, result) values ($1, $2, $3, $4)"
        " on conflict (cache_key) do update set result = excluded.result, last_used_at = now()",
        key,
        task,
        model,
        result,
    )
