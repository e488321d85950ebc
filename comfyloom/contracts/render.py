"""Workflow ↔ the GPU worker's activities: a render asked, queued, awaited, staged; its heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from comfyloom.contracts.domain import Lora


class RenderRequest(BaseModel):
    workflow_id: str
    # Names this render attempt; with the workflow id it derives the ComfyUI prompt id.
    step: str
    # Prompts of earlier attempts whose GPU worker vanished: re-attach to them rather than render again.
    reattach_prompt_ids: list[str] = []
    template: str
    positive: str
    negative: str
    seed: int
    width: int
    height: int
    loras: list[Lora] = []


class QueuedPrompt(BaseModel):
    prompt_id: str
    # The queue of the one GPU worker whose ComfyUI holds this prompt (worker-specific task queue).
    worker_task_queue: str
    reattached: bool = False


class SignedUpload(BaseModel):
    """Where the GPU worker may put one staged render: a presigned PUT the cloud side made for that one key, so
    the GPU machine holds no storage credential. Storage checks the signature, the key and the content type;
    the size is bounded by the CPU worker, which refuses a larger staged object when it reads it."""

    key: str
    url: str
    content_type: str
    max_bytes: int
    expires_at: datetime


class SignStaging(BaseModel):
    """The staged renders of one prompt to sign, valid until `expires_at` (the job's GPU deadline)."""

    prompt_id: str
    template: str
    staging_prefix: str
    expires_at: datetime


class AwaitRequest(BaseModel):
    prompt_id: str
    template: str
    # Read by GPU workers from before signed uploads, which stage under it with keys of their own.
    staging_prefix: str
    # One a rendered image, in the order ComfyUI lists them; empty for runs started before signed uploads.
    uploads: list[SignedUpload] = []


class StagedImage(BaseModel):
    key: str
    node_id: str
    width: int
    height: int


class RenderResult(BaseModel):
    prompt_id: str
    images: list[StagedImage]
    # Read back from the graph ComfyUI ran, so provenance records what rendered, not what was asked.
    checkpoint: str
    template_sha256: str
    # ComfyUI's own execution time (execution_start to execution_success), and the worker that rendered it: the
    # cloud keeps recent ones for the queue estimates. None from workers, or ComfyUIs, that do not say.
    render_seconds: float | None = None
    worker: str | None = None


# What a GPU activity waits for when it cannot go on: a free slot in a busy ComfyUI, a ComfyUI that does not
# answer (the GPU machine asleep, rebooting or offline), or object storage refusing the rendered image.
WaitingFor = Literal["gpu_slot", "comfyui", "storage"]


class RenderProgress(BaseModel):
    """Heartbeat details of the GPU activities: what the API shows while the GPU works or waits.

    A retried attempt reads its predecessor's details, so `waiting_since` spans attempts.
    """

    prompt_id: str | None = None
    node: str | None = None
    step: int = 0
    total: int = 0
    waiting_for: WaitingFor | None = None
    waiting_since: datetime | None = None
