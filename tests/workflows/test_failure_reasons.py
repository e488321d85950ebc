"""What a user reads when a job fails: our own errors in their words, anything else without internals."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError

from workflows.failures import failure_reason


def failed_step(activity_type: str, cause: ApplicationError) -> ActivityError:
    error = ActivityError(
        "activity failed",
        scheduled_event_id=5,
        started_event_id=6,
        identity="worker",
        activity_type=activity_type,
        activity_id="5",
        retry_state=None,
    )
    error.__cause__ = cause
    return error


def test_an_error_we_raise_reads_as_written() -> None:
    cause = ApplicationError("node 8 (VAEDecode) failed: RuntimeError: boom", type="ComfyExecutionFailed")
    assert failure_reason(failed_step("await_comfy_result", cause)) == "node 8 (VAEDecode) failed: RuntimeError: boom"


def test_a_library_error_names_the_step_but_not_the_endpoint_or_key() -> None:
    cause = ApplicationError(
        'Could not connect to the endpoint URL: "http://10.0.0.5:9000/comfyloom-media/staging/x/9_0.png"',
        type="EndpointConnectionError",
    )
    reason = failure_reason(failed_step("convert_webp", cause))
    assert reason == (
        "the convert_webp step failed with an internal error (EndpointConnectionError); the operator's logs say more"
    )
