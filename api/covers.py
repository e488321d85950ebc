"""Covers: of a stored story, or of one described in the request (saved as a story first)."""

from __future__ import annotations

import uuid

from pydantic.alias_generators import to_camel

from api.admission import fingerprint, insufficient
from api.deps import Caller
from api.errors import ApiError
from api.generation import (
    STORED_STORY_FIELDS,
    as_loras,
    cast_field_names,
    new_request,
    refuse_if_unsafe,
    replayed,
    start_generation,
)
from api.owned import own_cast, own_story
from api.schemas import CoverCreate, CoverOptions, JobAccepted
from comfyloom.contracts.domain import ImageKind, StoryBrief
from comfyloom.contracts.prompt import PromptRequest
from comfyloom.db import credits, jobs, stories


async def start_cover_request(
    body: CoverCreate,
    *,
    caller: Caller,
    idempotency_key: str | None,
) -> JobAccepted:
    """A cover of a stored story (`storyId`), or of one described in the request, saved as a story first."""
    described = [name for name in ("title", "genre", "synopsis", "character_ids") if getattr(body, name) is not None]
    if body.story_id is not None:
        if described:
            fields = [to_camel(name) for name in described]
            raise ApiError(
                422, "invalid_request", "give storyId or describe the story (title, …), not both", fields=fields
            )
        story = await own_story(caller.pool, body.story_id, caller.user_id)
        story_fields = STORED_STORY_FIELDS
    else:
        if body.title is None:
            raise ApiError(422, "invalid_request", "a cover needs a storyId, or a story's title", field="title")
        brief = StoryBrief(title=body.title, genre=body.genre, synopsis=body.synopsis)
        cast = await own_cast(caller.pool, body.character_ids or [], caller.user_id)
        prompt = PromptRequest(
            job_id=uuid.uuid4(),
            user_id=caller.user_id,
            kind=ImageKind.cover,
            character_ids=[c.id for c in cast],
            story=brief,
        )
        story_fields = {"story.title": "title", "story.synopsis": "synopsis"}
        # Checked before the story is saved, so neither a repeat nor a 402 leaves a story behind
        # (admission checks both again, atomically).
        repeat = await jobs.find_replay(
            caller.pool,
            caller.user_id,
            idempotency_key=idempotency_key,
            request_hash=fingerprint(ImageKind.cover.value, body),
            window_seconds=caller.settings.idempotency_window_seconds,
        )
        if repeat is not None:
            return await replayed(repeat, caller)
        price = caller.settings.credit_prices.cover
        account = await credits.balance(caller.pool, caller.user_id)
        if account.balance < price:
            raise insufficient(account.balance, price)
        await refuse_if_unsafe(
            prompt,
            cast,
            kind=ImageKind.cover.value,
            caller=caller,
            field_names={**story_fields, **cast_field_names(cast)},
        )
        story = await stories.create_story(
            caller.pool, user_id=caller.user_id, brief=brief, character_ids=[c.id for c in cast]
        )
    return await start_cover(
        story,
        body,
        caller=caller,
        story_fields=story_fields,
        idempotency_key=idempotency_key,
    )


async def start_cover(
    story: stories.StoryRow,
    options: CoverOptions,
    *,
    caller: Caller,
    story_fields: dict[str, str],
    idempotency_key: str | None,
) -> JobAccepted:
    """A cover of a stored story, showing its characters; `story_fields` names where refused words came from
    (`title`, … when the request described the story; `storyId` when it named a stored one)."""
    cast = await own_cast(caller.pool, story.character_ids, caller.user_id)
    request = new_request(
        ImageKind.cover,
        caller,
        character_ids=[c.id for c in cast],
        story=story.brief,
        story_id=story.id,
        seed=options.seed,
        loras=as_loras(options.loras),
    )
    return await start_generation(
        request,
        cast=cast,
        body=options,
        caller=caller,
        summary=f"Cover of {story.title}",
        field_names={**story_fields, **cast_field_names(cast)},
        idempotency_key=idempotency_key,
    )
