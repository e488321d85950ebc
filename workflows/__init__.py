"""Temporal workflows; they run on the CPU worker's `imagegen-cpu` queue."""

from workflows.avatar import AvatarWorkflow
from workflows.sticker import StickerWorkflow

ALL_WORKFLOWS = [AvatarWorkflow, StickerWorkflow]

__all__ = ["ALL_WORKFLOWS", "AvatarWorkflow", "StickerWorkflow"]
