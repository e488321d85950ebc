"""How a workflow runs one step: the activity's stub, its policy from the table, and what the Web UI shows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.policies import POLICIES

T = TypeVar("T")
A = TypeVar("A")


async def run_step(
    step: Callable[[A], Awaitable[T]],
    arg: A,
    *,
    task_queue: str | None = None,
    schedule_to_close: timedelta | None = None,
    summary: str | None = None,
) -> T:
    """Execute an activity (its stub in activities/steps.py) with its policy from the table. The summary is
    what the Temporal Web UI shows for the step: the activity's name and, where given, what it works on."""
    name = step.__name__
    policy = POLICIES[name]
    shown = f"{name}: {summary}" if summary else name
    if policy.local:
        return await workflow.execute_local_activity(
            step,
            arg,
            start_to_close_timeout=policy.start_to_close,
            schedule_to_close_timeout=schedule_to_close or policy.schedule_to_close,
            retry_policy=policy.retry,
            cancellation_type=policy.cancellation,
            summary=shown,
        )
    return await workflow.execute_activity(
        step,
        arg,
        task_queue=task_queue or policy.task_queue,
        start_to_close_timeout=policy.start_to_close,
        schedule_to_start_timeout=policy.schedule_to_start,
        schedule_to_close_timeout=schedule_to_close or policy.schedule_to_close,
        heartbeat_timeout=policy.heartbeat,
        retry_policy=policy.retry,
        cancellation_type=policy.cancellation,
        summary=shown,
    )
