"""Every failure a step raises on purpose: its type, whether trying again can help, in one table.

Activities raise them with `failure()`, which sets retryability from the table; `workflows/policies.py`
gives Temporal the same list; and only these types' messages reach users (anything else, an exception a
library raised, is shown by its step and type, the detail left to the logs: `workflows/failures.py`).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from temporalio.exceptions import ApplicationError


class ErrorType(StrEnum):
    character_not_found = "CharacterNotFound"  # deleted while its image was made
    invalid_request = "InvalidRequest"
    content_refused = "ContentRefused"  # the prompt, at prompt time
    insufficient_credits = "InsufficientCredits"
    gemini_busy = "GeminiBusy"  # 429/503 from Gemini: tried again after the delay it asks for
    comfy_rejected = "ComfyRejected"  # a 400 from /prompt, naming each node and why
    comfy_execution_failed = "ComfyExecutionFailed"
    comfy_out_of_memory = "ComfyOutOfMemory"  # the workflow renders again, after /free
    comfy_prompt_lost = "ComfyPromptLost"  # ComfyUI restarted: the workflow renders again
    comfy_interrupted = "ComfyInterrupted"
    comfy_no_output = "ComfyNoOutput"
    # Every GPU worker that reports says its ComfyUI would refuse the job's template: raised by the workflow.
    template_unrenderable = "TemplateUnrenderable"
    # This worker's ComfyUI would refuse the template: handed back to the queue, for a worker whose ComfyUI accepts it.
    template_refused_here = "TemplateRefusedHere"
    gpu_worker_shutdown = "GpuWorkerShutdown"  # handed back to the queue, for this worker's successor or another
    # The signed URL for a staged render expired or was refused: the workflow signs a new one and awaits again.
    staging_url_expired = "StagingUrlExpired"
    gpu_deadline_exceeded = "GpuDeadlineExceeded"  # raised by the workflow, saying what it waited for
    invalid_image = "InvalidImage"  # the render is unusable (size, transparency)
    content_blocked = "ContentBlocked"  # the image, by output moderation: raised by the workflow
    object_taken = "ObjectTaken"  # a public key another job's object holds: refused, never overwritten
    translation_pending = "TranslationPending"  # TRANSLATION_POLICY=wait: Gemini is asked again, until the deadline
    translation_unavailable = "TranslationUnavailable"  # TRANSLATION_POLICY=wait (past it) or fail: no render
    webhook_refused = "WebhookRefused"  # its URL resolves inwards, or its key has no secret: never sent
    webhook_failed = "WebhookFailed"  # the receiver did not answer 2xx: tried again with backoff, for hours
    job_ended = "JobEnded"  # cancelled (or failed) before its run began: the run must not render it


RETRYABLE = frozenset(
    {
        ErrorType.gemini_busy,
        ErrorType.gpu_worker_shutdown,
        ErrorType.template_refused_here,
        ErrorType.translation_pending,
        ErrorType.webhook_failed,
    }
)
# What no retry of the same step can fix (a render that can be tried again is the workflow's choice).
NON_RETRYABLE = frozenset(ErrorType) - RETRYABLE


def failure(
    type: ErrorType, message: str, *details: object, next_retry_delay: timedelta | None = None
) -> ApplicationError:
    """The error to raise for `type`, retryable or not as the table says; `details` are for operators (the
    Web UI shows them with the failure), the message for users."""
    return ApplicationError(
        message, *details, type=type.value, non_retryable=type in NON_RETRYABLE, next_retry_delay=next_retry_delay
    )
