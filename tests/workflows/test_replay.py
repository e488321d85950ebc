"""Every recorded history replays on the current workflow code: a deploy never breaks a run in flight.

`histories/<commit>/` holds runs recorded by the code of that commit (one file a path: ready, retried,
failed, cancelled). A change to what a workflow does goes behind `workflow.patched()`, and these must
still replay; record new paths under the new commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows import ALL_WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*/*.json"))


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_a_recorded_history_replays_on_the_current_code(path: Path) -> None:
    # {"workflowId": ..., "events": [...]}: child workflow ids derive from the run's own id.
    recorded = json.loads(path.read_text())  # noqa: ASYNC240 (a few KB, before anything runs)
    kind = recorded["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
    history = WorkflowHistory.from_json(recorded["workflowId"], recorded)
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    where = f"{path.parent.name}/{path.name}"
    assert result.replay_failure is None, f"{kind} in {where} no longer replays: {result.replay_failure}"
