"""Generated images with their provenance, and the per-kind rows that find them: stickers, covers, scenes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from comfyloom.contracts.domain import Lora
from comfyloom.contracts.images import Moderation
from comfyloom.contracts.jobs import FinishJob
from comfyloom.contracts.prompt import PromptTags
from comfyloom.db.pool import Connection, Executor

# Who an image belongs to; one SQL statement with its arguments.
Owner = Literal["character", "story", "user"]
Statement = tuple[str, tuple[Any, ...]]


class ImageRow(BaseModel):
    id: UUID
    user_id: str
    character_id: UUID | None
    story_id: UUID | None
    job_id: UUID
    kind: str
    object_key: str
    url: str
    width: int
    height: int
    size_bytes: int
    positive_prompt: str
    negative_prompt: str
    seed: int
    template: str
    template_sha256: str
    checkpoint: str
    source_text: str
    tags: PromptTags
    loras: list[Lora]
    translator: str | None
    moderation: Moderation | None = None
    created_at: datetime


async def record(conn: Connection, finish: FinishJob, owner: Owner, rows: list[Statement]) -> None:
    """The image, its kind's row, and what it replaces (a character's avatar, a story's cover); once per job.

    Who owns the image and which rows find it (`rows`) are the kind's, from its spec in `comfyloom.kinds`:
    avatars and stickers belong to their character, a cover to its story, a scene to neither.
    """
    request, image, converted, prompt = finish.request, finish.image, finish.converted, finish.prompt
    await conn.execute(
        "insert into images (id, user_id, character_id, story_id, job_id, kind, object_key, url, width, height,"
        " size_bytes, positive_prompt, negative_prompt, seed, template, template_sha256, checkpoint, source_text,"
        " tags, loras, translator, moderation)"
        " values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
        " on conflict (job_id) do nothing",
        uuid.uuid4(),
        request.user_id,
        request.character_id if owner == "character" else None,
        request.story_id if owner == "story" else None,
        request.job_id,
        request.kind.value,
        image.key,
        image.url,
        converted.width,
        converted.height,
        converted.size_bytes,
        prompt.positive,
        prompt.negative,
        finish.seed,
        request.template,
        finish.template_sha256,
        finish.checkpoint,
        prompt.source_text,
        prompt.tags.model_dump(mode="json"),
        [lora.model_dump(mode="json") for lora in prompt.loras],
        prompt.translator,
        finish.moderation.model_dump(mode="json") if finish.moderation else None,
    )
    for sql, args in rows:
        await conn.execute(sql, *args)


async def of_character(conn: Executor, character_id: UUID) -> list[ImageRow]:
    rows = await conn.fetch("select * from images where character_id = $1 order by created_at desc", character_id)
    return [ImageRow.model_validate(dict(r)) for r in rows]


async def of_story(conn: Executor, story_id: UUID) -> list[ImageRow]:
    rows = await conn.fetch("select * from images where story_id = $1 order by created_at desc", story_id)
    return [ImageRow.model_validate(dict(r)) for r in rows]
