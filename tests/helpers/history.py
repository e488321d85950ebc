"""Reading a run's history as an operator reads it in the Web UI: the steps it took, in order."""

from __future__ import annotations

import json
import os
import sysconfig
from pathlib import Path

import temporalio
from temporalio.client import Client, WorkflowHistory

# Local activities are recorded as markers of this name; a `workflow.patched()` marker is another.
LOCAL_ACTIVITY_MARKER = "core_local_activity"
PATCH_MARKER = "core_patch"


def steps(client: Client, history: WorkflowHistory) -> list[tuple[str, str]]:
    """(activity name, summary) of every step scheduled, whether on a task queue or as a local activity
    (recorded as a marker once it ends)."""
    found = []
    converter = client.data_converter.payload_converter
    for event in history.events:
        summary = (
            converter.from_payload(event.user_metadata.summary, str) if event.user_metadata.HasField("summary") else ""
        )
        if event.HasField("activity_task_scheduled_event_attributes"):
            found.append((event.activity_task_scheduled_event_attributes.activity_type.name, summary))
        elif event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER:
            data = event.marker_recorded_event_attributes.details["data"].payloads[0].data
            found.append((json.loads(data)["activity_type"], summary))
    return found


async def record(client: Client, workflow_id: str, name: str) -> None:
    """With COMFYLOOM_RECORD_HISTORIES=<folder>, keep the run's history for tests/workflows/test_replay.py:
    `{"workflowId", "events"}`, compact, with no path of this machine in its stack traces."""
    folder = os.environ.get("COMFYLOOM_RECORD_HISTORIES")
    if not folder:
        return
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    text = history.to_json()
    roots = (Path(temporalio.__file__).parents[1], Path(sysconfig.get_paths()["stdlib"]), Path(__file__).parents[2])
    for root in (f"{r}/" for r in roots):
        text = text.replace(root, "")
    _write(Path(folder) / f"{name}.json", {"workflowId": workflow_id, **json.loads(text)})


def _write(path: Path, recorded: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(recorded, separators=(",", ":")) + "\n")


def patches(history: WorkflowHistory) -> list[str]:
    """The `workflow.patched()` ids a run recorded, in order: which code paths it took."""
    return [
        json.loads(event.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for event in history.events
        if event.marker_recorded_event_attributes.marker_name == PATCH_MARKER
    ]
