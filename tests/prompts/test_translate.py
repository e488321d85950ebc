"""Gemini through the real google-genai SDK against a local generateContent endpoint."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from comfyloom.prompts.translate import (
    CharacterSource,
    SceneSource,
    TranslationBusy,
    TranslationFailed,
    TranslationRefused,
    Translator,
)
from comfyloom.tag_schemas import CharacterTags
from devstack import localstack
from devstack.gemini_endpoint import API_KEY, FakeGemini, answer, blocked, error, text

MODEL = "gemini-2.5-flash-lite"


def translator(pool: asyncpg.Pool, gemini: FakeGemini, **options: str) -> Translator:
    return Translator(pool, api_key=API_KEY, model=MODEL, base_url=gemini.url, timeout_seconds=5, **options)


def source() -> CharacterSource:
    # A fresh description per test, so the shared cache never answers for another test.
    return CharacterSource(
        name="Rem Dragneel",
        description=f"Uma oni de cabelo azul e olhos azuis ({uuid.uuid4()}).",
        visual_features={"gender": "female", "hair": "cabelo azul"},
    )


@pytest.mark.parametrize("version", ["v1beta", "v1"])
async def test_the_sdk_sends_a_structured_output_request(pool: asyncpg.Pool, gemini: FakeGemini, version: str) -> None:
    gemini.script(answer({"gender": "female", "hair": ["blue hair"], "eyes": ["blue eyes"]}))
    tags = await translator(pool, gemini, api_version=version).character(source())
    assert tags.hair == ["blue hair"] and tags.eyes == ["blue eyes"] and tags.gender == "female"

    [sent] = gemini.requests
    assert (sent.version, sent.model) == (version, MODEL)
    assert sent.headers["x-goog-api-key"] == API_KEY
    config = sent.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["temperature"] == 0
    schema = config["responseSchema"]
    assert {"hair", "eyes", "body", "clothing", "species_traits", "apparent_age"} <= set(schema["properties"])
    assert "Danbooru" in sent.body["systemInstruction"]["parts"][0]["text"]
    # The character goes as JSON: name, Portuguese description and structured fields.
    sent_character = json.loads(sent.user_text)
    assert sent_character["description"].startswith("Uma oni de cabelo azul")
    assert sent_character["visual_features"]["hair"] == "cabelo azul"


async def test_the_same_character_is_asked_once(pool: asyncpg.Pool, gemini: FakeGemini) -> None:
    gemini.script(answer({"hair": ["blue hair"]}))
    character = source()
    first = await translator(pool, gemini).character(character)
    second = await translator(pool, gemini).character(character)
    assert first == second
    assert len(gemini.requests) == 1
    hits = await pool.fetchval("select max(hits) from prompt_translations where result->'hair' ? 'blue hair'")
    assert hits >= 1


async def test_another_model_is_another_question(pool: asyncpg.Pool, gemini: FakeGemini) -> None:
    character = source()
    await translator(pool, gemini).character(character)
    other = Translator(pool, api_key=API_KEY, model="gemini-2.5-flash", base_url=gemini.url)
    await other.character(character)
    assert [r.model for r in gemini.requests] == [MODEL, "gemini-2.5-flash"]


async def test_rate_limit_is_busy_with_gemini_retry_delay(pool: asyncpg.Pool, gemini: FakeGemini) -> None:
    gemini.script(error(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted", retry_delay="7s"))
    with pytest.raises(TranslationBusy) as caught:
        await translator(pool, gemini).character(source())
    assert caught.value.retry_after == 7.0
    assert len(gemini.requests) == 1, "the SDK must not retry on its own: the activity's policy does"


async def test_server_errors_and_unreachable_gemini_are_busy(pool: asyncpg.Pool, gemini: FakeGemini) -> None:
    gemini.script(error(503, "UNAVAILABLE", "The model is overloaded"))
    with pytest.raises(TranslationBusy, match="503"):
        await translator(pool, gemini).character(source())
    nowhere = Translator(pool, api_key=API_KEY, model=MODEL, base_url=f"http://127.0.0.1:{localstack.free_port()}")
    with pytest.raises(TranslationBusy, match="unreachable"):
        await nowhere.character(source())


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (text("blue hair, blue eyes"), "did not fit"),
        (answer({"hair": "blue hair"}), "did not fit"),
        (answer({"gender": "robot"}), "did not fit"),
        (error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."), "400"),
        (blocked("SAFETY"), "blocked"),
    ],
    ids=["not-json", "string-not-list", "bad-enum", "bad-request", "blocked"],
)
async def test_unusable_answers_fail_without_a_crash(
    pool: asyncpg.Pool, gemini: FakeGemini, reply: tuple[int, dict[str, object]], message: str
) -> None:
    gemini.script(reply)
    with pytest.raises(TranslationFailed, match=message):
        await translator(pool, gemini).character(source())


async def test_a_bad_key_fails_with_geminis_message(pool: asyncpg.Pool, gemini: FakeGemini) -> None:
    wrong = Translator(pool, api_key="wrong", model=MODEL, base_url=gemini.url)
    with pytest.raises(TranslationFailed, match="API key not valid"):
        await wrong.character(source())


async def test_prohibited_content_is_a_refusal(pool: asyncpg.Pool, gemini: FakeGemini) -> None:
    gemini.script(blocked("PROHIBITED_CONTENT"))
    with pytest.raises(TranslationRefused, match="PROHIBITED_CONTENT"):
        await translator(pool, gemini).character(source())


async def test_scenes_are_described_without_the_characters_looks(pool: asyncpg.Pool, gemini: FakeGemini) -> None:
    gemini.script(answer({"setting": ["library"], "lighting": ["candlelight"], "action": ["reading"]}))
    scene = await translator(pool, gemini).scene(
        SceneSource(purpose="scene", text=f"Rem lê um livro na biblioteca {uuid.uuid4()}", character_names=["Rem"])
    )
    assert scene.setting == ["library"] and scene.action == ["reading"]
    [sent] = gemini.requests
    assert "never describe how they look" in sent.body["systemInstruction"]["parts"][0]["text"]
    assert "depicts_minor" in sent.body["generationConfig"]["responseSchema"]["properties"]


def test_the_schema_lists_tags_in_prompt_order() -> None:
    assert list(CharacterTags.model_fields)[2:6] == ["hair", "eyes", "skin", "body"]
