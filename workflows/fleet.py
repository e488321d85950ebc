"""The GPU fleet: how GPU workers tell the cloud what their ComfyUI can render, with no storage credential and
through nothing but the calls their certificate opens (poll an activity, heartbeat it).

One run, `gpu-fleet`, keeps GPU_FLEET_SIZE presence activities scheduled on the fleet queue. Each GPU worker
takes one (never two) and holds it while it runs, heartbeating its readiness report whenever it changes and
every few seconds besides. The API's health and the render's check before queueing read the heartbeats of the
pending activities (comfyloom/gpu_fleet.py): heartbeats are not history events, so the run's history grows only
when a slot is renewed. A worker that dies stops heartbeating; its slot times out and goes back to the queue.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError

from activities import steps
from workflows.runner import run_step

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts.health import PresenceSlot

# Past this many events the run continues as new (its presence activities are taken again within seconds).
RENEW_AFTER_EVENTS = 5000
# After a slot's activity failed for good (it retries without limit, so: a bug), before it is scheduled again.
SLOT_PAUSE_SECONDS = 5


@workflow.defn(name="GpuFleet")
class GpuFleetWorkflow:
    @workflow.run
    async def run(self, size: int) -> None:
        slots = [asyncio.create_task(self._slot(index)) for index in range(size)]
        await workflow.wait_condition(
            lambda: (
                workflow.info().is_continue_as_new_suggested()
                or workflow.info().get_current_history_length() > RENEW_AFTER_EVENTS
            )
        )
        for slot in slots:
            slot.cancel()
        workflow.continue_as_new(size)

    async def _slot(self, index: int) -> None:
        while True:
            try:
                await run_step(steps.gpu_worker_presence, PresenceSlot(index=index), summary=f"slot {index}")
            except ActivityError as e:
                workflow.logger.warning("presence slot %d failed (%s); scheduling it again", index, e.cause)
                await workflow.sleep(SLOT_PAUSE_SECONDS)
