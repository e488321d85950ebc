"""Keyset pagination, one way for every listing: newest first, `cursor` is the last item's place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol
from uuid import UUID

from fastapi import Query

# The last item's place: its creation time in microseconds since 1970 and its id, `<micros>_<id hex>`. Any
# string of this form is a place (a page starts after it), so the pattern is the whole rule.
CURSOR = r"^[0-9]{1,16}_[0-9a-f]{32}$"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)

Limit = Annotated[int, Query(ge=1, le=100, description="Items a page.")]
Cursor = Annotated[str | None, Query(pattern=CURSOR, description="`nextCursor` of the previous page.")]


class Keyed(Protocol):
    @property
    def id(self) -> UUID: ...

    @property
    def created_at(self) -> datetime: ...


def encode(row: Keyed) -> str:
    return f"{(row.created_at - EPOCH) // MICROSECOND}_{row.id.hex}"


def decode(cursor: str | None) -> tuple[datetime, UUID] | None:
    """Where the next page starts; the query's pattern has refused anything else (a 422 naming `cursor`)."""
    if cursor is None:
        return None
    micros, ident = cursor.split("_")
    return EPOCH + int(micros) * MICROSECOND, UUID(hex=ident)


def next_cursor(rows: Sequence[Keyed], limit: int) -> str | None:
    """Rows were fetched with `limit + 1`: one more than the page means there is a next page."""
    return encode(rows[limit - 1]) if len(rows) > limit else None
