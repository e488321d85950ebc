"""Workflow ↔ the job's row: opened, finished with its images, failed with a reason a user reads."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from comfyloom.contracts.images import ConvertedImage, Moderation, PublishedImage
from comfyloom.contracts.prompt import PromptSpec
from comfyloom.contracts.requests import GenerationRequest


class JobRef(BaseModel):
    job_id: UUID


class OpenJob(BaseModel):
    job_id: UUID
    user_id: str
    price: int = 0


class FinishJob(BaseModel):
    """Everything an image's record holds: what was asked, what was drawn, and where it landed."""

    request: GenerationRequest
    image: PublishedImage
    messenger: PublishedImage | None = None
    converted: ConvertedImage
    prompt: PromptSpec
    seed: int
    template_sha256: str
    checkpoint: str
    # None when moderation is off (and the request showed no minor), or for runs from before it existed.
    moderation: Moderation | None = None
    # The render's GPU time and worker (RenderResult's), kept for the queue estimates.
    render_seconds: float | None = None
    worker: str | None = None


class FailJob(BaseModel):
    job_id: UUID
    staging_prefix: str
    error: str
    cancelled: bool = False
    # The error type (`ComfyExecutionFailed`, `ContentBlocked`, `timeout`): what operators filter failed jobs by,
    # and whether one may be retried. None from runs before it was sent.
    reason: str | None = None
    # Public objects written before the failure: deleted, since no record will point at them.
    published_keys: list[str] = []
