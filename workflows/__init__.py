"""Temporal workflows; they run on the CPU worker's `imagegen-cpu` queue."""

from workflows.avatar import AvatarWorkflow

ALL_WORKFLOWS = [AvatarWorkflow]

__all__ = ["ALL_WORKFLOWS", "AvatarWorkflow"]
