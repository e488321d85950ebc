"""gpu_worker_presence: the GPU worker's readiness report, sent to the cloud as the heartbeats of the presence
activity it holds (workflows/fleet.py). Runs on the GPU worker; needs nothing its Temporal certificate does
not already open."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from comfyloom.contracts.health import GpuWorkerReport, PresenceSlot
from comfyloom.errors import ErrorType

# The report is sent again this often while nothing changes: the cloud counts a worker gone after the
# policy's heartbeat timeout (30 s) without one.
KEEPALIVE_SECONDS = 10.0
# An attempt ends itself after this long and the fleet schedules the slot again: start-to-close must be finite.
PRESENCE_RENEW_SECONDS = 24 * 3600.0
# The SDK sends at most one heartbeat a second (worker_gpu/worker.py): a stop report is given that long to leave.
STOP_REPORT_SECONDS = 1.2


class Reports(Protocol):
    """The readiness loop's latest report (worker_gpu/readiness.py's Capability)."""

    @property
    def report(self) -> GpuWorkerReport | None: ...

    published: asyncio.Event

    def next_change(self) -> asyncio.Event: ...


class PresenceActivities:
    def __init__(self, reports: Reports, stopped: Callable[[], GpuWorkerReport]) -> None:
        """`stopped` makes the report that says this worker is going away."""
        self._reports = reports
        self._stopped = stopped

    @activity.defn(name="gpu_worker_presence")
    async def gpu_worker_presence(self, slot: PresenceSlot) -> None:
        """Heartbeat the report, at each change and every KEEPALIVE_SECONDS, until the worker stops; then say so,
        and hand the slot back for another worker.

        Raises:
            ApplicationError: `GpuWorkerShutdown` (retried: the slot goes back to the queue).
        """
        started = time.monotonic()
        shutdown = asyncio.ensure_future(activity.wait_for_worker_shutdown())
        try:
            while time.monotonic() - started < PRESENCE_RENEW_SECONDS:
                report, change = self._reports.report, self._reports.next_change()
                if report is not None:
                    activity.heartbeat(report)
                    self._reports.published.set()
                changed = asyncio.ensure_future(change.wait())
                try:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(KEEPALIVE_SECONDS):
                            await asyncio.wait({changed, shutdown}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                if shutdown.done():
                    activity.heartbeat(self._stopped())
                    await asyncio.sleep(STOP_REPORT_SECONDS)
                    # Benign: the SDK logs it at debug, not as a failure with its traceback; retried, the slot
                    # goes back to the queue without the fleet's workflow (which may have no worker now).
                    raise ApplicationError(
                        "the GPU worker is shutting down",
                        type=ErrorType.gpu_worker_shutdown.value,
                        category=ApplicationErrorCategory.BENIGN,
                    )
        finally:
            shutdown.cancel()
