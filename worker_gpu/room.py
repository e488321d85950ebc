"""How many jobs the GPU worker takes from the shared queue: only as many as its ComfyUI has room for.

Temporal hands a worker a task only after the worker reserved a slot for it. A fixed number of slots let a
worker whose ComfyUI already held its backlog take more jobs and keep them waiting, while another GPU
worker sat idle. Here a slot is reserved only while ComfyUI's backlog plus the slots already out is below
COMFY_BACKLOG, so the rest of the queue stays in Temporal for whichever GPU frees up first.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from temporalio.worker import (
    CustomSlotSupplier,
    FixedSizeSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
    WorkerTuner,
)

from comfyloom.comfyui.client import ComfyClient, ComfyError, ComfyEvents

# Looked at again this often while full, in case ComfyUI's WebSocket (which says when its queue changes) is down.
RECHECK_SECONDS = 0.5


class ComfyRoom(CustomSlotSupplier):
    """Slots for `queue_comfy_prompt`: one per place free in this worker's ComfyUI backlog.

    A slot is out from its reservation (before the poll) until the activity that queued a prompt ends, by
    when ComfyUI counts the prompt itself. A ComfyUI that does not answer gets one slot: the job that takes
    it waits for ComfyUI, heartbeating why, as before.
    """

    def __init__(self, comfy: ComfyClient, events: ComfyEvents, capacity: int) -> None:
        self._comfy = comfy
        self._events = events
        self._capacity = capacity
        self._out = 0
        self._lock = threading.Lock()  # release_slot is called from the SDK's own threads
        self._released = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _room(self) -> int:
        try:
            backlog = await self._comfy.backlog()
        except (ComfyError, ValueError):  # unreachable, or answering nonsense
            return 1
        return self._capacity - backlog

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        self._loop = asyncio.get_running_loop()
        while True:
            self._released.clear()
            self._events.queue_changed.clear()
            room = await self._room()
            with self._lock:
                if self._out < room:
                    self._out += 1
                    return SlotPermit()
            waits = [asyncio.ensure_future(e.wait()) for e in (self._released, self._events.queue_changed)]
            try:
                await asyncio.wait(waits, timeout=RECHECK_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        return None  # eager tasks come only with workflows, which this worker does not run

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        pass

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        with self._lock:
            self._out -= 1
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed as the worker stopped
                self._loop.call_soon_threadsafe(self._released.set)


def queue_tuner(room: ComfyRoom) -> WorkerTuner:
    """The shared-queue worker's slots: `room` for activities; it runs no workflows, local activities or Nexus."""
    one = FixedSizeSlotSupplier(1)
    return WorkerTuner.create_composite(
        workflow_supplier=one, activity_supplier=room, local_activity_supplier=one, nexus_supplier=one
    )
