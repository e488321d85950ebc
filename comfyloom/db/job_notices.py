"""Wake-ups for the job streams: Postgres notifies a job's user the moment a job is added or its status changes
(migration 019), and a stream waiting on that user looks at once, instead of at its next poll.

A hint, never the record: streams still look every POLL_SECONDS, so a notice lost (the listening connection down,
Postgres restarting) costs at most that, and nothing is missed. One listening connection per API process, outside
the pool (a pooled connection's reset would UNLISTEN it), opened at the first wait and again after it drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

import asyncpg

CHANNEL = "comfyloom_job_status"
# After the listening connection fails to open, the streams poll alone this long before it is tried again.
RECONNECT_SECONDS = 5.0

log = logging.getLogger(__name__)


class Wake:
    """One stream's wake-up: cleared before each look, so a notice that comes while it looks still wakes it."""

    def __init__(self, notices: JobNotices) -> None:
        self._notices = notices
        self._event = asyncio.Event()

    def clear(self) -> None:
        self._event.clear()

    def set(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> bool:
        """Until a notice since the last `clear`, or `seconds`; True when notified. Never longer: the listening
        connection opens beside it, not before it."""
        self._notices.ensure_listening()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
        return self._event.is_set()


class JobNotices:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._opening: asyncio.Task[None] | None = None
        self._retry_at = 0.0
        self._wakes: dict[str, set[Wake]] = {}

    @contextlib.contextmanager
    def subscribed(self, user_id: str) -> Iterator[Wake]:
        """A wake-up for `user_id`'s jobs, for as long as the stream lasts."""
        wake = Wake(self)
        wakes = self._wakes.setdefault(user_id, set())
        wakes.add(wake)
        try:
            yield wake
        finally:
            wakes.discard(wake)
            if not wakes:
                self._wakes.pop(user_id, None)

    def ensure_listening(self) -> None:
        """The listening connection open, or opening in the background; left closed for RECONNECT_SECONDS after
        it failed to open."""
        if self._conn is not None and not self._conn.is_closed():
            return
        if (self._opening is not None and not self._opening.done()) or time.monotonic() < self._retry_at:
            return
        self._opening = asyncio.get_running_loop().create_task(self._open())

    async def listen(self) -> None:
        """Until the listening connection is open (or failed to open)."""
        self.ensure_listening()
        if self._opening is not None:
            await asyncio.shield(self._opening)

    async def close(self) -> None:
        if self._opening is not None:
            self._opening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._opening
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _open(self) -> None:
        conn = None
        try:
            conn = await asyncpg.connect(self._dsn, timeout=5)
            await conn.add_listener(CHANNEL, self._notified)
        except Exception as e:  # a hint: whatever keeps it from opening, the streams poll
            self._retry_at = time.monotonic() + RECONNECT_SECONDS
            log.warning("job notices unavailable (%r): streams poll every look until they are back", e)
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
            return
        self._conn = conn

    def _notified(self, _conn: object, _pid: int, _channel: str, user_id: object) -> None:
        for wake in self._wakes.get(str(user_id), ()):
            wake.set()
