"""Generated images with their provenance, and the per-kind rows that find them: stickers, covers, scenes."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from comfyloom.contracts import FinishJob, ImageKind, Lora, PromptTags
from comfyloom.db.pool import Connection, Executor


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
    created_at: datetime


async def record(conn: Connection, finish: FinishJob) -> None:
    """The image, its kind's row, and what it replaces (a character's avatar, a story's cover); once per job.

    Avatars and stickers belong to their character; a cover to its story; a scene, which may show several
    characters, to neither (`chat_scenes` lists who is in it).
    """
    request, image, converted, prompt = finish.request, finish.image, finish.converted, finish.prompt
    owner = request.character_id if request.kind in (ImageKind.avatar, ImageKind.sticker) else None
    await conn.execute(
        "insert into images (id, user_id, character_id, story_id, job_id, kind, object_key, url, width, height,"
        " size_bytes, positive_prompt, negative_prompt, seed, template, template_sha256, checkpoint, source_text,"
        " tags, loras, translator)"
        " values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
        " on conflict (job_id) do nothing",
        uuid.uuid4(),
        request.user_id,
        owner,
        request.story_id if request.kind is ImageKind.cover else None,
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
    )
    match request.kind:
        case ImageKind.avatar:
            await conn.execute(
                "update characters set avatar_url = $2, updated_at = now() where id = $1",
                request.character_id,
                image.url,
            )
        case ImageKind.sticker if request.emotion is not None:
            await conn.execute(
                "insert into character_stickers (id, character_id, job_id, emotion, url, messenger_url)"
                " values ($1, $2, $3, $4, $5, $6) on conflict (job_id) do nothing",
                uuid.uuid4(),
                request.character_id,
                request.job_id,
                request.emotion.value,
                image.url,
                finish.messenger.url if finish.messenger else None,
            )
        case ImageKind.cover:
            await conn.execute(
                "insert into story_covers (id, story_id, job_id, url) values ($1, $2, $3, $4)"
                " on conflict (job_id) do nothing",
                uuid.uuid4(),
                request.story_id,
                request.job_id,
                image.url,
            )
            await conn.execute(
                "update stories set cover_url = $2, updated_at = now() where id = $1", request.story_id, image.url
            )
        case ImageKind.scene:
            await conn.execute(
                "insert into chat_scenes (id, user_id, job_id, chat_id, story_id, character_ids, url, width, height)"
                " values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (job_id) do nothing",
                uuid.uuid4(),
                request.user_id,
                request.job_id,
                request.chat_id,
                request.story_id,
                request.character_ids,
                image.url,
                converted.width,
                converted.height,
            )


async def of_character(conn: Executor, character_id: UUID) -> list[ImageRow]:
    rows = await conn.fetch("select * from images where character_id = $1 order by created_at desc", character_id)
    return [ImageRow.model_validate(dict(r)) for r in rows]


async def of_story(conn: Executor, story_id: UUID) -> list[ImageRow]:
    rows = await conn.fetch("select * from images where story_id = $1 order by created_at desc", story_id)
    return [ImageRow.model_validate(dict(r)) for r in rows]
