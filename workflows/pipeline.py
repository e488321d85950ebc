"""The steps every kind of image shares; a workflow calls them in order and owns its progress."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    FailureError,
    TimeoutError,
    TimeoutType,
)

with workflow.unsafe.imports_passed_through():
    from activities.comfy import OUT_OF_MEMORY, PROMPT_LOST, ComfyActivities
    from comfyloom.contracts import AwaitRequest, RenderRequest, RenderResult
    from comfyloom.keys import staging_prefix
    from workflows.policies import MAX_RENDER_ATTEMPTS, POLICIES

T = TypeVar("T")
A = TypeVar("A")


async def run(
    method: Callable[[Any, A], Awaitable[T]],
    arg: A,
    *,
    task_queue: str | None = None,
    schedule_to_close: timedelta | None = None,
    summary: str | None = None,
) -> T:
    """Execute an activity method with its policy from the table. The summary is what the Temporal Web UI
    shows for the step: the activity's name and, where given, what it works on."""
    name = method.__name__
    policy = POLICIES[name]
    shown = f"{name}: {summary}" if summary else name
    if policy.local:
        return await workflow.execute_local_activity_method(
            method,
            arg,
            start_to_close_timeout=policy.start_to_close,
            schedule_to_close_timeout=schedule_to_close or policy.schedule_to_close,
            retry_policy=policy.retry,
            cancellation_type=policy.cancellation,
            summary=shown,
        )
    return await workflow.execute_activity_method(
        method,
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


async def render(request: RenderRequest, *, gpu_deadline: timedelta) -> RenderResult:
    """Queue a prompt on some GPU worker, then await it on that worker, moving on when it is lost.

    A GPU worker that vanishes (heartbeat or schedule-to-start timeout) leaves its prompt id in
    `reattach_prompt_ids`, so a worker that comes back re-attaches instead of rendering again.
    Out-of-memory and a ComfyUI that forgot the prompt get a fresh attempt; anything else fails.
    """
    reattach: list[str] = []
    base_step = request.step
    for attempt in range(1, MAX_RENDER_ATTEMPTS + 1):
        attempt_request = request.model_copy(
            update={"step": f"{base_step}-{attempt}", "reattach_prompt_ids": list(reattach)}
        )
        what = f"{request.template} {request.width}x{request.height} seed {request.seed}, attempt {attempt}"
        queued = await run(
            ComfyActivities.queue_comfy_prompt, attempt_request, schedule_to_close=gpu_deadline, summary=what
        )
        try:
            return await run(
                ComfyActivities.await_comfy_result,
                AwaitRequest(
                    prompt_id=queued.prompt_id,
                    template=request.template,
                    staging_prefix=staging_prefix(request.workflow_id),
                ),
                task_queue=queued.worker_task_queue,
                summary=f"prompt {queued.prompt_id} on {queued.worker_task_queue}",
            )
        except ActivityError as e:
            cause = e.cause
            if isinstance(cause, TimeoutError):
                reattach.append(queued.prompt_id)
            elif not (isinstance(cause, ApplicationError) and cause.type in (OUT_OF_MEMORY, PROMPT_LOST)):
                raise
            if attempt == MAX_RENDER_ATTEMPTS:
                raise
            workflow.logger.warning("render attempt %d failed (%s); trying again", attempt, failure_reason(e))
    raise AssertionError("unreachable")


def _root_failure(error: BaseException) -> BaseException:
    """The failure an activity raised, under Temporal's wrappers (activity and child workflow errors)."""
    cause = error
    while (
        isinstance(cause, FailureError)
        and not isinstance(cause, ApplicationError | TimeoutError)
        and cause.cause is not None
    ):
        cause = cause.cause
    return cause


def failure_reason(error: BaseException) -> str:
    """The failure an activity raised, in words a user can act on."""
    cause = _root_failure(error)
    if isinstance(cause, TimeoutError):
        if cause.type in (TimeoutType.SCHEDULE_TO_CLOSE, TimeoutType.SCHEDULE_TO_START):
            return "no GPU worker was available before the deadline"
        return f"timed out ({cause.type.name.lower() if cause.type else 'unknown'})"
    message = cause.message if isinstance(cause, FailureError) else str(cause)
    return message or type(cause).__name__


def failure_type(error: BaseException) -> str:
    """A failure's class, for metrics: the activity's error type (`ComfyRejected`), `timeout` or `cancelled`."""
    if is_cancellation(error):
        return "cancelled"
    cause = _root_failure(error)
    if isinstance(cause, TimeoutError):
        return "timeout"
    if isinstance(cause, ApplicationError):
        return cause.type or "ApplicationError"
    return type(cause).__name__


def record_outcome(kind: str, outcome: str, reason: str | None = None) -> None:
    """How long the run took, by kind and outcome, and why it failed: on the worker's Prometheus endpoint.
    Replay-safe: the SDK's workflow meter records nothing while a history is replayed."""
    meter = workflow.metric_meter()
    elapsed = workflow.now() - workflow.info().start_time
    meter.create_histogram_timedelta(
        "comfyloom_generation_duration", "From workflow start to its end", unit="duration"
    ).record(elapsed, {"kind": kind, "outcome": outcome})
    if reason is not None:
        meter.create_counter("comfyloom_generation_failures", "Runs that failed or were cancelled").add(
            1, {"kind": kind, "reason": reason}
        )


def is_cancellation(error: BaseException) -> bool:
    if isinstance(error, asyncio.CancelledError | CancelledError):
        return True
    return isinstance(error, ActivityError) and isinstance(error.cause, CancelledError)
