"""A user's credits: balance, what running jobs hold, prices, and the ledger behind them."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PoolDep, SettingsDep, UserDep
from api.errors import responses
from api.schemas import CreditsOut
from comfyloom.db import credits
from comfyloom.db.pool import Executor
from comfyloom.settings import Settings

router = APIRouter(prefix="/api/v1/credits", tags=["credits"], responses=responses(401, 422))


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
