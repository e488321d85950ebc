"""Keyset pagination, one way for every listing: newest first, `cursor` is the last item's place."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Protocol
from uuid import UUID

from fastapi import Query

from api.errors import ApiError

Limit = Annotated[int, Query(ge=1, le=100, description="Items a page.")]
Cursor = Annotated[str | None, Query(max_length=200, description="`nextCursor` of the previous page.")]


class Keyed(Protocol):
    @property
    def id(self) -> UUID: ...

    @property
    def created_at(self) -> datetime: ...


def encode(row: Keyed) -> str:
    return base64.urlsafe_b64encode(f"{row.created_at.isoformat()}|{row.id}".encode()).decode()


def decode(cursor: str | None) -> tuple[datetime, UUID] | None:
    """Where the next page starts; a cursor this API did not give is a 422 naming `cursor`."""
    if cursor is None:
        return None
    try:
        created_at, ident = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created_at), UUID(ident)
    except ValueError as e:
        raise ApiError(422, "validation_error", "not a cursor this API gave", field="cursor") from e


def next_cursor(rows: Sequence[Keyed], limit: int) -> str | None:
    """Rows were fetched with `limit + 1`: one more than the page means there is a next page."""
    return encode(rows[limit - 1]) if len(rows) > limit else None
