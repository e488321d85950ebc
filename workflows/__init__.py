"""Temporal workflows; they run on the CPU worker's `imagegen-cpu` queue."""

from workflows.avatar import AvatarWorkflow
from workflows.cover import CoverWorkflow
from workflows.scene import SceneWorkflow
from workflows.sticker import StickerWorkflow
from workflows.sticker_set import StickerSetWorkflow
from workflows.webhook import WebhookWorkflow

ALL_WORKFLOWS = [AvatarWorkflow, StickerWorkflow, StickerSetWorkflow, CoverWorkflow, SceneWorkflow, WebhookWorkflow]

__all__ = [
    "ALL_WORKFLOWS",
    "AvatarWorkflow",
    "CoverWorkflow",
    "SceneWorkflow",
    "StickerSetWorkflow",
    "StickerWorkflow",
    "WebhookWorkflow",
]
