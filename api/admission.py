"""Admitting a request that starts jobs: replay, rate limits, credits, then its rows, in one transaction.

A per-user advisory lock serialises a user's admissions across API replicas. Under it, a repeated
request finds the job it already started, the per-minute and concurrent-job limits count what was
really admitted, and the balance read is the balance the holds take from: many simultaneous
requests can neither start a job twice nor overdraw credits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Header
from pydantic import BaseModel

from api.errors import ApiError
from comfyloom.db import credits, jobs, limits
from comfyloom.db.pool import Connection
from comfyloom.settings import Settings

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Send the same key again (a retry after a timeout) to get the same job back, not a second one.",
    ),
]
# Retry-After for the concurrent-jobs limit: a guess at when one of the user's jobs will have ended.
CONCURRENCY_RETRY_SECONDS = 5


@dataclass(frozen=True)
class Ticket:
    """What one request asks to be admitted: who, at what price, and what identifies a repeat of it."""

    user_id: str
    price: int
    # None: never a repeat (a set's retry).
    request_hash: str | None
    idempotency_key: str | None = None


def fingerprint(route: str, body: BaseModel) -> str:
    """The same route with the same body is the same request."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{route}\n{canonical}".encode()).hexdigest()


@dataclass
class Admitted:
    conn: Connection
    # The job an earlier, identical request started: answer with it and write nothing.
    replay: jobs.JobRow | None


def insufficient(balance: int, price: int) -> ApiError:
    return ApiError(
        402,
        "insufficient_credits",
        f"this costs {price} credits and the balance is {balance}",
        extra={"balance": balance, "price": price},
    )


def key_reused() -> ApiError:
    return ApiError(
        422, "idempotency_key_reused", "this Idempotency-Key was used for a different request", field="Idempotency-Key"
    )


def _limited(type: str, message: str, retry_after: int) -> ApiError:
    return ApiError(429, type, message, headers={"Retry-After": str(retry_after)}, extra={"retryAfter": retry_after})


async def _check_limits(conn: Connection, user_id: str, settings: Settings) -> None:
    per_minute = settings.rate_limit_per_minute
    if per_minute:
        count, retry_after = await limits.count_request(conn, user_id)
        if count > per_minute:
            message = f"at most {per_minute} new jobs a minute; try again in {retry_after} s"
            raise _limited("rate_limited", message, retry_after)
    most = settings.max_concurrent_jobs
    if most and await limits.active_jobs(conn, user_id) >= most:
        message = f"at most {most} jobs at a time; wait for one to finish"
        raise _limited("too_many_jobs", message, CONCURRENCY_RETRY_SECONDS)


@asynccontextmanager
async def admission(pool: asyncpg.Pool, ticket: Ticket, settings: Settings) -> AsyncIterator[Admitted]:
    """The transaction that admits `ticket`; the caller writes its job rows and holds on `conn` unless `replay`."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(hashtext($1))", f"admission:{ticket.user_id}")
        replay = await jobs.find_replay(
            conn,
            ticket.user_id,
            idempotency_key=ticket.idempotency_key,
            request_hash=ticket.request_hash,
            window_seconds=settings.idempotency_window_seconds,
        )
        if replay is not None:
            if replay.request_hash != ticket.request_hash:
                raise key_reused()
            yield Admitted(conn, replay)
            return
        await _check_limits(conn, ticket.user_id, settings)
        account = await credits.balance(conn, ticket.user_id)
        if account.balance < ticket.price:
            raise insufficient(account.balance, ticket.price)
        try:
            yield Admitted(conn, None)
        except credits.InsufficientCredits as e:  # a balance moved under us after all: still a clean 402
            raise insufficient(account.balance, ticket.price) from e
