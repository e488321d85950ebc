"""One stream per user or chat (`GET /events`, `WS /ws`): every job of its subject as it moves, each job's events
in its order, once each under one id for every stream, resumable from the last id a client saw, within a bound."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from temporalio.client import Client
from websockets.exceptions import ConnectionClosed

from api.schemas import JobStatusOut
from comfyloom.contracts.domain import Stage
from comfyloom.db import job_events, jobs
from comfyloom.db.job_notices import JobNotices
from comfyloom.db.jobs import JobStatus
from comfyloom.settings import Settings
from tests.helpers.auth import as_user
from tests.helpers.jobs import create_character, done, start_avatar, terminate_runs_of, wait_for
from tests.helpers.parts import LocalParts

EVENTS = "/api/v1/image-generation/events"
AVATAR = "/api/v1/image-generation/avatar"
SCENE = "/api/v1/image-generation/scene"
# A job's stages, as its events show them, when it renders to the end (`waiting_for_gpu` left out: it is seen only
# when the GPU worker is slow to take the render).
EVERY_STAGE = ["queued", "building_prompt", "rendering", "converting", "saving", "done"]


@dataclass
class Event:
    id: str
    event: str
    data: dict[str, Any]

    @property
    def job(self) -> str | None:
        job: str | None = self.data["jobId"]
        return job

    @property
    def stage(self) -> str:
        stage: str = self.data["status"]["stage"]
        return stage


class Received:
    """What a stream has sent so far, and a way to wait for more."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._more = asyncio.Event()

    def add(self, event: Event) -> None:
        self.events.append(event)
        self._more.set()

    async def until(self, enough: Callable[[list[Event]], bool], within: float = 90) -> list[Event]:
        deadline = time.monotonic() + within
        while not enough(self.events):
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; received {[(e.id, e.event, e.job) for e in self.events]}"
            self._more.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._more.wait(), left)
        return list(self.events)

    async def quiet_for(self, seconds: float) -> list[Event]:
        """What arrives in the next `seconds`."""
        before = len(self.events)
        await asyncio.sleep(seconds)
        return self.events[before:]


@contextlib.asynccontextmanager
async def sse(
    api: httpx.AsyncClient,
    headers: dict[str, str] | None = None,
    *,
    params: dict[str, str] | None = None,
    last_event_id: str | None = None,
) -> AsyncIterator[Received]:
    """A server-sent event stream, read in the background, entered once its response has begun."""
    received = Received()
    sent = {**(headers or {}), **({"Last-Event-ID": last_event_id} if last_event_id is not None else {})}
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=httpx.Timeout(30, read=None)) as browser:
        async with browser.stream("GET", EVENTS, params=params, headers=sent) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")

            async def read() -> None:
                fields: dict[str, str] = {}
                async for line in response.aiter_lines():
                    if not line:
                        if "data" in fields:
                            data = json.loads(fields["data"])
                            assert (data["id"], data["event"]) == (fields["id"], fields["event"]), fields
                            received.add(Event(fields["id"], fields["event"], data))
                        fields = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        fields[name] = value

            reader = asyncio.create_task(read())
            try:
                yield received
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader


def ws_url(api: httpx.AsyncClient, **params: str) -> str:
    query = str(httpx.QueryParams(params))
    return f"{str(api.base_url).replace('http://', 'ws://')}/api/v1/image-generation/ws" + (
        f"?{query}" if query else ""
    )


@contextlib.asynccontextmanager
async def socket(api: httpx.AsyncClient, headers: dict[str, str], **params: str) -> AsyncIterator[Received]:
    """The stream's WebSocket twin, read in the background."""
    received = Received()
    async with websockets.connect(ws_url(api, **params), additional_headers=headers) as ws:

        async def read() -> None:
            async for frame in ws:
                data = json.loads(frame)
                assert "error" not in data, data
                received.add(Event(data["id"], data["event"], data))

        reader = asyncio.create_task(read())
        try:
            yield received
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await reader


async def new_user(api: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    """A user of this test alone (the log is per user), whose key is stored."""
    user = f"streamer-{uuid.uuid4().hex[:10]}"
    headers = as_user(user)
    assert (await api.get("/api/v1/credits", headers=headers)).status_code == 200
    return user, headers


def a_seed() -> int:
    return random.randrange(10**9, 2**40)


async def fault(local_parts: LocalParts, **fault: Any) -> None:
    async with httpx.AsyncClient() as http:
        (await http.post(f"{local_parts.comfyui_url}/sim/faults", json=fault)).raise_for_status()


async def start(api: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> str:
    response = await api.post(path, json=body, headers=headers)
    assert response.status_code == 202, response.text
    job: str = response.json()["jobId"]
    return job


def ended(*job_ids: str) -> Callable[[list[Event]], bool]:
    return lambda events: all(
        any(e.job == j and e.event in ("ready", "failed", "cancelled") for e in events) for j in job_ids
    )


def of(events: list[Event], job_id: str) -> list[Event]:
    return [e for e in events if e.job == job_id]


def stages(events: list[Event]) -> list[str]:
    return [e.stage for e in events if e.stage != "waiting_for_gpu"]


def assert_in_order(events: list[Event]) -> None:
    """Ids increase; each job's events move it forward, `started` first and nothing after its end."""
    ids = [int(e.id) for e in events]
    assert ids == sorted(set(ids)), ids
    order = list(Stage)
    for job in {e.job for e in events}:
        mine = of(events, job)  # type: ignore[arg-type]
        places = [order.index(Stage(e.stage)) for e in mine]
        assert places == sorted(set(places)), [e.stage for e in mine]
        assert [e.event for e in mine[1:-1]] == ["stage"] * (len(mine) - 2), [e.event for e in mine]


def assert_whole(events: list[Event], job_id: str, end: str = "ready") -> dict[str, Any]:
    """The job's events are all there: started, each stage, its end. Returns its final status."""
    mine = of(events, job_id)
    assert mine[0].event == "started" and mine[-1].event == end, [(e.event, e.stage) for e in mine]
    assert [e.event for e in mine[1:-1]] == ["stage"] * (len(mine) - 2)
    final: dict[str, Any] = mine[-1].data["status"]
    assert final["jobId"] == job_id and final["status"] == end
    return final


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_users_stream_carries_each_of_their_jobs_from_started_to_ready(api: httpx.AsyncClient) -> None:
    user, headers = await new_user(api)
    character = await create_character(api, user)
    async with sse(api, headers) as stream:
        jobs_ = [await start(api, AVATAR, {"characterId": character["id"]}, headers) for _ in range(2)]
        events = await stream.until(ended(*jobs_))
    assert {e.job for e in events} == set(jobs_)
    assert_in_order(events)
    for job in jobs_:
        final = assert_whole(events, job)
        assert stages(of(events, job)) == EVERY_STAGE
        assert final["resultUrl"].endswith(".webp") and final["stage"] == "done"
        assert all(e.data["chatId"] is None for e in of(events, job))
    # A job's status in its events is the one `/status` gives.
    assert (
        of(events, jobs_[0])[-1].data["status"]
        == (await api.get(f"/api/v1/image-generation/status/{jobs_[0]}", headers=headers)).json()
    )


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_chat_stream_carries_only_that_chats_scenes(api: httpx.AsyncClient, local_parts: LocalParts) -> None:
    user, headers = await new_user(api)
    character = await create_character(api, user)
    slow = a_seed()
    await fault(local_parts, kind="slow", seconds=3.0, seed=slow)
    async with sse(api, headers) as everything:
        # A scene already rendering when the chat's stream opens: the stream says where it stands, then goes on.
        first = await start(
            api, SCENE, {"context": "Uma praia ao pôr do sol.", "chatId": "chat-a", "seed": slow}, headers
        )
        await everything.until(lambda events: any(e.job == first and e.stage == "rendering" for e in events))
        async with sse(api, headers, params={"chatId": "chat-a"}) as chat:
            second = await start(api, SCENE, {"context": "Uma cidade à noite, chuva.", "chatId": "chat-a"}, headers)
            elsewhere = [
                await start(api, SCENE, {"context": "Um jardim florido.", "chatId": "chat-b"}, headers),
                await start(api, AVATAR, {"characterId": character["id"]}, headers),
            ]
            in_chat = await chat.until(ended(first, second))
            everyone = await everything.until(ended(first, second, *elsewhere))
            in_chat += await chat.quiet_for(1.0)
    assert {e.job for e in in_chat} == {first, second} and {e.data["chatId"] for e in in_chat} == {"chat-a"}
    assert_in_order(in_chat)
    # The scene in flight is announced where it stood, its last event before the stream began; then it goes on.
    announced = of(in_chat, first)
    assert announced[0].event in ("started", "stage") and announced[-1].event == "ready"
    assert [e.id for e in of(everyone, first)][-len(announced) :] == [e.id for e in announced]
    # The scene started after it opened: whole, under the ids every stream of the user sees.
    assert_whole(in_chat, second)
    assert stages(of(in_chat, second)) == EVERY_STAGE
    assert [e.id for e in of(in_chat, second)] == [e.id for e in of(everyone, second)]
    assert {e.data["chatId"] for e in of(everyone, elsewhere[0])} == {"chat-b"}
    assert {e.data["chatId"] for e in of(everyone, elsewhere[1])} == {None}


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_client_back_after_a_drop_gets_what_it_missed_once_and_in_order(
    api: httpx.AsyncClient, local_parts: LocalParts
) -> None:
    user, headers = await new_user(api)
    character = await create_character(api, user)
    seeds = [a_seed(), a_seed()]
    for seed in seeds:
        await fault(local_parts, kind="slow", seconds=1.5, seed=seed)
    async with sse(api, headers) as stream:
        jobs_ = [await start(api, AVATAR, {"characterId": character["id"], "seed": seed}, headers) for seed in seeds]
        await stream.until(lambda events: any(e.event == "stage" for e in events))
        before = list(stream.events)
    # Gone: no stream of the user is open while the jobs finish.
    for job in jobs_:
        assert (await wait_for(api, job, done, headers=headers))["status"] == "ready"
    assert all(not ended(job)(before) for job in jobs_)
    async with sse(api, headers, last_event_id=before[-1].id) as resumed:
        after = await resumed.until(ended(*jobs_))
        after += await resumed.quiet_for(0.5)
    events = before + after
    assert_in_order(events)
    for job in jobs_:
        assert_whole(events, job)
        assert stages(of(events, job)) == EVERY_STAGE
    # The WebSocket resumes the same way, from `?lastEventId=`, with the same events under the same ids.
    async with socket(api, headers, lastEventId=before[-1].id) as again:
        replayed = await again.until(lambda events: len(events) >= len(after))
        replayed += await again.quiet_for(0.5)
    assert [(e.id, e.event, e.job, e.stage) for e in replayed] == [(e.id, e.event, e.job, e.stage) for e in after]


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_two_streams_of_a_user_get_the_same_events_under_the_same_ids(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    user, headers = await new_user(api)
    character = await create_character(api, user)
    key = headers["Authorization"].removeprefix("Bearer ")
    async with sse(api, headers) as phone, sse(api, params={"access_token": key}) as laptop:
        job = await start(api, AVATAR, {"characterId": character["id"]}, headers)
        seen = [await stream.until(ended(job)) for stream in (phone, laptop)]
    assert [(e.id, e.event, e.stage) for e in seen[0]] == [(e.id, e.event, e.stage) for e in seen[1]]
    assert_whole(seen[0], job)
    # Each event is in the log once.
    logged = await pool.fetch("select id from job_events where user_id = $1 order by id", user)
    assert [r["id"] for r in logged] == [int(e.id) for e in seen[0]]


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_failed_job_ends_its_events_with_the_reason(api: httpx.AsyncClient, local_parts: LocalParts) -> None:
    user, headers = await new_user(api)
    character = await create_character(api, user)
    seed = a_seed()
    await fault(local_parts, kind="fail", node="8", message="decoder exploded", seed=seed)
    async with sse(api, headers) as stream:
        job = await start(api, AVATAR, {"characterId": character["id"], "seed": seed}, headers)
        events = await stream.until(ended(job))
    final = assert_whole(events, job, end="failed")
    assert "node 8 (VAEDecode) raised RuntimeError" in final["error"] and final["resultUrl"] is None
    assert stages(of(events, job)) == ["queued", "building_prompt", "rendering", "failed"]


async def service_key(api: httpx.AsyncClient) -> str:
    created = await api.post(
        "/api/v1/admin/api-keys",
        json={"tenant": f"app-{uuid.uuid4().hex[:8]}", "name": "backend"},
        headers=as_user("ops", admin=True),
    )
    assert created.status_code == 201, created.text
    secret: str = created.json()["key"]
    return secret


async def refused_socket(api: httpx.AsyncClient, headers: dict[str, str], **params: str) -> tuple[dict[str, Any], int]:
    async with websockets.connect(ws_url(api, **params), additional_headers=headers) as ws:
        message: dict[str, Any] = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code is not None
    return message, ws.close_code


async def test_another_users_chat_is_not_found_and_an_app_user_sees_only_their_own_jobs(
    api: httpx.AsyncClient,
) -> None:
    # No worker runs: the jobs stay queued, which is enough to be `started`.
    _, mine = await new_user(api)
    _, theirs = await new_user(api)
    scene = await start(api, SCENE, {"context": "Uma praia ao pôr do sol.", "chatId": "private"}, mine)
    async with sse(api, mine, params={"chatId": "private"}) as stream:
        [event] = await stream.until(lambda events: len(events) >= 1)
    assert (event.event, event.job, event.data["chatId"]) == ("started", scene, "private")
    for headers, chat in ((theirs, "private"), (mine, "nowhere")):
        response = await api.get(EVENTS, params={"chatId": chat}, headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["type"] == "not_found"
        assert response.json()["error"]["fields"][0]["field"] == "chatId"
        message, code = await refused_socket(api, headers, chatId=chat)
        assert message["error"]["type"] == "not_found" and code == 4404
    assert (await api.get(EVENTS, params={"chatId": ""}, headers=mine)).status_code == 422
    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        assert (await anonymous.get(EVENTS)).status_code == 401
    assert (await refused_socket(api, {}))[1] == 4401

    # A service key acting for one app user sees that user's jobs, not another's of the same app.
    secret = await service_key(api)
    maria = {"Authorization": f"Bearer {secret}", "X-On-Behalf-Of": "maria"}
    joao = {"Authorization": f"Bearer {secret}", "X-On-Behalf-Of": "joao"}
    granted = await api.post("/api/v1/credits/grants", json={"amount": 10}, headers=maria)
    assert granted.status_code == 200, granted.text
    # EventSource's way: the key and the app user as query parameters.
    as_query = {"access_token": secret, "on_behalf_of": "maria"}
    async with sse(api, params=as_query) as marias, sse(api, joao) as joaos:
        hers = await start(api, SCENE, {"context": "Um jardim florido.", "chatId": "maria-chat"}, maria)
        [started] = await marias.until(lambda events: len(events) >= 1)
        assert (started.event, started.job) == ("started", hers)
        assert await joaos.quiet_for(1.0) == [] and joaos.events == []
    response = await api.get(EVENTS, params={"chatId": "maria-chat"}, headers=joao)
    assert response.status_code == 404
    message, code = await refused_socket(api, joao, chatId="maria-chat")
    assert code == 4404
    for job, headers in ((scene, mine), (hers, maria)):
        await api.delete(f"/api/v1/image-generation/jobs/{job}", headers=headers)


async def job_without_run(pool: asyncpg.Pool, user: str) -> tuple[jobs.JobRow, dict[str, Any]]:
    """A job no run draws (it stays queued: looks see nothing new), and its status as an event carries it, so a
    test can write its events as a stream would, cheaply."""
    job = await jobs.create_job(
        pool,
        job_id=uuid.uuid4(),
        user_id=user,
        kind="avatar",
        character_id=None,
        workflow_id=f"no-run-{uuid.uuid4()}",
        request={},
    )
    status = JobStatusOut(
        **job.model_dump(include={"kind", "status", "character_id", "story_id", "workflow_id", "result_url", "error"}),
        warnings=[],
        job_id=job.id,
        stage=Stage.queued,
        created_at=job.created_at,
        started_at=None,
        finished_at=None,
    ).model_dump(mode="json", by_alias=True)
    assert status["status"] == JobStatus.queued
    return job, status


async def test_writers_at_once_log_each_event_once_in_order_and_a_reader_misses_none(pool: asyncpg.Pool) -> None:
    """What two streams (or replicas) observing the same jobs do to the log, many times over, while a stream reads
    it as it grows: each event is written once, each job's in its order, and ids commit in order for the user, so
    a reader of `id > cursor` never steps over a row that commits late."""
    user = f"writers-{uuid.uuid4().hex[:10]}"
    made = [await job_without_run(pool, user) for _ in range(4)]
    ranks = 10

    async def observer(job: jobs.JobRow, status: dict[str, Any], seed: int) -> None:
        # Each observer sees the job a little further along each time, as looks at a moving job do.
        rng = random.Random(seed)
        for seen in [*sorted(rng.sample(range(1, ranks + 1), 5)), ranks]:
            events = [job_events.NewEvent("started" if r == 0 else "stage", "queued", r, status) for r in range(seen)]
            await job_events.append(pool, user_id=user, job_id=job.id, chat_id=None, events=events)
            await asyncio.sleep(0)

    read: list[job_events.EventRow] = []

    async def reader() -> None:
        cursor = 0
        while len(read) < len(made) * ranks:
            rows = await job_events.after(pool, user, None, cursor, limit=1000)
            read.extend(rows)
            cursor = rows[-1].id if rows else cursor

    following = asyncio.create_task(reader())
    try:
        await asyncio.gather(*(observer(job, status, seed) for job, status in made for seed in range(5)))
        await asyncio.wait_for(following, 30)
    finally:
        following.cancel()
    logged = await pool.fetch("select id, job_id, rank from job_events where user_id = $1 order by id", user)
    assert [r.id for r in read] == [r["id"] for r in logged]
    for job, _ in made:
        assert [r["rank"] for r in logged if r["job_id"] == job.id] == list(range(ranks))


async def test_more_than_200_missed_events_are_a_reset_then_live_events(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    user, headers = await new_user(api)
    job, status = await job_without_run(pool, user)

    async def write(ranks: range) -> list[job_events.EventRow]:
        events = [job_events.NewEvent("started" if r == 0 else "stage", "queued", r, status) for r in ranks]
        return await job_events.append(pool, user_id=user, job_id=job.id, chat_id=None, events=events)

    [first] = await write(range(1))
    missed = await write(range(1, 201))
    assert len(missed) == 200
    # Exactly 200 missed: all replayed, in order, no reset.
    async with sse(api, headers, last_event_id=str(first.id)) as stream:
        replayed = await stream.until(lambda events: len(events) >= 200)
        replayed += await stream.quiet_for(0.5)
    assert [int(e.id) for e in replayed] == [row.id for row in missed]

    [one_more] = await write(range(201, 202))
    for last_event_id in (str(first.id), "999999999999", "not-an-id"):
        async with sse(api, headers, last_event_id=last_event_id) as stream:
            [reset] = await stream.until(lambda events: len(events) >= 1)
            assert reset.event == "reset" and reset.data["jobId"] is None and reset.data["status"] is None
            assert "GET /api/v1/image-generation/jobs" in reset.data["reason"], reset.data
            assert reset.id == str(one_more.id)  # live from the newest
    # ...and what follows a reset is live.
    async with socket(api, headers, lastEventId=str(first.id)) as stream:
        [reset] = await stream.until(lambda events: len(events) >= 1)
        assert reset.event == "reset" and reset.id == str(one_more.id)
        [live] = await write(range(202, 203))
        events = await stream.until(lambda events: len(events) >= 2)
    assert [(e.event, int(e.id)) for e in events] == [("reset", one_more.id), ("stage", live.id)]
    # Another user's event id is unknown here too.
    _, others = await new_user(api)
    async with sse(api, others, last_event_id=str(live.id)) as stream:
        [reset] = await stream.until(lambda events: len(events) >= 1)
    assert reset.event == "reset" and reset.id == "0"
    await pool.execute("delete from generation_jobs where id = $1", job.id)
    assert await pool.fetchval("select count(*) from job_events where job_id = $1", job.id) == 0


async def test_a_job_added_or_changing_status_wakes_its_users_streams_and_no_one_elses(
    api: httpx.AsyncClient, pool: asyncpg.Pool, client: Client, settings: Settings
) -> None:
    """Streams look every POLL_SECONDS, and at once when Postgres says a job of their user was added or changed
    status (its trigger's notice), so a client hears `ready` as the job is recorded."""
    user = f"notice-{uuid.uuid4().hex[:8]}"
    assert settings.database_url
    notices = JobNotices(settings.database_url)
    try:
        with notices.subscribed(user) as wake, notices.subscribed(f"{user}-other") as other:
            await notices.listen()
            accepted = await start_avatar(api, user)
            assert await wake.wait(30), "a job added woke its user's stream"
            wake.clear()
            await pool.execute(
                "update generation_jobs set status = 'running' where id = $1", uuid.UUID(accepted["jobId"])
            )
            assert await wake.wait(30), "a status changed woke it"
            wake.clear()
            await pool.execute(
                "update generation_jobs set updated_at = now() where id = $1", uuid.UUID(accepted["jobId"])
            )
            assert not await wake.wait(0.5), "a change that is not its status does not"
            assert not await other.wait(0), "nor does another user's job"
    finally:
        await notices.close()
        await terminate_runs_of(pool, client, [user])


async def test_with_postgres_unreachable_a_stream_waits_out_its_look_as_before() -> None:
    notices = JobNotices("postgresql://comfyloom@127.0.0.1:9/nowhere")
    try:
        with notices.subscribed("anyone") as wake:
            assert await wake.wait(0.3) is False
            await notices.listen()  # failed: left closed, a warning logged, nothing raised
            assert await wake.wait(0.1) is False
    finally:
        await notices.close()
