"""Starting an admitted job's run after its 202 has gone, so a client never waits on Temporal.

The transaction that admits a job also writes the note that starts its run (`comfyloom/start_outbox.py`), so the
answer can go once it commits: the run is started right after, here. A start that fails for a while
(Temporal away) or never comes (the API killed) is left to the note: the CPU worker's sweep starts it. A
job cancelled meanwhile is closed by the API and its run, if one starts, ends at `open_job`. Every note the
API writes is started here: a job's run, a repeated request's stranded one, a cancelled job's webhook. Under a burst
the start was most of an accept: 336 ms of 947 at p50 (docs/BENCHMARKS.md, "A fleet of GPUs").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from temporalio.client import Client

from comfyloom import start_outbox

log = logging.getLogger("comfyloom.api")

# Tries after the first, before the sweep takes over (every 15 s, for notes older than 30 s).
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)


class Launcher:
    """The API's starts in flight; `drain` lets them finish as the API stops."""

    def __init__(self, pool: asyncpg.Pool, temporal: Client) -> None:
        self._pool = pool
        self._temporal = temporal
        self._starting: set[asyncio.Task[None]] = set()

    def start(self, note: start_outbox.PendingStart) -> None:
        task = asyncio.create_task(self._launch(note), name=f"start {note.workflow_id}")
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _launch(self, note: start_outbox.PendingStart) -> None:
        for delay in (0.0, *RETRY_DELAYS):
            await asyncio.sleep(delay)
            if delay and await start_outbox.pending_for(self._pool, note.workflow_id) is None:
                return  # started meanwhile (a sweep, the same request again) or cancelled
            try:
                await start_outbox.launch(self._pool, self._temporal, note)
                return
            except Exception as e:  # Temporal or the database away: try again, then leave it to the sweep
                error = e
        log.warning("could not start %s (%r); a CPU worker's sweep starts it", note.workflow_id, error)

    async def drain(self, seconds: float) -> None:
        """Wait up to `seconds` for the starts in flight; the notes of any left cover them."""
        if self._starting:
            await asyncio.wait(self._starting, timeout=seconds)
        for task in list(self._starting):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
