"""The `progress` query every workflow answers (the API's live stage and streams read it)."""

from __future__ import annotations

from pydantic import BaseModel

from comfyloom.contracts.domain import Stage


class Progress(BaseModel):
    stage: Stage
    result_url: str | None = None
    error: str | None = None
    # Every stage so far, in order, the current one last: a stream polling now and then misses none.
    passed: list[Stage] = []
