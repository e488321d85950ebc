"""How many jobs the GPU worker takes: only as many as its ComfyUI has room for, and only of templates its
ComfyUI accepts.

Temporal hands a worker a task only after the worker reserved a slot for it. A fixed number of slots let a
worker whose ComfyUI already held its backlog take more jobs and keep them waiting, while another GPU
worker sat idle. Here a queue gets a slot only while ComfyUI's backlog plus the jobs in hand is below
COMFY_BACKLOG, so the rest stays in Temporal for whichever GPU frees up first.

Renders wait on one queue per template (`workflows.policies.template_task_queue`), and a worker polls a
template's queue only while its readiness check says ComfyUI accepts that template: a job never reaches a
ComfyUI that would refuse it, and waits for a worker that can render it. Each queue may have one poll out
whenever there is room, so one busy template never keeps another's jobs waiting; when jobs of several
templates arrive in the same instant, the worker may take one more than it has room for, which then waits
its turn in the activity.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

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


class _Permit(SlotPermit):
    def __init__(self, task_queue: str) -> None:
        self.task_queue = task_queue
        self.used = False


class ComfyRoom(CustomSlotSupplier):
    """Slots for `queue_comfy_prompt`, on every queue this worker takes renders from.

    A slot is reserved before a poll; once a task arrives it counts as a job in hand until the activity that
    queued its prompt ends, by when ComfyUI counts the prompt itself. A ComfyUI that does not answer gives
    room for one: the job that takes it waits for ComfyUI, heartbeating why, as before. `takes(task_queue)`
    says whether to poll a queue at all (a template ComfyUI refuses: no).
    """

    def __init__(
        self, comfy: ComfyClient, events: ComfyEvents, capacity: int, takes: Callable[[str], bool] | None = None
    ) -> None:
        self._comfy = comfy
        self._events = events
        self._capacity = capacity
        self._takes = takes or (lambda task_queue: True)
        self._in_hand = 0
        self._polling: set[str] = set()  # queues with a slot out for a poll that has brought no task yet
        self._lock = threading.Lock()  # mark_slot_used and release_slot are called from the SDK's own threads
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
        queue = ctx.task_queue
        while True:
            self._released.clear()
            self._events.queue_changed.clear()
            # ComfyUI is asked only when this queue could poll: many waiting queues must not flood it.
            if self._takes(queue) and queue not in self._polling and self._in_hand < self._capacity:
                room = await self._room()
                with self._lock:
                    if queue not in self._polling and self._in_hand < room:
                        self._polling.add(queue)
                        return _Permit(queue)
            waits = [asyncio.ensure_future(e.wait()) for e in (self._released, self._events.queue_changed)]
            try:
                await asyncio.wait(waits, timeout=RECHECK_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        return None  # eager tasks come only with workflows, which this worker does not run

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        permit = ctx.permit
        if isinstance(permit, _Permit) and not permit.used:
            with self._lock:
                permit.used = True
                self._polling.discard(permit.task_queue)
                self._in_hand += 1
        self._wake()  # the queue may poll again

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        permit = ctx.permit
        if isinstance(permit, _Permit):
            with self._lock:
                if permit.used:
                    self._in_hand -= 1
                else:
                    self._polling.discard(permit.task_queue)
        self._wake()

    def _wake(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed as the worker stopped
                self._loop.call_soon_threadsafe(self._released.set)


def queue_tuner(room: ComfyRoom) -> WorkerTuner:
    """A render queue's slots: `room` for activities; it runs no workflows, local activities or Nexus."""
    one = FixedSizeSlotSupplier(1)
    return WorkerTuner.create_composite(
        workflow_supplier=one, activity_supplier=room, local_activity_supplier=one, nexus_supplier=one
    )
