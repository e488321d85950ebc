"""Temporal workflows; they run on the CPU worker's `imagegen-cpu` queue."""

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.avatar import AvatarWorkflow
from workflows.cover import CoverWorkflow
from workflows.scene import SceneWorkflow
from workflows.sticker import StickerWorkflow
from workflows.sticker_set import StickerSetWorkflow
from workflows.webhook import WebhookWorkflow

ALL_WORKFLOWS = [AvatarWorkflow, StickerWorkflow, StickerSetWorkflow, CoverWorkflow, SceneWorkflow, WebhookWorkflow]

# Data and pure functions of it, with no clock or I/O to check: imported once per worker, not into each run's
# sandbox. Re-importing them per run was a fifth of the CPU worker's time under a burst (py-spy: pydantic
# building the contracts' models again), bench/fleet.py.
PASSED_THROUGH = (
    "comfyloom.contracts",
    "comfyloom.errors",
    "comfyloom.object_keys",
    "comfyloom.kinds",
    "comfyloom.search",
    "comfyloom.features",
    "workflows.policies",
)
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
)

__all__ = [
    "ALL_WORKFLOWS",
    "PASSED_THROUGH",
    "WORKFLOW_RUNNER",
    "AvatarWorkflow",
    "CoverWorkflow",
    "SceneWorkflow",
    "StickerSetWorkflow",
    "StickerWorkflow",
    "WebhookWorkflow",
]
