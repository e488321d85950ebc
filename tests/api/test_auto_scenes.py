"""Automatic chat scenes: Gemini's reading of a chat decides, through the real google-genai client and a local
Gemini endpoint answering for the recorded excerpts in tests/helpers/chats.py; a scene is drawn for a new moment,
not for small talk, the same moment or an unsafe one, never charged when not drawn, and never asks Gemini inside
the chat's cooldown, before its new messages, or past the user's daily cap."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, ClassVar

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from comfyloom.prompts.translate import MOMENT_INSTRUCTION
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack.gemini_endpoint import FakeGemini, error
from tests.helpers import chats
from tests.helpers.auth import as_user
from tests.helpers.history import record
from tests.helpers.jobs import CHARACTER, done, terminate_runs_of, wait_for
from tests.helpers.parts import serve_api
from worker_cpu.worker import build_cpu_worker

AUTO = "/api/v1/image-generation/scene/auto"


@pytest.fixture(scope="module")
async def strict_api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """A chat gets an automatic scene every 600 s and 3 new messages at most; a user 2 a day."""
    limits = {"auto_scene_cooldown_seconds": 600, "auto_scene_min_messages": 3, "auto_scene_daily_cap": 2}
    async with serve_api(settings.model_copy(update=limits), pool) as http:
        yield http


@pytest.fixture(scope="module")
async def eager_api(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    """No cooldown, one new message enough: each request is judged."""
    limits = {"auto_scene_cooldown_seconds": 0, "auto_scene_min_messages": 1, "auto_scene_daily_cap": 100}
    async with serve_api(settings.model_copy(update=limits), pool) as http:
        yield http


@pytest.fixture
def judging_worker(gemini_cpu_worker: FakeGemini) -> FakeGemini:
    """A CPU worker whose Gemini reads the excerpts as tests/helpers/chats.py says."""
    gemini_cpu_worker.responder = chats.judge
    return gemini_cpu_worker


@pytest.fixture(autouse=True)
async def ended(pool: asyncpg.Pool, client: Client) -> AsyncIterator[None]:
    """The scenes a test started and left unfinished (no GPU worker drew them) end with it."""
    Chat.users.clear()
    yield
    await terminate_runs_of(pool, client, Chat.users)


class Chat:
    """One user's chat with Rem, through one API."""

    # The users the running test chatted as.
    users: ClassVar[list[str]] = []

    def __init__(self, api: httpx.AsyncClient, character_id: str, user: str) -> None:
        self.api, self.character_id, self.user = api, character_id, user
        Chat.users.append(user)
        self.id = f"chat-{uuid.uuid4().hex[:8]}"

    @classmethod
    async def open(cls, api: httpx.AsyncClient, user: str | None = None) -> Chat:
        user = user or f"chatter-{uuid.uuid4().hex[:8]}"
        character = await api.post("/api/v1/characters", json=CHARACTER, headers=as_user(user))
        assert character.status_code == 201, character.text
        return cls(api, character.json()["id"], user)

    async def auto(self, excerpt: chats.Excerpt, **extra: Any) -> httpx.Response:
        body = {"chatId": self.id, "characterIds": [self.character_id], "messages": chats.messages(excerpt), **extra}
        return await self.api.post(AUTO, json=body, headers=as_user(self.user))

    async def balance(self) -> int:
        credits = (await self.api.get("/api/v1/credits", headers=as_user(self.user))).json()
        return int(credits["balance"])

    async def jobs(self) -> list[dict[str, Any]]:
        listed = await self.api.get("/api/v1/image-generation/jobs", headers=as_user(self.user))
        items: list[dict[str, Any]] = listed.json()["items"]
        return items


def not_drawn(response: httpx.Response, code: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["drawn"] is False and answer["code"] == code, answer
    assert answer["reason"]
    return answer


async def last_judgement(client: Client, after: int) -> str:
    """The workflow id of the newest JudgeChatMoment run, once there are more than `after`."""
    deadline = time.monotonic() + 10
    while True:
        runs = [run async for run in client.list_workflows("WorkflowType = 'JudgeChatMoment'")]
        if len(runs) > after or time.monotonic() > deadline:
            return max(runs, key=lambda r: r.start_time).id


async def judgements(client: Client) -> int:
    return len([run async for run in client.list_workflows("WorkflowType = 'JudgeChatMoment'")])


async def test_a_new_moment_is_drawn_as_gemini_read_it_and_small_talk_is_not_charged(
    eager_api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, judging_worker: FakeGemini, gpu_worker: None
) -> None:
    chat = await Chat.open(eager_api)
    before = await chat.balance()
    earlier = await judgements(client)
    small_talk = not_drawn(await chat.auto(chats.SMALL_TALK), "small_talk")
    assert "Small talk" in small_talk["reason"]
    await record(client, await last_judgement(client, earlier), "chat_moment_small_talk")
    assert await chat.jobs() == [] and await chat.balance() == before

    earlier = await judgements(client)
    drawn = await chat.auto(chats.NEW_MOMENT)
    assert drawn.status_code == 202, drawn.text
    accepted = drawn.json()
    assert accepted["drawn"] is True and accepted["scene"]["setting"] == chats.NEW_MOMENT_SCENE["setting"]
    await record(client, await last_judgement(client, earlier), "chat_moment_drawn")
    status = await wait_for(eager_api, accepted["jobId"], done, headers=as_user(chat.user))
    assert status["status"] == "ready", status
    prompt = await pool.fetchval("select positive_prompt from images where job_id = $1", uuid.UUID(accepted["jobId"]))
    assert "abandoned train station" in prompt and "lantern light" in prompt
    # The scene's tags are Gemini's reading of the moment, not a second translation of the messages.
    scene_translations = [r for r in judging_worker.requests if "story or chat passage" in r.instruction]
    assert scene_translations == []
    [listed] = await chat.jobs()
    assert listed["jobId"] == accepted["jobId"] and listed["kind"] == "scene"


async def test_the_moment_the_last_scene_shows_is_not_drawn_again(
    eager_api: httpx.AsyncClient, client: Client, judging_worker: FakeGemini
) -> None:
    chat = await Chat.open(eager_api)
    assert (await chat.auto(chats.NEW_MOMENT)).status_code == 202
    earlier = await judgements(client)
    answer = not_drawn(await chat.auto(chats.SAME_MOMENT), "same_moment")
    assert "lantern" in answer["reason"]
    await record(client, await last_judgement(client, earlier), "chat_moment_same")
    # Gemini was told what the last scene showed: its tags.
    asked = chats.moments_asked(judging_worker.requests)[-1]
    assert "abandoned train station" in asked.user_text and len(await chat.jobs()) == 1


async def test_an_unsafe_moment_is_never_drawn_nor_charged(
    eager_api: httpx.AsyncClient, pool: asyncpg.Pool, judging_worker: FakeGemini
) -> None:
    chat = await Chat.open(eager_api)
    before = await chat.balance()
    screened = not_drawn(await chat.auto(chats.SCREENED_OUT), "content_refused")
    assert "minor" in screened["reason"]
    assert chats.moments_asked(judging_worker.requests) == []  # refused by the screening, before Gemini

    read = not_drawn(await chat.auto(chats.READ_AS_UNSAFE), "content_refused")
    assert "sexual" in read["reason"]
    assert len(chats.moments_asked(judging_worker.requests)) == 1
    stages = await pool.fetch("select stage from content_refusals where user_id = $1 order by created_at", chat.user)
    assert [r["stage"] for r in stages] == ["request", "prompt"]
    assert await chat.jobs() == [] and await chat.balance() == before


async def test_inside_the_cooldown_and_before_enough_new_messages_gemini_is_not_asked(
    strict_api: httpx.AsyncClient, pool: asyncpg.Pool, judging_worker: FakeGemini
) -> None:
    chat = await Chat.open(strict_api)
    assert (await chat.auto(chats.NEW_MOMENT)).status_code == 202
    asked = len(chats.moments_asked(judging_worker.requests))
    more = [*chats.NEW_MOMENT, ("Ana", "Ouvimos um trem ao longe!"), ("Rem Dragneel", "Rem aponta para o túnel.")]
    cooling = not_drawn(await chat.auto(more), "cooldown")
    last = await pool.fetchval("select last_auto_at from chats where user_id = $1 and chat_id = $2", chat.user, chat.id)
    assert cooling["nextAt"] is not None and abs(_ts(cooling["nextAt"]) - (last.timestamp() + 600)) < 0.01

    # One second past the cooldown, but only two messages since the scene's: three are needed.
    await pool.execute(
        "update chats set last_auto_at = now() - interval '601 seconds' where user_id = $1 and chat_id = $2",
        chat.user,
        chat.id,
    )
    too_few = not_drawn(await chat.auto(more), "too_few_messages")
    assert too_few["messagesNeeded"] == 1
    assert len(chats.moments_asked(judging_worker.requests)) == asked  # neither asked Gemini

    # A third new message: now it is judged.
    enough = [*more, ("Ana", "Corremos para a plataforma.")]
    not_drawn(await chat.auto(enough), "small_talk")  # not in the endpoint's table: judged, not drawn
    assert len(chats.moments_asked(judging_worker.requests)) == asked + 1


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def fields(response: httpx.Response) -> list[str]:
    return [f["field"] for f in response.json()["error"]["fields"]]


async def test_the_daily_cap_counts_automatic_scenes_only_and_answers_without_gemini(
    strict_api: httpx.AsyncClient, judging_worker: FakeGemini
) -> None:
    first = await Chat.open(strict_api)
    user = first.user
    # A scene asked for does not count against the cap.
    asked_for = await strict_api.post(
        "/api/v1/image-generation/scene",
        json={"context": "Rem lendo um livro", "characterIds": [first.character_id], "chatId": first.id},
        headers=as_user(user),
    )
    assert asked_for.status_code == 202, asked_for.text
    for _ in range(2):
        chat = Chat(strict_api, first.character_id, user)
        assert (await chat.auto(chats.NEW_MOMENT)).status_code == 202
    asked = len(chats.moments_asked(judging_worker.requests))
    capped = not_drawn(await Chat(strict_api, first.character_id, user).auto(chats.NEW_MOMENT), "daily_cap")
    assert capped["nextAt"].startswith(time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400)))
    assert len(chats.moments_asked(judging_worker.requests)) == asked


async def test_one_judgement_of_a_chat_at_a_time(
    eager_api: httpx.AsyncClient, pool: asyncpg.Pool, judging_worker: FakeGemini
) -> None:
    chat = await Chat.open(eager_api)
    await pool.execute(
        "insert into chats (user_id, chat_id, judging_until) values ($1, $2, now() + interval '30 seconds')",
        chat.user,
        chat.id,
    )
    not_drawn(await chat.auto(chats.NEW_MOMENT), "judging")
    assert chats.moments_asked(judging_worker.requests) == []


async def test_a_repeated_request_gets_its_scene_back_without_asking_again(
    eager_api: httpx.AsyncClient, judging_worker: FakeGemini
) -> None:
    chat = await Chat.open(eager_api)
    key = {"Idempotency-Key": f"turn-{uuid.uuid4()}"}
    body = {"chatId": chat.id, "characterIds": [chat.character_id], "messages": chats.messages(chats.NEW_MOMENT)}
    first = await eager_api.post(AUTO, json=body, headers=as_user(chat.user) | key)
    again = await eager_api.post(AUTO, json=body, headers=as_user(chat.user) | key)
    assert first.status_code == again.status_code == 202
    assert again.json()["jobId"] == first.json()["jobId"] and again.json()["replayed"] is True
    assert len(chats.moments_asked(judging_worker.requests)) == 1


async def test_without_gemini_nothing_is_drawn_while_scenes_asked_for_still_are(
    eager_api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    chat = await Chat.open(eager_api)
    async with build_cpu_worker(client, pool, store, settings):  # no GEMINI_API_KEY
        answer = not_drawn(await chat.auto(chats.NEW_MOMENT), "judge_unavailable")
        assert "GEMINI_API_KEY" in answer["reason"]
    asked_for = await eager_api.post(
        "/api/v1/image-generation/scene",
        json={"context": "Rem na estação", "characterIds": [chat.character_id], "chatId": chat.id},
        headers=as_user(chat.user),
    )
    assert asked_for.status_code == 202  # TRANSLATION_POLICY=warn: drawn untranslated, saying so


async def test_gemini_busy_past_its_retries_draws_nothing(
    eager_api: httpx.AsyncClient, client: Client, judging_worker: FakeGemini
) -> None:
    overloaded = error(503, "UNAVAILABLE", "The model is overloaded", retry_delay="1s")
    judging_worker.responder = lambda sent: overloaded if sent.instruction == MOMENT_INSTRUCTION else chats.judge(sent)
    chat = await Chat.open(eager_api)
    before = await chat.balance()
    earlier = await judgements(client)
    started = time.monotonic()
    answer = not_drawn(await chat.auto(chats.NEW_MOMENT), "judge_unavailable")
    assert "overloaded" in answer["reason"] and time.monotonic() - started < 30
    await record(client, await last_judgement(client, earlier), "chat_moment_gemini_busy")
    assert len(chats.moments_asked(judging_worker.requests)) == 3
    assert await chat.jobs() == [] and await chat.balance() == before


async def test_a_request_without_its_chat_is_refused_naming_the_field(eager_api: httpx.AsyncClient) -> None:
    chat = await Chat.open(eager_api)
    missing = await chat.api.post(AUTO, json={"messages": chats.messages(chats.NEW_MOMENT)}, headers=as_user(chat.user))
    assert missing.status_code == 422 and fields(missing) == ["chatId"]
    empty = await chat.api.post(AUTO, json={"chatId": chat.id, "messages": []}, headers=as_user(chat.user))
    assert empty.status_code == 422 and fields(empty) == ["messages"]
