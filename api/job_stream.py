"""One stream per user or chat: every job of its subject as it moves (started, stage changes, ready, failed,
cancelled), resumable from the last event id a client saw.

The events come from a log in Postgres (comfyloom/db/job_events.py), shared by every API process, so two streams of
one user see the same events under the same ids. Nothing else writes a job's stages down (they live in Temporal), so
the streams write the log themselves: every look (POLL_SECONDS, as the per-job stream), a stream observes its
subject's unfinished jobs, and those ended since its cursor whose end is not in the log, as `api/status.observe`
sees them with the stages each has passed (a job that started and ended while no stream was open is filled in, in
order, from those); it appends what moves each job forward, then sends what the log holds after its cursor.

A job's events, in order: `started` (stage queued), a `stage` event at each new stage (render steps make none), then
one of `ready`, `failed` or `cancelled`. Stages only go forward (RANKS): a stage a job goes back to (a render tried
again waits for a GPU again) is not sent, nor one seen late by a slower stream; the per-job stream shows each change.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
from temporalio.client import Client

from api.errors import not_found
from api.live_stage import live_stage
from api.schemas import JobEventOut, JobStatusOut
from api.status import ENDED_LOOKS, IDLE_SECONDS, POLL_SECONDS, at_stage, observe
from comfyloom.contracts.domain import Stage
from comfyloom.db import chats, job_events
from comfyloom.db.job_notices import JobNotices
from comfyloom.db.jobs import JobStatus
from comfyloom.settings import Settings
from comfyloom.temporal import TEMPORAL_AWAY

# A client resuming gets at most this many events it missed; past that, a `reset`.
MAX_REPLAY = 200
# Jobs a look observes, at most: each is a progress query to Temporal, four times a second. A user rarely has more
# than a handful in flight; past this many, the oldest go first and the rest are seen as those end.
JOBS_A_LOOK = 50
# Events read from the log at once; more are read at once after, without waiting for the next look.
READ_AT_ONCE = 200
# A job whose row ended up to this long before a stream's cursor was written (or before the stream began), with no end
# in the log, is still looked at: `finished_at` is its transaction's start, which may come before an event written
# while it committed, and a stream that closed meanwhile never saw it end.
ENDED_SLACK = timedelta(minutes=1)

# A job's order: a stage event is written only above the job's last (comfyloom/db/job_events.py); `started` is 0.
RANKS: dict[Stage, int] = {
    Stage.queued: 0,
    Stage.building_prompt: 1,
    Stage.waiting_for_translation: 2,
    Stage.waiting_for_gpu: 3,
    Stage.rendering: 4,
    Stage.cancelling: 5,
    Stage.converting: 6,
    Stage.uploading: 7,
    Stage.saving: 8,
}
END_RANK = max(RANKS.values()) + 1
END_EVENTS = {JobStatus.ready: "ready", JobStatus.failed: "failed", JobStatus.cancelled: "cancelled"}
REBUILD = "rebuild your view from GET /api/v1/image-generation/jobs; live events follow from here"
EVENT_ID = re.compile(r"[0-9]{1,18}")


class JobStream:
    """A user's (or one of their chats') stream, from where its client left it."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        temporal: Client,
        settings: Settings,
        notices: JobNotices,
        user_id: str,
        chat_id: str | None,
    ) -> None:
        self.pool, self.temporal, self.settings, self.notices = pool, temporal, settings, notices
        self.user_id, self.chat_id = user_id, chat_id
        # The last event sent; jobs ended since `since` without an end in the log are observed too.
        self.cursor = 0
        self.since = datetime.min.replace(tzinfo=UTC)
        # Sent before the log's events: a reset, and where each job in flight stands.
        self.first: list[JobEventOut] = []
        # Looks at an ended job whose run did not say which stages it passed.
        self.unanswered: dict[UUID, int] = {}

    async def start(self, last_event_id: str | None) -> None:
        """Where the stream begins: after `last_event_id` when the log has it and at most MAX_REPLAY events follow
        it; else from now: after a `reset` if an id was given (the client rebuilds its view from the jobs list), or
        first announcing the jobs in flight if none was."""
        start = None
        if last_event_id is not None and EVENT_ID.fullmatch(last_event_id):
            start = await job_events.find(self.pool, self.user_id, int(last_event_id))
        reason = None
        if last_event_id is not None and start is None:
            reason = f"event {last_event_id[:40]!r} is unknown (not yours, or its job was deleted)"
        elif start is not None:
            self.cursor, self.since = start.id, start.created_at - ENDED_SLACK
            if await self._missed() <= MAX_REPLAY:
                await self._look()  # what ended while no stream was open, filled in
                if await self._missed() <= MAX_REPLAY:
                    return
            reason = f"more than {MAX_REPLAY} events were missed"
        _, now = await job_events.newest(self.pool, self.user_id)
        self.since = now - ENDED_SLACK
        await self._look()
        self.cursor, _ = await job_events.newest(self.pool, self.user_id)
        if reason is not None:
            self.first.append(
                JobEventOut(
                    id=str(self.cursor), event="reset", job_id=None, chat_id=self.chat_id, reason=f"{reason}: {REBUILD}"
                )
            )
            return
        # Each job's last event up to the cursor, so the client knows what is in flight; what follows is live.
        in_flight = await job_events.in_flight(self.pool, self.user_id, self.chat_id, self.cursor)
        self.first += [self._out(row) for row in in_flight]

    async def follow(self) -> AsyncIterator[JobEventOut | None]:
        """The events, then each new one as the looks write it; None after IDLE_SECONDS of nothing. Endless."""
        quiet_since = time.monotonic()
        for event in self.first:
            yield event
        self.first = []
        with self.notices.subscribed(self.user_id) as wake:
            while True:
                rows = await job_events.after(self.pool, self.user_id, self.chat_id, self.cursor, limit=READ_AT_ONCE)
                for row in rows:
                    yield self._out(row)
                    self.cursor = row.id
                if rows:
                    quiet_since = time.monotonic()
                    if len(rows) == READ_AT_ONCE:
                        continue
                elif time.monotonic() - quiet_since > IDLE_SECONDS:
                    yield None
                    quiet_since = time.monotonic()
                # A job started or ended looks at once; a stage moved is seen at the next look.
                await wake.wait(POLL_SECONDS)
                wake.clear()
                await self._look()

    async def _missed(self) -> int:
        return await job_events.count_after(self.pool, self.user_id, self.chat_id, self.cursor, up_to=MAX_REPLAY + 1)

    async def _look(self) -> None:
        """Observe the subject's jobs that may move, one query for them, and log what moved."""
        watched = await job_events.watched_jobs(
            self.pool, self.user_id, self.chat_id, ended_since=self.since, limit=JOBS_A_LOOK
        )
        outcomes = await asyncio.gather(*(self._observe(w) for w in watched), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _observe(self, watched: job_events.WatchedJob) -> None:
        job = watched.job
        try:
            if watched.rank is not None and not job.status.terminal:
                # Where its run is, from Temporal alone (its JobStatus, in a describe): when that is no further than
                # its last event, nothing moved, and no CPU worker is asked which stages it passed. Most looks.
                now = await live_stage(self.temporal, job)
                if RANKS.get(now.stage, END_RANK) <= watched.rank:
                    return
            status, passed = await observe(self.pool, self.temporal, self.settings, job, with_passed=True)
        except TEMPORAL_AWAY:
            return  # Temporal away: the next look sees it
        events = self._events(job.id, status, passed)
        if events and (watched.rank is None or events[-1].rank > watched.rank):
            await job_events.append(self.pool, user_id=job.user_id, job_id=job.id, chat_id=job.chat_id, events=events)

    def _events(self, job_id: UUID, status: JobStatusOut, passed: list[Stage] | None) -> list[job_events.NewEvent]:
        """The job's events as this look sees them, from `started` on (the log keeps those it lacks)."""
        ended = status.status.terminal
        if passed is None:
            # The run did not answer which stages it passed (a CPU worker busy, a closed run replaying): a job
            # going on is known to exist; an ended one waits a few looks for them, then is logged without them.
            if not ended:
                return [self._started(status)]
            self.unanswered[job_id] = self.unanswered.get(job_id, 0) + 1
            if self.unanswered[job_id] < ENDED_LOOKS:
                return []
            passed = []
        # The run's last stage is the one shown now (`status.stage`, which may say more: waiting for a GPU), unless
        # the job has ended: it is ready before its run ends, so each stage the run passed is one the job passed.
        stages = passed if ended else [*passed[:-1], status.stage]
        events = [self._started(status)]
        for i, stage in enumerate(stages):
            rank = RANKS.get(stage)
            if rank is None or rank <= events[-1].rank:
                continue
            shown = status if not ended and i == len(stages) - 1 else at_stage(status, stage)
            events.append(job_events.NewEvent("stage", stage.value, rank, shown.as_json()))
        if ended:
            end = END_EVENTS[status.status]
            events.append(job_events.NewEvent(end, status.stage.value, END_RANK, status.as_json()))
        return events

    @staticmethod
    def _started(status: JobStatusOut) -> job_events.NewEvent:
        shown = (
            status if status.stage is Stage.queued and not status.status.terminal else at_stage(status, Stage.queued)
        )
        return job_events.NewEvent("started", Stage.queued.value, RANKS[Stage.queued], shown.as_json())

    @staticmethod
    def _out(row: job_events.EventRow) -> JobEventOut:
        return JobEventOut(
            id=str(row.id),
            event=row.event,  # the table's check holds it to the event types
            job_id=row.job_id,
            chat_id=row.chat_id,
            status=JobStatusOut.model_validate(row.status),
        )


async def open_stream(
    pool: asyncpg.Pool,
    temporal: Client,
    settings: Settings,
    notices: JobNotices,
    user_id: str,
    chat_id: str | None,
    last_event_id: str | None,
) -> JobStream:
    """The stream of `user_id`'s jobs (those of `chat_id` only, when given), started (see `JobStream.start`) before
    the response begins, so a job started after the client has the response is on it from `started`.

    Raises:
    ApiError: 404 naming `chatId` for a chat the user has no job in and no row of (another user's is the same 404).
    """
    if chat_id is not None and not await chats.known(pool, user_id, chat_id):
        raise not_found("chat", chat_id, field="chatId")
    stream = JobStream(pool, temporal, settings, notices, user_id, chat_id)
    await stream.start(last_event_id)
    return stream


def sse_frame(event: JobEventOut | None) -> str:
    if event is None:
        return ": still working\n\n"
    return f"id: {event.id}\nevent: {event.event}\ndata: {json.dumps(event.as_json())}\n\n"
