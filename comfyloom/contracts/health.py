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


class Renderable(BaseModel):
    """Whether any GPU worker can render a template, by the reports they publish (comfyloom/gpu_fleet.py)."""

    verdict: Literal["yes", "no", "unknown"]
    # For `no`: each reporting worker's reason, prefixed with its id.
    reasons: list[str] = []


class RenderableQuery(BaseModel):
    template: str


class PresenceSlot(BaseModel):
    """One of the GPU fleet's presence activities (workflows/fleet.py): a GPU worker holds one while it runs."""

    index: int


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
