"""The rows beyond `images` that find a ready image, per kind: a character's avatar, a sticker, a story's cover,
a chat scene. Written in the job's own transaction by finish_job (comfyloom/db/images.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from comfyloom.contracts.domain import ImageKind
from comfyloom.contracts.jobs import FinishJob
from comfyloom.db.images import Statement


def _avatar(finish: FinishJob) -> list[Statement]:
    sql = "update characters set avatar_url = $2, updated_at = now() where id = $1"
    return [(sql, (finish.request.character_id, finish.image.url))]


def _sticker(finish: FinishJob) -> list[Statement]:
    request = finish.request
    if request.emotion is None:
        return []
    sql = (
        "insert into character_stickers (id, character_id, job_id, emotion, url, messenger_url)"
        " values ($1, $2, $3, $4, $5, $6) on conflict (job_id) do nothing"
    )
    messenger = finish.messenger.url if finish.messenger else None
    args = (uuid.uuid4(), request.character_id, request.job_id, request.emotion.value, finish.image.url, messenger)
    return [(sql, args)]


def _cover(finish: FinishJob) -> list[Statement]:
    request, url = finish.request, finish.image.url
    return [
        (
            "insert into story_covers (id, story_id, job_id, url) values ($1, $2, $3, $4)"
            " on conflict (job_id) do nothing",
            (uuid.uuid4(), request.story_id, request.job_id, url),
        ),
        ("update stories set cover_url = $2, updated_at = now() where id = $1", (request.story_id, url)),
    ]


def _scene(finish: FinishJob) -> list[Statement]:
    request, converted = finish.request, finish.converted
    sql = (
        "insert into chat_scenes (id, user_id, job_id, chat_id, story_id, character_ids, url, width, height)"
        " values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (job_id) do nothing"
    )
    return [
        (
            sql,
            (
                uuid.uuid4(),
                request.user_id,
                request.job_id,
                request.chat_id,
                request.story_id,
                request.character_ids,
                finish.image.url,
                converted.width,
                converted.height,
            ),
        )
    ]


ROWS: dict[ImageKind, Callable[[FinishJob], list[Statement]]] = {
    ImageKind.avatar: _avatar,
    ImageKind.sticker: _sticker,
    ImageKind.cover: _cover,
    ImageKind.scene: _scene,
}
