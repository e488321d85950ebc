"""build_prompt as Temporal runs it: screening, Gemini (real SDK, local endpoint), fallbacks, refusals."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.prompt import BUSY_ATTEMPTS, NO_KEY_WARNING, PromptActivities
from comfyloom.contracts.domain import Emotion, ImageKind, Lora, StoryBrief
from comfyloom.contracts.prompt import PromptRequest
from comfyloom.db import characters, jobs
from comfyloom.settings import Settings
from devstack.gemini_endpoint import FakeGemini, answer, blocked, error, text
from tests.helpers.prompts import REM_ANSWER, REM_DESCRIPTION, SEED_PROMPT
from workflows.policies import POLICIES


async def new_job(
    pool: asyncpg.Pool,
    *,
    kind: ImageKind = ImageKind.avatar,
    name: str = "Rem Dragneel",
    description: str = REM_DESCRIPTION,
    features: dict[str, Any] | None = None,
    **request: Any,
) -> PromptRequest:
    """A character (written straight to the database, as if created before today's rules) and its job."""
    user = f"user-{uuid.uuid4().hex[:8]}"
    visual_features = {"gender": "female"} if features is None else features
    character = await characters.create_character(
        pool, user_id=user, name=name, description=description, visual_features=visual_features
    )
    job_id = uuid.uuid4()
    await jobs.create_job(
        pool,
        job_id=job_id,
        user_id=user,
        kind=kind.value,
        character_id=character.id,
        workflow_id=f"{kind.value}-{job_id}",
        request={},
    )
    return PromptRequest(job_id=job_id, user_id=user, kind=kind, character_ids=[character.id], **request)


def environment(attempt: int = 1) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt, retry_policy=POLICIES["build_prompt"].retry)
    return env


async def test_the_seed_character_gets_the_seed_prompt(
    pool: asyncpg.Pool, gemini: FakeGemini, gemini_settings: Settings
) -> None:
    gemini.script(answer(REM_ANSWER))
    request = await new_job(pool)
    spec = await environment().run(PromptActivities(pool, gemini_settings).build_prompt, request)
    assert spec.positive == SEED_PROMPT
    assert spec.warnings == []
    assert spec.translator == "gemini-2.5-flash-lite"
    assert spec.tags.characters[0].species_traits == ["horn"]
    assert spec.source_text == f"Rem Dragneel: {REM_DESCRIPTION}"
    assert "heterocromia" in gemini.requests[0].user_text


async def test_without_a_key_the_prompt_is_untranslated_and_the_job_says_so(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    request = await new_job(pool, features={"gender": "female", "hair": "cabelo azul", "eyes": "blue eyes"})
    spec = await environment().run(PromptActivities(pool, settings).build_prompt, request)
    assert "solo, 1girl, (Rem Dragneel:1.2), cabelo azul, blue eyes" in spec.positive
    assert spec.warnings == [NO_KEY_WARNING] and spec.translator is None
    job = await jobs.get_job(pool, request.job_id)
    assert job is not None and job.warnings == [NO_KEY_WARNING]


async def test_a_rate_limit_is_retried_by_the_activity_policy_then_falls_back(
    pool: asyncpg.Pool, gemini: FakeGemini, gemini_settings: Settings
) -> None:
    request = await new_job(pool)
    activities = PromptActivities(pool, gemini_settings)
    gemini.script(error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", retry_delay="3s"))
    with pytest.raises(ApplicationError) as caught:
        await environment(attempt=1).run(activities.build_prompt, request)
    assert caught.value.type == "GeminiBusy" and not caught.value.non_retryable
    assert caught.value.next_retry_delay == timedelta(seconds=3)

    last = BUSY_ATTEMPTS
    gemini.script(error(503, "UNAVAILABLE", "The model is overloaded"))
    spec = await environment(attempt=last).run(activities.build_prompt, request)
    assert spec.translator is None
    assert spec.warnings == [
        f"untranslated prompt: Gemini stayed unavailable after {last} attempts "
        "(Gemini answered 503 UNAVAILABLE: The model is overloaded)"
    ]


async def test_a_malformed_answer_falls_back_without_a_crash(
    pool: asyncpg.Pool, gemini: FakeGemini, gemini_settings: Settings
) -> None:
    gemini.script(text('{"hair": ["blue hair"'))
    request = await new_job(pool, features={"gender": "female", "hair": "blue hair"})
    spec = await environment().run(PromptActivities(pool, gemini_settings).build_prompt, request)
    assert "(Rem Dragneel:1.2), blue hair" in spec.positive
    assert spec.warnings[0].startswith("untranslated prompt: Gemini's answer did not fit the CharacterTags schema")


async def refused(pool: asyncpg.Pool, settings: Settings, request: PromptRequest) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await environment().run(PromptActivities(pool, settings).build_prompt, request)
    assert caught.value.type == "ContentRefused" and caught.value.non_retryable
    row = await pool.fetchrow("select * from content_refusals where job_id = $1", request.job_id)
    assert row is not None and row["stage"] == "prompt" and row["user_id"] == request.user_id
    return caught.value


async def test_minor_and_sexual_words_are_refused_before_gemini(
    pool: asyncpg.Pool, gemini: FakeGemini, gemini_settings: Settings
) -> None:
    request = await new_job(pool, description="Uma dançarina sensual", features={"gender": "female", "age": 15})
    error_ = await refused(pool, gemini_settings, request)
    assert "age 15" in error_.message and "sensual" in error_.message
    assert gemini.requests == []


async def test_geminis_reading_of_age_can_refuse(
    pool: asyncpg.Pool, gemini: FakeGemini, gemini_settings: Settings
) -> None:
    # No listed minor word: only Gemini's reading says this is a child.
    gemini.script(answer({**REM_ANSWER, "apparent_age": "child"}))
    request = await new_job(pool, description="Uma pequena de nove primaveras, dançarina provocante")
    error_ = await refused(pool, gemini_settings, request)
    assert "looks like a child" in error_.message and "provocante" in error_.message


async def test_geminis_prohibited_content_block_is_a_refusal(
    pool: asyncpg.Pool, gemini: FakeGemini, gemini_settings: Settings
) -> None:
    gemini.script(blocked("PROHIBITED_CONTENT"))
    request = await new_job(pool)
    assert "PROHIBITED_CONTENT" in (await refused(pool, gemini_settings, request)).message


async def test_unsafe_lora_trigger_words_are_refused(pool: asyncpg.Pool, settings: Settings) -> None:
    loras = [Lora(name="x.safetensors", trigger_words=["loli", "nsfw"])]
    request = await new_job(pool, loras=loras)
    assert "loli" in (await refused(pool, settings, request)).message
    row = await pool.fetchrow("select fields from content_refusals where job_id = $1", request.job_id)
    assert row is not None and row["fields"] == ["loras[0].triggerWords"]


async def test_a_cover_translates_its_story_into_scene_tags(
    pool: asyncpg.Pool, gemini: FakeGemini, gemini_settings: Settings
) -> None:
    gemini.script(
        answer(REM_ANSWER), answer({"setting": ["ruined castle"], "lighting": ["moonlight"], "mood": ["tense"]})
    )
    story = StoryBrief(title="A Lua Quebrada", genre="fantasia", synopsis="Rem defende o castelo em ruínas.")
    request = await new_job(pool, kind=ImageKind.cover, story=story)
    spec = await environment().run(PromptActivities(pool, gemini_settings).build_prompt, request)
    assert "fantasy, magic, epic" in spec.positive
    assert spec.positive.endswith("ruined castle, moonlight, tense")
    assert spec.tags.scene is not None and spec.tags.scene.setting == ["ruined castle"]
    assert "A Lua Quebrada" in gemini.requests[1].user_text
    assert "castelo em ruínas" in spec.source_text


async def test_a_sticker_carries_its_emotion(pool: asyncpg.Pool, settings: Settings) -> None:
    request = await new_job(pool, kind=ImageKind.sticker, emotion=Emotion.shy)
    spec = await environment().run(PromptActivities(pool, settings).build_prompt, request)
    assert "(shy:1.2), blush" in spec.positive


async def test_the_cached_prompt_is_the_prompt_and_gives_way_when_it_cannot_build_it(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    """With nothing to ask Gemini (no key, TRANSLATION_POLICY=warn) build_cached_prompt builds what build_prompt
    builds; with its database away it answers None, and the job goes to build_prompt, whose policy waits."""
    request = await new_job(pool)
    warn = settings.model_copy(update={"translation_policy": "warn", "gemini_api_key": None})
    cached = await ActivityEnvironment().run(PromptActivities(pool, warn).build_cached_prompt, request)
    built = await environment().run(PromptActivities(pool, warn).build_prompt, request)
    assert cached == built
    assert settings.database_url
    away = await asyncpg.create_pool(settings.database_url, min_size=0, max_size=1)
    await away.close()
    assert await ActivityEnvironment().run(PromptActivities(away, warn).build_cached_prompt, request) is None
