"""build_prompt: refuse unsafe requests, have Gemini turn the characters' words into English tags, build per kind.

Runs before any GPU work, so a refusal costs nothing. Gemini being busy is retried by this
activity's retry policy (honouring Gemini's retry delay). When Gemini cannot translate (no key, busy
past BUSY_ATTEMPTS, an unusable answer), TRANSLATION_POLICY decides: `warn` builds the prompt
untranslated and the job says so in its warnings; `wait` asks again until TRANSLATION_WAIT_SECONDS
after the step was first scheduled, then fails the job; `fail` fails it at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio import activity

from comfyloom.contracts.prompt import PromptRequest, PromptSpec, PromptTags
from comfyloom.db import characters, jobs, refusals
from comfyloom.db.characters import CharacterRow
from comfyloom.errors import ErrorType, failure
from comfyloom.imaging import chroma
from comfyloom.kinds import KINDS, PromptInputs
from comfyloom.prompts import builders, safety
from comfyloom.prompts.builders import Cast
from comfyloom.prompts.screening import minor_signals, screen
from comfyloom.prompts.translate import (
    CharacterSource,
    NotCached,
    SceneSource,
    TranslationBusy,
    TranslationFailed,
    TranslationRefused,
    translator_for,
)
from comfyloom.settings import Settings
from comfyloom.tag_schemas import CHARACTER_TAG_FIELDS, CharacterTags, SceneTags

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


# Under TRANSLATION_POLICY=warn, Gemini busy is asked this many times before the prompt goes untranslated.
BUSY_ATTEMPTS = 5
# Under `wait`, how often Gemini is asked again when it gives no delay of its own.
WAIT_RETRY_SECONDS = 30.0


class Untranslatable(Exception):
    """Gemini cannot translate this prompt now: why, and when it asks to be tried again."""

    def __init__(self, reason: str, retry_after: float | None = None, *, for_good: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        # No key: waiting cannot help.
        self.for_good = for_good


class PromptActivities:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._translator = translator_for(pool, settings)
        if self._translator is None and settings.translation_policy == "warn":
            logger.warning("GEMINI_API_KEY is not set: prompts will be built untranslated from the visual features")
        elif self._translator is None:
            logger.error(
                "GEMINI_API_KEY is not set and TRANSLATION_POLICY=%s: every job will fail before rendering;"
                " set the key, or TRANSLATION_POLICY=warn to render untranslated prompts",
                settings.translation_policy,
            )

    async def _refuse(self, request: PromptRequest, refusal: safety.Refusal, cached_only: bool) -> Exception:
        if cached_only:  # refused and recorded by build_prompt, once
            return NotCached("refused")
        await refusals.record(
            self._pool, refusal, user_id=request.user_id, kind=request.kind.value, stage="prompt", job_id=request.job_id
        )
        activity.logger.warning("job %s refused: %s", request.job_id, refusal.reason)
        return failure(ErrorType.content_refused, f"refused: {refusal.reason}")

    async def _translate(
        self, request: PromptRequest, cast: list[CharacterRow], cached_only: bool
    ) -> tuple[PromptTags, list[str]]:
        """Gemini's tags; or, as TRANSLATION_POLICY says, the untranslated ones with a warning saying why, or a
        failure (retried under `wait` until its deadline).

        Raises:
            NotCached: with `cached_only`, when Gemini would have to be asked, or the job would fail or wait.
        """
        try:
            return await self._gemini_tags(request, cast, cached_only)
        except Untranslatable as e:
            untranslatable = e
        policy = self._settings.translation_policy
        if policy == "warn":
            warning = f"untranslated prompt: {untranslatable.reason}"
            activity.logger.warning(warning)
            members = [builders.tags_from_features(row.features) for row in cast]
            untranslated = PromptTags(characters=members, scene=request.scene_tags)
            return untranslated, [warning]
        if cached_only:
            raise NotCached("untranslatable")
        info = activity.info()
        waited = (datetime.now(UTC) - info.scheduled_time).total_seconds()
        left = self._settings.translation_wait_seconds - waited
        if policy == "wait" and not untranslatable.for_good and left > 0:
            activity.metric_meter().create_counter(
                "comfyloom_translation_pending", "Prompt builds that found Gemini away and will ask again (wait)"
            ).add(1)
            delay = min(untranslatable.retry_after or WAIT_RETRY_SECONDS, left)
            raise failure(
                ErrorType.translation_pending,
                f"waiting for Gemini to translate the prompt ({untranslatable.reason})",
                next_retry_delay=timedelta(seconds=max(delay, 1.0)),
            )
        after = f" after waiting {waited:.0f} s" if policy == "wait" and not untranslatable.for_good else ""
        raise failure(
            ErrorType.translation_unavailable,
            f"the prompt could not be translated to English{after} ({untranslatable.reason}); TRANSLATION_POLICY="
            f"{policy} renders no untranslated prompt, so nothing was rendered and no credits were charged",
        )

    async def _gemini_tags(
        self, request: PromptRequest, cast: list[CharacterRow], cached_only: bool
    ) -> tuple[PromptTags, list[str]]:
        """Gemini's tags for the cast and scene.

        Raises:
            Untranslatable: no key, Gemini busy (past BUSY_ATTEMPTS under `warn`), or an unusable answer.
            ApplicationError: GeminiBusy, to be asked again after the delay Gemini gives.
        """
        if self._translator is None:
            raise Untranslatable(NO_KEY_WARNING.removeprefix("untranslated prompt: "), for_good=True)
        try:
            members: list[CharacterTags] = []
            for row in cast:
                extracted = await self._translator.character(
                    CharacterSource(name=row.name, description=row.description, visual_features=row.visual_features),
                    cached_only=cached_only,
                )
                # A gender the user set outright wins over Gemini's reading of the text.
                gender = row.features.gender
                members.append(extracted.model_copy(update={"gender": gender}) if gender else extracted)
            scene_input = None if request.scene_tags else scene_source(request, cast)
            scene: SceneTags | None = (
                await self._translator.scene(scene_input, cached_only=cached_only)
                if scene_input
                else request.scene_tags
            )
            return PromptTags(characters=members, scene=scene), []
        except TranslationBusy as e:
            attempt = activity.info().attempt
            if self._settings.translation_policy != "wait" and attempt < BUSY_ATTEMPTS:
                delay = timedelta(seconds=e.retry_after) if e.retry_after else None
                raise failure(ErrorType.gemini_busy, str(e), next_retry_delay=delay) from e
            raise Untranslatable(f"Gemini stayed unavailable after {attempt} attempts ({e})", e.retry_after) from e
        except TranslationFailed as e:
            raise Untranslatable(str(e)) from e

    @activity.defn(name="build_cached_prompt")
    async def build_cached_prompt(self, request: PromptRequest) -> PromptSpec | None:
        """The prompt, when it needs nothing from Gemini (its translations are cached, or there is no key and
        TRANSLATION_POLICY=warn) and nothing in it is refused; else None, and `build_prompt` builds it as ever.
        A local activity: most jobs' prompts then cost no activity task, and no round trip, of their own."""
        try:
            return await self._build(request, cached_only=True)
        except NotCached as e:
            activity.logger.info("job %s: prompt not built from the cache (%s)", request.job_id, e)
        except Exception as e:  # the database away, say: build_prompt, whose policy waits it out, tries again
            activity.logger.warning("job %s: prompt not built from the cache: %r", request.job_id, e)
        return None

    @activity.defn(name="build_prompt")
    async def build_prompt(self, request: PromptRequest) -> PromptSpec:
        return await self._build(request, cached_only=False)

    async def _build(self, request: PromptRequest, *, cached_only: bool) -> PromptSpec:
        """Raises:
        ApplicationError: the character is gone, the request is refused, or it cannot be translated now.
        NotCached: with `cached_only`, where `build_prompt` would ask Gemini, refuse, or fail.
        """
        cast: list[CharacterRow] = []
        for character_id in request.character_ids:
            row = await characters.get_character(self._pool, character_id)
            if row is None:
                if cached_only:
                    raise NotCached("character gone")
                raise failure(ErrorType.character_not_found, f"character {character_id} no longer exists")
            cast.append(row)
        blocklist = self._settings.content_blocklist
        if refusal := screen(request, cast, blocklist=blocklist):
            raise await self._refuse(request, refusal, cached_only)
        try:
            tags, warnings = await self._translate(request, cast, cached_only)
        except TranslationRefused as e:
            refused = safety.Refusal(reason=str(e), fields=[], matched=[])
            raise await self._refuse(request, refused, cached_only) from e
        # Again with Gemini's reading: its English tags and its own judgement of age and sexual content.
        if refusal := screen(request, cast, blocklist=blocklist, tags=tags):
            raise await self._refuse(request, refusal, cached_only)
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
