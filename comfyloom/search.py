"""Custom search attributes: how an operator finds runs in the Web UI (`UserId = "u1" AND JobStatus = "failed"`).

Registered in the namespace by `comfyloom temporal-setup` (the dev stack and compose run it). A run
started while they are missing goes without them rather than failing: jobs matter more than the view.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

USER_ID = SearchAttributeKey.for_keyword("UserId")
CHARACTER_ID = SearchAttributeKey.for_keyword_list("CharacterId")
IMAGE_KIND = SearchAttributeKey.for_keyword("ImageKind")
JOB_STATUS = SearchAttributeKey.for_keyword("JobStatus")

ALL = (USER_ID, CHARACTER_ID, IMAGE_KIND, JOB_STATUS)


def for_job(user_id: str, kind: str, character_ids: Iterable[object] = ()) -> TypedSearchAttributes:
    """What a new run carries; `JobStatus` follows its stage from then on (workflows/progress.py)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(USER_ID, user_id),
        SearchAttributePair(IMAGE_KIND, kind),
        SearchAttributePair(JOB_STATUS, "queued"),
    ]
    characters = [str(c) for c in character_ids]
    if characters:
        pairs.append(SearchAttributePair(CHARACTER_ID, characters))
    return TypedSearchAttributes(pairs)
