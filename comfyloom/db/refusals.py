"""Content refusals on record: who asked for what, which fields, at which stage. Never charged."""

from __future__ import annotations

import uuid
from typing import Literal, Protocol
from uuid import UUID

from comfyloom.db.pool import Executor


class Refusal(Protocol):
    """What a screening refused and why (`comfyloom.prompts.safety.Refusal` is one)."""

    @property
    def reason(self) -> str: ...
    @property
    def fields(self) -> list[str]: ...
    @property
    def matched(self) -> list[str]: ...


async def record(
    conn: Executor,
    refusal: Refusal,
    *,
    user_id: str,
    kind: str,
    stage: Literal["request", "prompt", "output"],
    job_id: UUID | None = None,
    model: str | None = None,
    score: float | None = None,
) -> None:
    """`output` refusals (what the GPU drew, with the classifier's `model` and `score`) are kept once per job."""
    await conn.execute(
        "insert into content_refusals (id, user_id, job_id, kind, stage, reason, fields, matched, model, score)"
        " values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " on conflict (job_id) where stage = 'output' do nothing",
        uuid.uuid4(),
        user_id,
        job_id,
        kind,
        stage,
        refusal.reason,
        refusal.fields,
        refusal.matched,
        model,
        score,
    )
