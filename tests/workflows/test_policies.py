"""The policy table's promises about the steps a user waits on after the render."""

from __future__ import annotations

from datetime import timedelta

from comfyloom.settings import CPU_TASK_QUEUE
from workflows.policies import POLICIES


def test_moderation_runs_on_the_cpu_worker_in_the_workflow_task_and_gives_up_in_bounded_time() -> None:
    policy = POLICIES["moderate_image"]
    assert policy.task_queue == CPU_TASK_QUEUE and policy.local
    assert policy.start_to_close == timedelta(seconds=30)
    assert policy.retry.maximum_attempts == 5
