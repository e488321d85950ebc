"""What an operator sees of a run in the Temporal Web UI: searchable by user, character, kind and status,
with a summary on every step and the current stage as its details."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from comfyloom import temporal
from comfyloom.settings import Settings
from tests.helpers.auth import as_user
from tests.helpers.history import steps
from tests.helpers.jobs import CHARACTER, done, start_avatar, wait_for


async def listed(client: Client, query: str, expected: str, within: float = 15) -> list[str]:
    """Visibility is eventually consistent: poll until the run shows up."""
    deadline = time.monotonic() + within
    while True:
        ids = [w.id async for w in client.list_workflows(query)]
        if expected in ids or time.monotonic() > deadline:
            return ids
        await asyncio.sleep(0.2)


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_finished_avatar_is_found_by_user_character_kind_and_status(
    api: httpx.AsyncClient, client: Client
) -> None:
    accepted = await start_avatar(api, "ops-user")
    status = await wait_for(api, accepted["jobId"], done, headers=as_user("ops-user"))
    assert status["status"] == "ready"
    workflow_id = accepted["workflowId"]

    character = status["characterId"]
    query = f"UserId = 'ops-user' AND CharacterId = '{character}' AND ImageKind = 'avatar' AND JobStatus = 'done'"
    assert workflow_id in await listed(client, query, workflow_id)
    assert workflow_id not in [w.id async for w in client.list_workflows("UserId = 'someone-else'")]

    handle = client.get_workflow_handle(workflow_id)
    described = await handle.describe()
    assert await described.static_summary() == f"Avatar of {CHARACTER['name']}"
    history = await handle.fetch_history()
    summaries = [summary for _, summary in steps(client, history)]
    assert summaries[0] == "open_job"
    assert summaries[1] == "build_cached_prompt: avatar"
    assert summaries[2] == "check_renderable: avatar"
    assert summaries[3].startswith("queue_comfy_prompt: avatar 768x768 seed ")
    assert summaries[3].endswith(", attempt 1")
    assert summaries[4].startswith("sign_staging: prompt ")
    assert summaries[5].startswith("await_comfy_result: prompt ")
    assert summaries[6].startswith("publish_render: 768x768, opaque background -> characters/ops-user/")
    assert summaries[7] == "finish_job"
    assert summaries[8] == f"clear_staging: staging/{workflow_id}/"
    statuses = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields["JobStatus"].data
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        # a workflow.patched() marker upserts TemporalChangeVersion on its own
        and "JobStatus" in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    ]
    assert [s.decode().strip('"') for s in statuses] == [
        "building_prompt",
        "rendering",
        "converting",  # and published: one step since fewer-steps
        "saving",
        "done",
    ]


async def test_temporal_setup_creates_a_namespace_and_its_search_attributes_once(settings: Settings) -> None:
    fresh = settings.model_copy(update={"temporal_namespace": "setup-test"})
    assert await temporal.setup_namespace(fresh) == ["CharacterId", "ImageKind", "JobStatus", "UserId"]
    assert await temporal.setup_namespace(fresh) == []
