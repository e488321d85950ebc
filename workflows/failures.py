"""What a failed run tells its user: the failure an activity raised, under Temporal's wrappers, in words a
user can act on, and its class for metrics."""

from __future__ import annotations

import asyncio

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
    from comfyloom.errors import ErrorType

# The failure types we raise on purpose: their messages are written for users.
OUR_ERRORS = frozenset(ErrorType)


def _chain(error: BaseException) -> list[BaseException]:
    """`error` and the causes under Temporal's wrappers (activity and child workflow errors), outermost first,
    down to the failure an activity raised."""
    chain = [error]
    while (
        isinstance(chain[-1], FailureError)
        and not isinstance(chain[-1], ApplicationError | TimeoutError)
        and chain[-1].cause is not None
    ):
        chain.append(chain[-1].cause)
    return chain


def _root_failure(error: BaseException) -> BaseException:
    """The failure an activity raised, under Temporal's wrappers."""
    return _chain(error)[-1]


def failure_reason(error: BaseException) -> str:
    """The failure an activity raised, in words a user can act on.

    Only errors we raise on purpose (comfyloom.errors.ErrorType) show their message; anything else (a storage client's
    exception naming an internal endpoint, a bug) is named by its step and type, the detail left to logs.
    """
    cause = _root_failure(error)
    if isinstance(cause, TimeoutError):
        if cause.type in (TimeoutType.SCHEDULE_TO_CLOSE, TimeoutType.SCHEDULE_TO_START):
            return "no GPU worker was available before the deadline"
        return f"timed out ({cause.type.name.lower() if cause.type else 'unknown'})"
    if isinstance(cause, ApplicationError) and cause.type not in OUR_ERRORS:
        step = next((e.activity_type for e in _chain(error) if isinstance(e, ActivityError)), None)
        where = f"the {step} step" if step else "a step"
        return f"{where} failed with an internal error ({cause.type or 'unknown'}); the operator's logs say more"
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


def is_cancellation(error: BaseException) -> bool:
    if isinstance(error, asyncio.CancelledError | CancelledError):
        return True
    return isinstance(error, ActivityError) and isinstance(error.cause, CancelledError)
