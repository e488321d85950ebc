"""A user's jobs: status, the list, cancellation, and live progress streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Header, Query, WebSocket, WebSocketDisconnect, status
from fastapi.responses import StreamingResponse
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api import pages
from api.deps import (
    ON_BEHALF_OF,
    LauncherDep,
    NoticesDep,
    PoolDep,
    SettingsDep,
    StreamUserDep,
    TemporalDep,
    UserDep,
    acting_user,
    authenticate,
    bearer_or_token,
)
from api.errors import ApiError, responses
from api.generation import status_url
from api.job_stream import JobStream, open_stream, sse_frame
from api.owned import own_job
from api.schemas import JobEventOut, JobListOut, JobStatusOut, JobSummaryOut
from api.status import status_of, watch
from api.stranded import cancel_unstarted
from comfyloom.db import app_users, jobs
from comfyloom.db.jobs import JobStatus
from comfyloom.settings import Settings
from comfyloom.temporal import TEMPORAL_AWAY

router = APIRouter(prefix="/api/v1/image-generation", tags=["jobs"], responses=responses(401, 403, 422))


@router.get("/status/{job_id}", response_model=JobStatusOut, responses=responses(404))
async def job_status(
    job_id: str, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep, user_id: UserDep
) -> JobStatusOut:
    """A job's status now: `stage` is live from Temporal (with render `progress`; while it waits for a GPU, its
    `queue` place and estimate); a set lists its stickers."""
    return await status_of(pool, temporal, settings, await own_job(pool, job_id, user_id))


def summary(job: jobs.JobRow, settings: Settings) -> JobSummaryOut:
    return JobSummaryOut(
        **job.model_dump(
            include={
                "kind",
                "status",
                "character_id",
                "story_id",
                "workflow_id",
                "result_url",
                "error",
                "created_at",
                "finished_at",
            }
        ),
        job_id=job.id,
        status_url=status_url(job.id, settings),
    )


@router.get("/jobs", response_model=JobListOut)
async def list_jobs(
    pool: PoolDep,
    settings: SettingsDep,
    user_id: UserDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    kind: Annotated[
        str | None, Query(pattern=r"^(avatar|sticker|sticker_set|cover|scene)$", description="Only this kind.")
    ] = None,
    limit: pages.Limit = 20,
    cursor: pages.Cursor = None,
) -> JobListOut:
    """The caller's jobs, newest first, so a client can rebuild its view after a restart. A sticker set is
    one entry; its stickers are in its status."""
    rows = await jobs.list_jobs(pool, user_id, status=status, kind=kind, before=pages.decode(cursor), limit=limit + 1)
    return JobListOut(
        items=[summary(job, settings) for job in rows[:limit]], next_cursor=pages.next_cursor(rows, limit)
    )


@router.delete(
    "/jobs/{job_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobStatusOut,
    responses=responses(404, 409, 503),
)
async def cancel_job(
    job_id: str, pool: PoolDep, temporal: TemporalDep, settings: SettingsDep, launcher: LauncherDep, user_id: UserDep
) -> JobStatusOut:
    """Cancel a job: its render stops in ComfyUI, staged objects are removed, its credits come back, and its
    status ends `cancelled`. A sticker set cancels every sticker still running; a set's sticker, just itself.
    This cancels, it does not delete: the job stays in `/jobs`, and its status and events still answer.

    The answer is the job's status as the cancellation starts; follow the status or a stream to the end.
    """
    job = await own_job(pool, job_id, user_id)
    if job.status.terminal:
        raise ApiError(409, "already_finished", f"the job has already ended: {job.status.value}", field="jobId")
    try:
        await temporal.get_workflow_handle(job.workflow_id).cancel()
    except TEMPORAL_AWAY as e:
        if not isinstance(e, RPCError) or e.status != RPCStatusCode.NOT_FOUND:
            raise ApiError(503, "temporal_unavailable", "the job could not be cancelled; try again") from e
        await cancel_unstarted(pool, launcher, job)  # no run behind a live row: its start never came
    return await status_of(pool, temporal, settings, job)


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events, as described."},
        **responses(404),
    },
)
async def job_events(
    job_id: str,
    pool: PoolDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    notices: NoticesDep,
    user_id: StreamUserDep,
) -> StreamingResponse:
    """Server-sent events of a job: `status` events (a job status, as `GET /status/{jobId}` gives) at each
    change of status, stage or render step, then one `end` event with the final status, and the stream
    closes. For EventSource, which cannot send headers, the key may come as `?access_token=` (and a service
    key's app user as `?on_behalf_of=`)."""
    job = await own_job(pool, job_id, user_id)

    async def events() -> AsyncIterator[str]:
        async for seen in watch(pool, temporal, settings, notices, job):
            if seen is None:
                yield ": still working\n\n"
                continue
            event = "end" if seen.status.terminal else "status"
            yield f"event: {event}\ndata: {json.dumps(seen.as_json())}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


async def _socket_user(websocket: WebSocket) -> str:
    """The user of a WebSocket request, as `StreamUserDep` finds it for HTTP: the key as `Authorization: Bearer …`
    or `?access_token=`, a service key's app user in `X-On-Behalf-Of` or `?on_behalf_of=`.

    Raises:
    ApiError: 401, 403 or 422, as over HTTP."""
    pool: asyncpg.Pool = websocket.app.state.pool
    secret = bearer_or_token(websocket.headers.get("authorization"), websocket.query_params)
    key = await authenticate(pool, secret)
    named = websocket.headers.get(ON_BEHALF_OF) or websocket.query_params.get("on_behalf_of")
    if named is not None and not app_users.APP_USER_ID.fullmatch(named):
        raise ApiError(422, "validation_error", "not an app user id", field=ON_BEHALF_OF)
    return await acting_user(pool, key, named)


async def _refuse(websocket: WebSocket, error: ApiError) -> None:
    """A socket's refusal: one `{"error": …}` message, then close code 4000 + the HTTP status."""
    await websocket.send_json({"error": {"type": error.type, "message": error.message}})
    await websocket.close(code=4000 + error.status)


@router.websocket("/ws/{job_id}")
async def job_socket(websocket: WebSocket, job_id: str) -> None:
    """A job's statuses over a WebSocket, as the events stream sends them; the last one has ended, then the
    socket closes (1000). The key comes as `Authorization: Bearer …` or `?access_token=`; a refusal is one
    `{"error": …}` message, then close code 4000 + the HTTP status (4401, 4404). A service key names its app
    user in `X-On-Behalf-Of` or `?on_behalf_of=`."""
    await websocket.accept()
    pool: asyncpg.Pool = websocket.app.state.pool
    temporal: Client = websocket.app.state.temporal
    settings: Settings = websocket.app.state.settings
    try:
        job = await own_job(pool, job_id, await _socket_user(websocket))
    except ApiError as e:
        await _refuse(websocket, e)
        return
    try:
        async for seen in watch(pool, temporal, settings, websocket.app.state.notices, job):
            if seen is not None:
                await websocket.send_json(seen.as_json())
        await websocket.close(code=1000)
    except WebSocketDisconnect:
        return


ChatIdQuery = Annotated[
    str | None,
    Query(alias="chatId", min_length=1, max_length=200, description="Only this chat's jobs (a scene's `chatId`)."),
]
LastEventIdQuery = Annotated[
    str | None,
    Query(
        alias="lastEventId",
        max_length=100,
        description="Resume after this event id (for clients that cannot send `Last-Event-ID`).",
    ),
]
LastEventIdHeader = Annotated[
    str | None,
    Header(alias="Last-Event-ID", max_length=100, description="Resume after this event id; EventSource sends it."),
]


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        # The model names each event's `data` (and the WebSocket's messages), for typed clients.
        200: {"model": JobEventOut, "content": {"text/event-stream": {}}, "description": "Server-sent events."},
        **responses(404),
    },
)
async def job_event_stream(
    pool: PoolDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    notices: NoticesDep,
    user_id: StreamUserDep,
    chat_id: ChatIdQuery = None,
    last_event_id: LastEventIdHeader = None,
    last_event_id_query: LastEventIdQuery = None,
) -> StreamingResponse:
    """Server-sent events of every job of the caller (with `chatId`, of that chat's jobs only) as they move, on
    one connection that stays open until the client leaves (a comment line every 15 s while nothing happens).

    Each event is `id: <id>`, `event: <type>` and `data: <JSON>`, the JSON being `{"id", "event", "jobId",
    "chatId", "status", "reason"}`, `status` as `GET /status/{jobId}` gives it at that event. A job's events come
    in its order: `started` (it exists, stage queued), `stage` at each new stage (`building_prompt`,
    `waiting_for_gpu`, `rendering`, …; stages only go forward, and render steps make none: follow
    `/jobs/{jobId}/events` for those), then one of `ready` (`status.resultUrl`), `failed` (`status.error`) or
    `cancelled`. A sticker set is one job (its stickers are in its status).

    Resuming: EventSource sends the last id it saw as `Last-Event-ID` (or pass `?lastEventId=`); the events after
    it are sent first, in order, jobs that ended meanwhile included, then live ones: none is lost or sent twice.
    At most 200 are replayed: when more were missed, or the id is unknown, the stream begins with one `reset`
    event (no job; `reason` says why): rebuild your view from `GET /api/v1/image-generation/jobs`; live events
    follow, and the reset's id resumes after it. Without an id the stream begins now: first each job in flight's
    latest event (`started` or `stage`, ids from before now), so you know what is under way, then live events.

    A `chatId` you have never used (no job of yours in that chat; another user's chat is the same) is a 404
    naming `chatId`. For EventSource, which cannot send headers, the key may come as `?access_token=` (and a
    service key's app user as `?on_behalf_of=`)."""
    stream = await open_stream(
        pool, temporal, settings, notices, user_id, chat_id, last_event_id or last_event_id_query
    )

    async def events() -> AsyncIterator[str]:
        async for event in stream.follow():
            yield sse_frame(event)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.websocket("/ws")
async def job_event_socket(websocket: WebSocket) -> None:
    """Every job of the caller (with `?chatId=`, of that chat) over one WebSocket, as `GET /events` sends them:
    each message is `{"id", "event", "jobId", "chatId", "status"}`; the socket stays open until the client leaves.
    Resume with `?lastEventId=`. The key, the app user and refusals as `/ws/{jobId}`: an unknown `chatId` is an
    `{"error": …}` message, then close code 4404."""
    await websocket.accept()
    pool: asyncpg.Pool = websocket.app.state.pool
    temporal: Client = websocket.app.state.temporal
    settings: Settings = websocket.app.state.settings
    chat_id = websocket.query_params.get("chatId")
    try:
        user_id = await _socket_user(websocket)
        if chat_id is not None and not 1 <= len(chat_id) <= 200:
            raise ApiError(422, "validation_error", "chatId has 1 to 200 characters", field="chatId")
        notices = websocket.app.state.notices
        stream = await open_stream(
            pool, temporal, settings, notices, user_id, chat_id, websocket.query_params.get("lastEventId")
        )
    except ApiError as e:
        await _refuse(websocket, e)
        return
    await _send_until_gone(websocket, stream)


async def _send_until_gone(websocket: WebSocket, stream: JobStream) -> None:
    """The stream's events until the client leaves, which only a receive sees: one task sends, one listens."""

    async def send() -> None:
        async for event in stream.follow():
            if event is not None:
                await websocket.send_json(event.as_json())

    async def listen() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass  # what the client sends is not read

    tasks = [asyncio.create_task(send()), asyncio.create_task(listen())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, Exception) and not isinstance(outcome, WebSocketDisconnect | OSError):
            raise outcome
