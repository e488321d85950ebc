"""Reading a run's history as an operator reads it in the Web UI: the steps it took, in order."""

from __future__ import annotations

import json

from temporalio.client import Client, WorkflowHistory

# Local activities are recorded as markers of this name; a `workflow.patched()` marker is another.
LOCAL_ACTIVITY_MARKER = "core_local_activity"


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
