"""GPU workers' readiness: each template's verdict, as a report and as the workflow asks it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class TemplateCheck(BaseModel):
    template: str
    missing_nodes: list[str] = []
    missing_models: list[str] = []
    # Why this ComfyUI cannot render the template, in plain words: the node, the input, the pack or model file.
    reasons: list[str] = []
    # This ComfyUI answers, has every node and model the template needs, and accepts its graph.
    renders: bool = True


class QueueEstimate(BaseModel):
    """Where a job waiting for a GPU stands (comfyloom/queue_estimate.py): the API's status and streams show it,
    and the run's current details in the Web UI as its render is queued."""

    ahead: int
    gpus: int
    estimated_start_at: datetime | None = None
    estimated_ready_at: datetime | None = None
    note: str

    def in_words(self) -> str:
        """For the Web UI: the note, and the times (UTC) when there are some."""
        if self.estimated_start_at is None or self.estimated_ready_at is None:
            return f"waiting for a GPU: {self.note}"
        return (
            f"waiting for a GPU: {self.note}; start about {self.estimated_start_at:%H:%M:%S}, ready about"
            f" {self.estimated_ready_at:%H:%M:%S} UTC (estimated at queueing)"
        )


class Renderable(BaseModel):
    """Whether any GPU worker can render a template, by the reports they publish (comfyloom/gpu_fleet.py)."""

    verdict: Literal["yes", "no", "unknown"]
    # For `no`: each reporting worker's reason, prefixed with its id.
    reasons: list[str] = []
    # Where the job asking stands, when it said which (`RenderableQuery.workflow_id`) and its row was found.
    queue: QueueEstimate | None = None


class RenderableQuery(BaseModel):
    template: str
    # The run asking: its job's place in the queue comes back with the verdict (runs from before: none).
    workflow_id: str | None = None


class PresenceSlot(BaseModel):
    """One of the GPU fleet's presence activities (workflows/fleet.py): a GPU worker holds one while it runs."""

    index: int


class RenderNow(BaseModel):
    """A prompt a GPU worker has in its ComfyUI: what the operators' fleet page shows it drawing."""

    workflow_id: str
    template: str
    queued_at: datetime
    # When ComfyUI began executing it; None while it waits its turn there.
    rendering_since: datetime | None = None


class GpuWorkerReport(BaseModel):
    """What a GPU worker found in its ComfyUI, sent as its presence activity's heartbeat (the API cannot reach it,
    and the GPU machine holds no storage credential)."""

    worker_id: str
    comfyui_url: str
    reachable: bool
    comfyui_version: str | None = None
    devices: list[str] = []
    # The custom node packs ComfyUI loaded (from `/object_info`'s python_module), with their node classes' count.
    packs: dict[str, int] = {}
    templates: list[TemplateCheck] = []
    problems: list[str] = []
    # What to know that does not stop rendering, e.g. an untested ComfyUI version.
    notes: list[str] = []
    checked_at: datetime
    # Sent by a worker as it stops: health stops counting it at once, not when Temporal forgets its polls.
    stopped: bool = False
    # What it has in ComfyUI now (workers from before: none said).
    rendering: list[RenderNow] = []
