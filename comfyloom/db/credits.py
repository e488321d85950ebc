"""Credits: balances that never go below zero, one hold per job, and a ledger of every movement.

A job's price is held when it is admitted (the balance goes down at once, so concurrent requests
cannot spend the same credits), charged in the same transaction that records its image, and
released in the same transaction that fails or cancels it. Every step is keyed by the job's
workflow id and is a no-op when repeated, so activity retries never move credits twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from comfyloom.db.pool import Connection, Executor


class InsufficientCredits(Exception):
    def __init__(self, balance: int, price: int) -> None:
        super().__init__(f"this costs {price} credits and the balance is {balance}")
        self.balance = balance
        self.price = price


class Balance(BaseModel):
    balance: int
    reserved: int


class LedgerEntry(BaseModel):
    amount: int
    balance_after: int
    entry: Literal["grant", "hold", "release"]
    workflow_id: str | None
    note: str
    created_at: datetime


async def _move(conn: Connection, user_id: str, amount: int, entry: str, workflow_id: str | None, note: str) -> int:
    """Add `amount` (negative: take) to a balance, in the caller's transaction; never below zero."""
    if amount >= 0:
        balance = await conn.fetchval(
            "insert into credit_accounts as a (user_id, balance) values ($1, $2) on conflict (user_id)"
            " do update set balance = a.balance + $2, updated_at = now() returning balance",
            user_id,
            amount,
        )
    else:  # the row lock of this update is what keeps concurrent takes from overdrawing
        balance = await conn.fetchval(
            "update credit_accounts set balance = balance + $2, updated_at = now()"
            " where user_id = $1 and balance + $2 >= 0 returning balance",
            user_id,
            amount,
        )
    if balance is None:
        current = await conn.fetchval("select balance from credit_accounts where user_id = $1", user_id) or 0
        raise InsufficientCredits(current, -amount)
    await conn.execute(
        "insert into credit_ledger (user_id, amount, balance_after, entry, workflow_id, note)"
        " values ($1, $2, $3, $4, $5, $6)",
        user_id,
        amount,
        balance,
        entry,
        workflow_id,
        note,
    )
    return int(balance)


async def grant(conn: Connection, user_id: str, amount: int, note: str = "") -> int:
    """An operator's grant (or, negative, a deduction that cannot overdraw); the new balance."""
    return await _move(conn, user_id, amount, "grant", None, note)


async def hold(conn: Connection, *, user_id: str, workflow_id: str, job_id: UUID, amount: int) -> bool:
    """Set a job's price aside; False if this workflow already has a hold (whatever became of it).

    Raises InsufficientCredits, and the caller's transaction rolls back, when the balance is short.
    """
    created = await conn.fetchval(
        "insert into credit_holds (workflow_id, job_id, user_id, amount) values ($1, $2, $3, $4)"
        " on conflict (workflow_id) do nothing returning true",
        workflow_id,
        job_id,
        user_id,
        amount,
    )
    if not created:
        return False
    if amount:
        await _move(conn, user_id, -amount, "hold", workflow_id, "")
    return True


async def charge(conn: Connection, workflow_id: str) -> int | None:
    """The job delivered: its hold becomes a charge (the balance already went down when it was held). The amount
    charged; None when there was no hold left to charge (charged already, by an earlier attempt)."""
    amount = await conn.fetchval(
        "update credit_holds set status = 'charged', settled_at = now() where workflow_id = $1 and status = 'held'"
        " returning amount",
        workflow_id,
    )
    return None if amount is None else int(amount)


async def release(conn: Connection, workflow_id: str, note: str) -> int:
    """The job failed or was cancelled: its hold goes back to the balance; the amount returned (0 if none)."""
    row = await conn.fetchrow(
        "update credit_holds set status = 'released', settled_at = now() where workflow_id = $1 and status = 'held'"
        " returning user_id, amount",
        workflow_id,
    )
    if row is None or not row["amount"]:
        return 0
    await _move(conn, row["user_id"], row["amount"], "release", workflow_id, note)
    return int(row["amount"])


async def balance(conn: Executor, user_id: str) -> Balance:
    row = await conn.fetchrow(
        "select coalesce((select balance from credit_accounts where user_id = $1), 0) as balance,"
        " coalesce((select sum(amount) from credit_holds where user_id = $1 and status = 'held'), 0) as reserved",
        user_id,
    )
    assert row is not None
    return Balance(balance=row["balance"], reserved=row["reserved"])


async def ledger(conn: Executor, user_id: str, *, limit: int = 50) -> list[LedgerEntry]:
    rows = await conn.fetch("select * from credit_ledger where user_id = $1 order by id desc limit $2", user_id, limit)
    return [LedgerEntry.model_validate(dict(r)) for r in rows]
