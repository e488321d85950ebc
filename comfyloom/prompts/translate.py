"""Gemini turns Portuguese (or any) descriptions into English tags, answering in our pydantic schemas.

Answers are cached in Postgres under a hash of the task, model, schema and input, so the same
character never costs a second call. Errors are sorted by what the caller should do: try again
later (`TranslationBusy`), go on untranslated (`TranslationFailed`), or refuse (`TranslationRefused`).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from typing import Any, TypeVar

import aiohttp
import asyncpg
import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel, ValidationError

from comfyloom.contracts.chat import MomentSource
from comfyloom.db import translations
from comfyloom.settings import Settings
from comfyloom.tag_schemas import CharacterTags, MomentJudgement, SceneTags

M = TypeVar("M", bound=BaseModel)

CHARACTER_INSTRUCTION = """\
You turn a character description, usually written in Brazilian Portuguese, into English Danbooru tags
for a Stable Diffusion anime model. Keep only what can be seen: hair, eyes, skin, body, clothing,
accessories, species and species traits. Leave out personality, backstory, abilities and the name.
Use short lowercase Danbooru tags such as "blue hair", "heterochromia", "maid outfit", "cat ears".
Translate the structured fields too. Never invent a feature the text does not state.
Report gender and apparent age as described, and mark sexual or explicit descriptions."""

SCENE_INSTRUCTION = """\
You turn a story or chat passage, usually written in Brazilian Portuguese, into English Danbooru tags
for one illustration of it: setting, lighting, mood, action, notable objects and framing. The listed
characters are drawn from their own descriptions, so never describe how they look.
Use short lowercase Danbooru tags such as "forest", "sunset", "holding sword", "wide shot".
Never invent what the text does not suggest. Mark anyone under 18, and sexual or explicit text."""

MOMENT_INSTRUCTION = """\
You read the end of a role-play chat, usually written in Brazilian Portuguese, and judge whether its latest
messages show a moment worth one illustration: the characters arrive somewhere new, do something that can be
seen, or the mood changes. Small talk, greetings, questions, plans and talk of what is not happening now are
not worth drawing. When last_scene is given, it is what the chat's last picture shows: a moment that is the same
place and action, only talked about further, is the same as the last scene. When the moment is worth drawing,
give it as English Danbooru tags for one illustration: setting, lighting, mood, action, notable objects and
framing. The listed characters are drawn from their own descriptions, so never describe how they look.
Never invent what the text does not suggest. Mark anyone under 18, and sexual or explicit text."""

# Gemini's prompt-level block reasons that mean the input itself is prohibited.
REFUSING_BLOCKS = {"PROHIBITED_CONTENT", "BLOCKLIST"}


class TranslationError(Exception):
    pass


class NotCached(Exception):
    """The answer is not cached, and the caller asked not to call Gemini."""


class TranslationBusy(TranslationError):
    """Rate-limited, overloaded or unreachable: worth another try, after `retry_after` seconds if known."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TranslationFailed(TranslationError):
    """No usable answer, and asking again will not help: go on without translation."""


class TranslationRefused(TranslationError):
    """Gemini judged the input prohibited content."""


class CharacterSource(BaseModel):
    name: str
    description: str
    visual_features: dict[str, Any] = {}


class SceneSource(BaseModel):
    # The kind the scene is drawn for: "cover" (read from a story) or "scene" (from a chat's context).
    purpose: str
    text: str
    character_names: list[str] = []


@cache
def _fingerprint(instruction: str, schema: type[BaseModel]) -> str:
    """Changes when the instruction or schema does, so a cached answer never outlives its question."""
    return hashlib.sha256((instruction + json.dumps(schema.model_json_schema(), sort_keys=True)).encode()).hexdigest()


def cache_key(task: str, model: str, fingerprint: str, source: BaseModel) -> str:
    payload = json.dumps([task, model, fingerprint, source.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _retry_after(error: genai_errors.APIError) -> float | None:
    """Gemini's RetryInfo detail ("13s"), if the error carries one."""
    body = error.details if isinstance(error.details, dict) else {}
    for detail in (body.get("error") or {}).get("details") or []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and (m := re.fullmatch(r"(\d+(?:\.\d+)?)s", delay)):
            return float(m.group(1))
    return None


class Translator:
    """Gemini through the official SDK; `base_url` points it at a proxy or a local endpoint."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        api_version: str = "v1beta",
        timeout_seconds: float = 20.0,
    ) -> None:
        self._pool = pool
        self.model = model
        # The SDK talks through aiohttp when it is installed, else httpx: both transports' errors are caught.
        # One attempt per call: retries belong to the Temporal activity, which backs off and records them.
        options = types.HttpOptions(
            base_url=base_url,
            api_version=api_version,
            timeout=int(timeout_seconds * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def character(self, source: CharacterSource, *, cached_only: bool = False) -> CharacterTags:
        return await self._cached("character", CHARACTER_INSTRUCTION, source, CharacterTags, cached_only)

    async def scene(self, source: SceneSource, *, cached_only: bool = False) -> SceneTags:
        return await self._cached("scene", SCENE_INSTRUCTION, source, SceneTags, cached_only)

    async def moment(self, source: MomentSource) -> MomentJudgement:
        return await self._cached("moment", MOMENT_INSTRUCTION, source, MomentJudgement)

    async def _cached(
        self, task: str, instruction: str, source: BaseModel, schema: type[M], cached_only: bool = False
    ) -> M:
        """The cached answer, else Gemini's (cached for next time).

        Raises:
            NotCached: with `cached_only`, when Gemini would have to be asked.
        """
        key = cache_key(task, self.model, _fingerprint(instruction, schema), source)
        cached = await translations.get(self._pool, key)
        if cached is not None:
            try:
                return schema.model_validate(cached)
            except ValidationError:
                pass  # written by an older schema: ask again
        if cached_only:
            raise NotCached(task)
        answer = await self._generate(instruction, source, schema)
        await translations.put(self._pool, key, task=task, model=self.model, result=answer.model_dump(mode="json"))
        return answer

    async def _generate(self, instruction: str, source: BaseModel, schema: type[M]) -> M:
        config = types.GenerateContentConfig(
            system_instruction=instruction,
            response_mime_type="application/json",
            response_schema=schema,
            temperature=0.0,
        )
        try:
            response = await self._client.aio.models.generate_content(
                model=self.model, contents=source.model_dump_json(), config=config
            )
        except genai_errors.APIError as e:
            detail = f"Gemini answered {e.code} {e.status or ''}: {e.message or ''}".strip()
            if e.code == 429 or e.code >= 500:
                raise TranslationBusy(detail, _retry_after(e)) from e
            raise TranslationFailed(detail) from e
        except (httpx.HTTPError, aiohttp.ClientError, TimeoutError) as e:
            raise TranslationBusy(f"Gemini unreachable: {type(e).__name__}: {e}") from e
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = str(feedback.block_reason.value)
            if reason in REFUSING_BLOCKS:
                raise TranslationRefused(f"Gemini refused the description as {reason}")
            raise TranslationFailed(f"Gemini blocked the description ({reason})")
        text = response.text
        if not text:
            finish = response.candidates[0].finish_reason if response.candidates else None
            raise TranslationFailed(f"Gemini returned no text (finish reason {finish})")
        try:
            return schema.model_validate_json(text)
        except ValidationError as e:
            raise TranslationFailed(f"Gemini's answer did not fit the {schema.__name__} schema: {e.errors()[0]}") from e


def translator_for(pool: asyncpg.Pool, settings: Settings) -> Translator | None:
    """This deployment's Gemini, or None without a key."""
    if settings.gemini_api_key is None:
        return None
    return Translator(
        pool,
        api_key=settings.gemini_api_key.get_secret_value(),
        model=settings.gemini_model,
        base_url=settings.gemini_base_url,
        api_version=settings.gemini_api_version,
        timeout_seconds=settings.gemini_timeout_seconds,
    )
