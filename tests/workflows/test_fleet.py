"""The gpu-fleet run: each GPU worker holds one presence activity and heartbeats its readiness report on it;
a worker that stops says so and hands its slot back for the next one. No storage, no history per report."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.client import Client

from comfyloom.gpu_fleet import gpu_worker_reports
from comfyloom.settings import GPU_FLEET_WORKFLOW_ID, Settings
from tests.helpers.gpu import reported
from tests.helpers.history import record
from tests.helpers.parts import TEST_FLEET_SIZE, running_gpu_worker


async def held_by(client: Client, worker_id: str) -> int:
    described = await client.get_workflow_handle(GPU_FLEET_WORKFLOW_ID).describe()
    return sum(
        1
        for p in described.raw_description.pending_activities
        if p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED and p.last_worker_identity == worker_id
    )


async def test_a_workers_report_rides_its_presence_heartbeats_and_says_when_it_stopped(
    client: Client, settings: Settings
) -> None:
    handle = client.get_workflow_handle(GPU_FLEET_WORKFLOW_ID)
    events_before = len((await handle.fetch_history()).events)
    async with running_gpu_worker(client, settings, "fleet-gpu"):
        report = await reported(client, "fleet-gpu")
        assert not report.stopped and report.reachable and report.templates
        assert await held_by(client, "fleet-gpu") == 1  # one slot a worker, however long it runs
        await asyncio.sleep(11)  # past a keepalive: the same one slot, heartbeated again
        assert await held_by(client, "fleet-gpu") == 1
    for _ in range(50):
        reports = [r for r in await gpu_worker_reports(client) if r.worker_id == "fleet-gpu"]
        if reports and reports[0].stopped:
            break
        await asyncio.sleep(0.1)
    assert reports and reports[0].stopped, reports
    assert await held_by(client, "fleet-gpu") == 0
    described = await handle.describe()
    assert len(described.raw_description.pending_activities) == TEST_FLEET_SIZE  # the slot is back, for another
    history = await handle.fetch_history()
    # Heartbeats and a slot's retries are no events: the run's history did not grow with the worker's life.
    assert len(history.events) == events_before
    assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    await record(client, GPU_FLEET_WORKFLOW_ID, "gpu_fleet_presence_slots")
