"""What the CPU worker registers, and the sandbox it runs each workflow in.

Kept out of `workflows/__init__.py`: the sandbox imports a run's workflow module, with its package, afresh
for every run, so the package imports nothing and a run loads only its workflow's modules.
"""

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.chat_moment import JudgeChatMomentWorkflow
from workflows.fleet import GpuFleetWorkflow
from workflows.kinds import KIND_WORKFLOWS
from workflows.sticker_set import StickerSetWorkflow
from workflows.webhook import WebhookWorkflow

ALL_WORKFLOWS = [*KIND_WORKFLOWS, StickerSetWorkflow, WebhookWorkflow, GpuFleetWorkflow, JudgeChatMomentWorkflow]

# Data, pure functions of it, and the activities' stubs, with no clock or I/O to check: imported once per
# worker, not into each run's sandbox. Re-importing them per run was a fifth of the CPU worker's time under a
# burst (py-spy: pydantic building the contracts' models again; `activity.defn` reading each stub's type
# hints), bench/fleet.py.
PASSED_THROUGH = (
    "activities.steps",
    "comfyloom.contracts",
    "comfyloom.errors",
    "comfyloom.object_keys",
    "comfyloom.kinds",
    "comfyloom.search",
    "comfyloom.tag_schemas",
    "workflows.patches",
    "workflows.policies",
)
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
)
