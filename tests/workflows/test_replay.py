"""Every recorded history replays on the current workflow code: a deploy never breaks a run in flight.

`histories/<commit>/` holds runs recorded by the code of that commit (one file a path: ready, retried,
failed, cancelled). A change to what a workflow does goes behind `workflow.patched()`, and these must
still replay; record new paths under the new commit.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from comfyloom.contracts.requests import AvatarRequest, GenerationResult
from workflows.generation import GenerationWorkflow
from workflows.registry import ALL_WORKFLOWS, WORKFLOW_RUNNER

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*/*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_a_recorded_history_replays_on_the_current_code(path: Path) -> None:
    # {"workflowId": ..., "events": [...]}: child workflow ids derive from the run's own id.
    recorded = json.loads(path.read_text())  # noqa: ASYNC240 (a few KB, before anything runs)
    kind = recorded["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
    history = WorkflowHistory.from_json(recorded["workflowId"], recorded)
    replayer = Replayer(
        workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=WORKFLOW_RUNNER
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    where = f"{path.parent.name}/{path.name}"
    assert result.replay_failure is None, f"{kind} in {where} no longer replays: {result.replay_failure}"


@workflow.defn(name="AvatarWorkflow", sandboxed=False)
class AvatarWorkflowChangedWithoutAPatch(GenerationWorkflow):
    """AvatarWorkflow with a step added in front, and no `workflow.patched()` around it."""

    @workflow.run
    async def run(self, request: AvatarRequest) -> GenerationResult:
        await workflow.sleep(timedelta(seconds=1))
        return await self.generate(request)


async def test_a_change_to_a_workflows_commands_without_a_patch_fails_the_replay() -> None:
    path = next(p for p in HISTORIES if p.stem == "avatar_ready_keyed_by_job")
    recorded = json.loads(path.read_text())
    replayer = Replayer(workflows=[AvatarWorkflowChangedWithoutAPatch], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(
        WorkflowHistory.from_json(recorded["workflowId"], recorded), raise_on_replay_failure=False
    )
    assert isinstance(result.replay_failure, NondeterminismError), result.replay_failure


def test_recorded_histories_name_no_path_of_a_machine() -> None:
    for path in HISTORIES:
        text = path.read_text()
        assert not any(root in text for root in ("/root/", "/home/", "/tmp/", "/work/", "site-packages")), path
