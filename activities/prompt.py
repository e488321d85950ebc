"""build_prompt: refuse unsafe requests, have Gemini turn the characters' words into English tags, build per kind.

Runs before any GPU work, so a refusal costs nothing. Gemini being busy is retried by this
activity's retry policy (honouring Gemini's retry delay); on the last attempt, or when Gemini's
answer is unusable, the prompt is built untranslated and the job says so in its warnings.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from comfyloom.contracts import PromptRequest, PromptSpec, PromptTags
from comfyloom.db import characters, jobs, refusals
from comfyloom.db.characters import CharacterRow
from comfyloom.errors import ErrorType, failure
from comfyloom.features import CHARACTER_TAG_FIELDS, CharacterTags, SceneTags
from comfyloom.imaging import chroma
from comfyloom.kinds import KINDS, PromptInputs
from comfyloom.prompts import builders, safety
from comfyloom.prompts.builders import Cast
from comfyloom.prompts.screening import minor_signals, screen
from comfyloom.prompts.translate import (
    CharacterSource,
    SceneSource,
    TranslationBusy,
    TranslationFailed,
    TranslationRefused,
    Translator,
)
from comfyloom.settings import Settings

logger = logging.getLogger(__name__)

NO_KEY_WARNING = (
    "untranslated prompt: GEMINI_API_KEY is not set; tags come from the visual features as written, "
    "the free-text description is not used"
)


def source_text(request: PromptRequest, cast: list[CharacterRow]) -> str:
    """The user's own words behind an image, for its provenance."""
    parts = [f"{row.name}: {row.description}" for row in cast]
    if request.story:
        parts.append(request.story.text)
    if request.scene_context:
        parts.append(request.scene_context)
    return "\n".join(parts)


def scene_source(request: PromptRequest, cast: list[CharacterRow]) -> SceneSource | None:
    text = KINDS[request.kind].scene_text(request)
    if not text:
        return None
    return SceneSource(purpose=request.kind.value, text=text, character_names=[row.name for row in cast])


def key_colour(tags: PromptTags) -> str:
    """The chroma key a sticker's background is drawn in: the colour farthest from the characters' own."""
    words = [tag for member in tags.characters for name in CHARACTER_TAG_FIELDS for tag in getattr(member, name)]
    return chroma.contrasting_key(chroma.colours_from_tags(words)).name


def build(
    request: PromptRequest, cast: list[CharacterRow], tags: PromptTags, key: str | None = None
) -> builders.Prompt:
    members = [Cast(row.name, member, row.features.style) for row, member in zip(cast, tags.characters, strict=True)]
    return KINDS[request.kind].prompt(PromptInputs(request, members, tags.scene, key))


def _last_attempt() -> bool:
    info = activity.info()
    policy = info.retry_policy
    return policy is not None and policy.maximum_attempts > 0 and info.attempt >= policy.maximum_attempts


class PromptActivities:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._translator = (
            Translator(
                pool,
                api_key=settings.gemini_api_key,
                model=settings.gemini_model,
                base_url=settings.gemini_base_url,
                api_version=settings.gemini_api_version,
                timeout_seconds=settings.gemini_timeout_seconds,
            )
            if settings.gemini_api_key
            else None
        )
        if self._translator is None:
            logger.warning("GEMINI_API_KEY is not set: prompts will be built untranslated from the visual features")

    async def _refuse(self, request: PromptRequest, refusal: safety.Refusal) -> ApplicationError:
        await refusals.record(
            self._pool, refusal, user_id=request.user_id, kind=request.kind.value, stage="prompt", job_id=request.job_id
        )
        activity.logger.warning("job %s refused: %s", request.job_id, refusal.reason)
        return failure(ErrorType.content_refused, f"refused: {refusal.reason}")

    async def _translate(self, request: PromptRequest, cast: list[CharacterRow]) -> tuple[PromptTags, list[str]]:
        """Gemini's tags, or the untranslated ones with a warning saying why."""
        untranslated = PromptTags(characters=[builders.tags_from_features(row.features) for row in cast])
        if self._translator is None:
            activity.logger.warning(NO_KEY_WARNING)
            return untranslated, [NO_KEY_WARNING]
        try:
            members: list[CharacterTags] = []
            for row in cast:
                extracted = await self._translator.character(
                    CharacterSource(name=row.name, description=row.description, visual_features=row.visual_features)
                )
                # A gender the user set outright wins over Gemini's reading of the text.
                gender = row.features.gender
                members.append(extracted.model_copy(update={"gender": gender}) if gender else extracted)
            scene_input = scene_source(request, cast)
            scene: SceneTags | None = await self._translator.scene(scene_input) if scene_input else None
            return PromptTags(characters=members, scene=scene), []
        except TranslationBusy as e:
            if not _last_attempt():
                delay = timedelta(seconds=e.retry_after) if e.retry_after else None
                raise failure(ErrorType.gemini_busy, str(e), next_retry_delay=delay) from e
            warning = f"untranslated prompt: Gemini stayed unavailable after {activity.info().attempt} attempts ({e})"
        except TranslationFailed as e:
            warning = f"untranslated prompt: {e}"
        activity.logger.warning(warning)
        return untranslated, [warning]

    @activity.defn(name="build_prompt")
    async def build_prompt(self, request: PromptRequest) -> PromptSpec:
        cast: list[CharacterRow] = []
        for character_id in request.character_ids:
            row = await characters.get_character(self._pool, character_id)
            if row is None:
                raise failure(ErrorType.character_not_found, f"character {character_id} no longer exists")
            cast.append(row)
        blocklist = self._settings.content_blocklist
        if refusal := screen(request, cast, blocklist=blocklist):
            raise await self._refuse(request, refusal)
        try:
            tags, warnings = await self._translate(request, cast)
        except TranslationRefused as e:
            raise await self._refuse(request, safety.Refusal(reason=str(e), fields=[], matched=[])) from e
        # Again with Gemini's reading: its English tags and its own judgement of age and sexual content.
        if refusal := screen(request, cast, blocklist=blocklist, tags=tags):
            raise await self._refuse(request, refusal)
        key = key_colour(tags) if request.chroma_key else None
        prompt = build(request, cast, tags, key)
        await jobs.add_warnings(self._pool, request.job_id, warnings)
        return PromptSpec(
            positive=prompt.positive,
            negative=prompt.negative,
            loras=request.loras,
            warnings=warnings,
            source_text=source_text(request, cast),
            tags=tags,
            translator=self._translator.model if self._translator and not warnings else None,
            key_colour=key,
            minor_signals=minor_signals(request, cast, tags),
        )
