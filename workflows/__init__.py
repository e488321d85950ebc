"""Temporal workflows; they run on the CPU worker's `imagegen-cpu` queue."""

from workflows.avatar import AvatarWorkflow
from workflows.sticker import StickerWorkflow
from workflows.sticker_set import StickerSetWorkflow

ALL_WORKFLOWS = [AvatarWorkflow, StickerWorkflow, StickerSetWorkflow]

__all__ = ["ALL_WORKFLOWS", "AvatarWorkflow", "StickerSetWorkflow", "StickerWorkflow"]
