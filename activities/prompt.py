"""build_prompt: a character's visual features become English, Danbooru-style Stable Diffusion tags."""

from __future__ import annotations

import re

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from comfyloom.contracts import ImageKind, PromptRequest, PromptSpec, VisualFeatures
from comfyloom.db import characters, jobs
from comfyloom.settings import Settings

QUALITY_TAGS = "(score_9, score_8_up, score_7_up), masterpiece, best quality, ultra-detailed, cinematic lighting"
KIND_TAGS = {
    ImageKind.avatar: "(close-up portrait:1.2), (detailed face:1.1), looking at viewer, headshot",
}
NEGATIVE_BASE = (
    "lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, fewer digits, cropped, "
    "worst quality, low quality, jpeg artifacts, signature, watermark, username, blurry"
)
NEGATIVE_KIND = {ImageKind.avatar: "multiple views, nsfw"}
SUBJECT = {"female": "1girl", "male": "1boy", "other": "1other"}
FEATURE_ORDER = ("species", "hair", "eyes", "skin", "body", "clothing", "accessories")


def escape_tag(text: str) -> str:
    """User text must not open ComfyUI weight syntax: parentheses are escaped, whitespace collapsed."""
    text = re.sub(r"\s+", " ", text).strip()
    return text.replace("\\", "").replace("(", r"\(").replace(")", r"\)")


def feature_tags(features: VisualFeatures) -> list[str]:
    tags: list[str] = []
    for name in FEATURE_ORDER:
        value = getattr(features, name)
        for part in (value or "").split(","):
            tag = escape_tag(part).lower()
            if tag and tag not in tags:
                tags.append(tag)
    return tags


def compose_prompt(kind: ImageKind, name: str, features: VisualFeatures) -> PromptSpec:
    style = f"({escape_tag(features.style).upper()})" if features.style else "(ANIME)"
    subject = ["solo", SUBJECT[features.gender]] if features.gender else ["solo"]
    positive = ", ".join(
        [QUALITY_TAGS, style, KIND_TAGS[kind], *subject, f"({escape_tag(name)}:1.2)", *feature_tags(features)]
    )
    negative = f"{NEGATIVE_BASE}, {NEGATIVE_KIND[kind]}"
    return PromptSpec(positive=positive, negative=negative)


class PromptActivities:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    @activity.defn(name="build_prompt")
    async def build_prompt(self, request: PromptRequest) -> PromptSpec:
        character = await characters.get_character(self._pool, request.character_id)
        if character is None:
            raise ApplicationError(
                f"character {request.character_id} no longer exists", type="CharacterNotFound", non_retryable=True
            )
        spec = compose_prompt(request.kind, character.name, VisualFeatures(**character.visual_features))
        reason = "GEMINI_API_KEY is not set" if not self._settings.gemini_api_key else "translation is not enabled"
        spec.warnings.append(
            f"untranslated prompt: {reason}; tags come from the visual features as written, "
            "the free-text description is not used"
        )
        activity.logger.warning(spec.warnings[-1])
        await jobs.add_warnings(self._pool, request.job_id, spec.warnings)
        return spec
