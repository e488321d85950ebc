"""Every `workflow.patched()` id, when it came and when it goes (docs/ARCHITECTURE.md, "Changing workflow code").

A patch keeps a run started by an earlier release replaying on this one. Once no run started without it can
still be open, its old branch is dead code: the id becomes `workflow.deprecate_patch()` and the branch goes,
with the histories that took it. A release later, once no run that recorded its marker can be open, the call
goes too. tests/workflows/test_patches.py fails when a patch outlives either date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from workflows.policies import WEBHOOK_RETRY_WINDOW

# How long a run can stay open: a render waits at most its GPU deadline (GPU_WAIT_DEADLINE_SECONDS, an hour by
# default; a deployment that sets it above a day must add the difference), then its webhook is retried
# (workflows/policies.py). The margin is for a release deployed up to five days after its commit.
GPU_DEADLINE_BOUND = timedelta(days=1)
OPEN_RUN_BOUND = GPU_DEADLINE_BOUND + WEBHOOK_RETRY_WINDOW
DEPLOY_MARGIN = timedelta(days=5)
RETIRE_AFTER = OPEN_RUN_BOUND + DEPLOY_MARGIN


@dataclass(frozen=True)
class Patch:
    id: str
    introduced: date
    deprecated: date | None = None

    @property
    def deprecate_by(self) -> date:
        """After this, no run without the marker can be open: the old branch goes."""
        return self.introduced + RETIRE_AFTER

    @property
    def remove_by(self) -> date | None:
        """After this, no run with the marker can be open either: the `deprecate_patch()` call goes."""
        return self.deprecated + RETIRE_AFTER if self.deprecated else None


# Post-render steps that can run again after a CPU worker dies (keys from the run's start, staging kept until
# the record). Old branch gone.
KEEP_STAGING_UNTIL_RECORDED = Patch("keep-staging-until-recorded", date(2026, 11, 24), deprecated=date(2026, 12, 3))
# Converted images moderated before they are published. Old branch gone.
MODERATE_OUTPUT = Patch("moderate-output", date(2026, 11, 24), deprecated=date(2026, 12, 3))
# A job's webhook told how it ended. Old branch gone.
ANNOUNCE_END = Patch("announce-end", date(2026, 11, 24), deprecated=date(2026, 12, 3))
# The render loop that waits until the job's GPU deadline. Old branch (three attempts in all) gone.
RENDER_UNTIL_DEADLINE = Patch("render-until-gpu-deadline", date(2026, 11, 24), deprecated=date(2026, 12, 3))
# The job recorded ready in the workflow task that published it, staging cleared after. Old branch gone.
READY_BEFORE_CLEARING = Patch("ready-before-clearing-staging", date(2026, 11, 25), deprecated=date(2026, 12, 3))
# Renders queued on their template's own task queue, after asking whether any GPU worker can render it; older
# runs use the shared queue.
ROUTE_BY_TEMPLATE = Patch("route-by-template", date(2026, 12, 3))
# Public keys that name the job as well as the run's start: two runs whose first tasks started in one
# millisecond published to one key. Older runs keep their keys.
JOB_ID_IN_KEYS = Patch("job-id-in-keys", date(2026, 12, 3))
# The GPU worker stages its render through URLs the cloud side signs (sign_staging) and holds no storage credential.
# A run awaiting without them gets a StagingUrlExpired from a new GPU worker and signs then.
SIGNED_STAGING = Patch("signed-staging", date(2026, 12, 4))
# Fewer steps a job: a prompt that needs nothing from Gemini is built by a local activity (build_cached_prompt) in
# the job's first workflow task, where older runs (and prompts it cannot build) take build_prompt, an activity task
# of its own; and after the render one step (publish_render) decodes it once, encodes its WebPs while scoring their
# pixels, and writes them to their public keys only if allowed, where older runs convert, moderate and publish in
# three. Asked once, as a run starts (GenerationWorkflow.generate says why); it implies every patch before it.
FEWER_STEPS = Patch("fewer-steps", date(2026, 12, 4))

ALL_PATCHES = (
    KEEP_STAGING_UNTIL_RECORDED,
    MODERATE_OUTPUT,
    ANNOUNCE_END,
    RENDER_UNTIL_DEADLINE,
    READY_BEFORE_CLEARING,
    ROUTE_BY_TEMPLATE,
    JOB_ID_IN_KEYS,
    SIGNED_STAGING,
    FEWER_STEPS,
)
