"""A user's credits: balance, what running jobs hold, prices, and the ledger behind them."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import KeyDep, PoolDep, SettingsDep, UserDep
from api.errors import ApiError, responses
from api.schemas import CreditChange, CreditsOut
from comfyloom.db import credits
from comfyloom.db.pool import Executor
from comfyloom.settings import Settings

router = APIRouter(prefix="/api/v1/credits", tags=["credits"], responses=responses(401, 403, 422))


async def credits_out(pool: Executor, user_id: str, settings: Settings) -> CreditsOut:
    account = await credits.balance(pool, user_id)
    return CreditsOut.model_validate(
        {
            "user_id": user_id,
            **account.model_dump(),
            "prices": settings.credit_prices.model_dump(),
            "ledger": [entry.model_dump() for entry in await credits.ledger(pool, user_id)],
        }
    )


@router.get("", response_model=CreditsOut)
async def my_credits(pool: PoolDep, settings: SettingsDep, user_id: UserDep) -> CreditsOut:
    """The caller's balance, the credits running jobs hold, the prices, and the latest ledger entries."""
    return await credits_out(pool, user_id, settings)


async def change_credits(
    pool: PoolDep, user_id: str, change: CreditChange, note: str, settings: Settings
) -> CreditsOut:
    """Add (or, negative, take) credits in one transaction; 402 naming `amount` if it would go below zero."""
    async with pool.acquire() as conn, conn.transaction():
        try:
            await credits.grant(conn, user_id, change.amount, note)
        except credits.InsufficientCredits as e:
            raise ApiError(
                402, "insufficient_credits", f"cannot take {-change.amount}: the balance is {e.balance}", field="amount"
            ) from e
        return await credits_out(conn, user_id, settings)


@router.post("/grants", response_model=CreditsOut, responses=responses(402, 403))
async def grant_app_user_credits(
    body: CreditChange, pool: PoolDep, settings: SettingsDep, key: KeyDep, user_id: UserDep
) -> CreditsOut:
    """A service key adds credits to the app user it acts for (X-On-Behalf-Of): what the app sold them.
    Negative takes them away, never below zero (402). A user key cannot grant itself credits (403)."""
    if key.tenant is None:
        raise ApiError(403, "forbidden", "only a service key grants credits to its app's users")
    return await change_credits(pool, user_id, body, body.note or f"granted by app {key.tenant}", settings)
