"""Object key layout, kept free of I/O so workflow code can use it deterministically."""

from __future__ import annotations

from uuid import UUID

STAGING_ROOT = "staging/"
# Prefixes served publicly (R2: the bucket's public domain); staging/ never is.
PUBLIC_PREFIXES = ("characters/", "stories/", "scenes/")


def staging_prefix(workflow_id: str) -> str:
    return f"{STAGING_ROOT}{workflow_id}/"


# The largest staged render storage takes from a GPU machine: a presigned PUT cannot bound the size, so the CPU
# worker refuses a larger object when it reads it (a 1536x1536 PNG at ComfyUI's compression is under 8 MB).
STAGED_RENDER_MAX_BYTES = 32 * 1024 * 1024


def staged_render_key(staging: str, prompt_id: str, node_id: str, index: int) -> str:
    """Where the `index`th image ComfyUI lists for a prompt is staged (one a template output node)."""
    return f"{staging}{prompt_id}/{node_id}_{index}.png"


def character_prefix(user_id: str, character_id: UUID) -> str:
    """Every image of a character (avatars, stickers) is under here, so erasing it is one prefix."""
    return f"characters/{user_id}/{character_id}/"


def story_prefix(story_id: UUID) -> str:
    return f"stories/{story_id}/"


def _stamp(timestamp_ms: int, job_id: UUID | None) -> str:
    """The time keeps a folder in order; the job makes the name its own, whatever the clock says (two runs
    whose first tasks start in one millisecond). `None` names as runs before `job-id-in-keys` did."""
    return f"{timestamp_ms}_{job_id}" if job_id is not None else str(timestamp_ms)


def avatar_key(user_id: str, character_id: UUID, timestamp_ms: int, job_id: UUID | None) -> str:
    return f"{character_prefix(user_id, character_id)}avatar/avatar_{_stamp(timestamp_ms, job_id)}.webp"


def sticker_key(
    user_id: str, character_id: UUID, emotion: str, timestamp_ms: int, job_id: UUID | None, *, messenger: bool = False
) -> str:
    suffix = "_512" if messenger else ""
    return f"{character_prefix(user_id, character_id)}stickers/{emotion}_{_stamp(timestamp_ms, job_id)}{suffix}.webp"


def cover_key(story_id: UUID, timestamp_ms: int, job_id: UUID | None) -> str:
    return f"{story_prefix(story_id)}cover/cover_{_stamp(timestamp_ms, job_id)}.webp"


def scene_key(user_id: str, job_id: UUID, timestamp_ms: int) -> str:
    """A scene may show several characters, or none: it is filed by user and job, not by character (and was
    named by its job before the other kinds were)."""
    return f"scenes/{user_id}/scene_{_stamp(timestamp_ms, job_id)}.webp"
