"""One GPU, many users: an interactive job asked for behind a sticker set's stickers renders before them, one
user's backlog does not hold another's job back, a request cannot raise its own priority, and a job waiting for
the GPU says where it stands (comfyloom/scheduling.py, comfyloom/queue_estimate.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.comfy import prompt_id_for
from comfyloom.queue_estimate import NO_GPU
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack.simulator import SimConfig
from tests.helpers.auth import as_user
from tests.helpers.gpu import gpu, simulated
from tests.helpers.history import record
from tests.helpers.jobs import create_character, done, post, wait_for
from tests.helpers.parts import HEALTH_NAMESPACE, serve_api
from worker_cpu.worker import build_cpu_worker

STATUS = "/api/v1/image-generation/status/{}"


async def finished_at(api: httpx.AsyncClient, job_id: str, user: str) -> datetime:
    status = await wait_for(api, job_id, done, within=120, headers=as_user(user))
    assert status["status"] == "ready", status
    return datetime.fromisoformat(status["finishedAt"])


async def test_a_sticker_and_a_scene_asked_after_a_sets_stickers_render_before_them(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    """Two sets' stickers and the single sticker wait on one queue, where the single one's priority (2, someone
    is waiting) goes before the sets' (4); the scene, on its own template's queue, is taken at the next slot.
    First come, first served, all sixteen would render before the single sticker."""
    async with (
        simulated(settings, SimConfig(render_seconds=0.6)) as rig,
        build_cpu_worker(client, pool, store, settings),
        gpu(client, rig, worker_id="priority-gpu"),
    ):
        character = await create_character(api, "bulk-user")
        sets = []
        for _ in range(2):
            bulk = await post(
                api, "/api/v1/image-generation/stickers/bulk", {"characterId": character["id"]}, "bulk-user"
            )
            assert bulk.status_code == 202, bulk.text
            sets.append(bulk.json()["jobId"])
        await wait_for(
            api,
            sets[0],
            lambda s: any(x["status"] == "ready" for x in s["stickers"]),
            within=60,
            headers=as_user("bulk-user"),
        )
        mine = await create_character(api, "chat-user")
        single = await post(
            api, "/api/v1/image-generation/sticker", {"characterId": mine["id"], "emotion": "happy"}, "chat-user"
        )
        scene = await post(
            api,
            "/api/v1/image-generation/scene",
            {"characterIds": [mine["id"]], "context": "Os dois caminham na praia ao pôr do sol."},
            "chat-user",
        )
        assert single.status_code == 202 and scene.status_code == 202, (single.text, scene.text)
        interactive = [
            await finished_at(api, single.json()["jobId"], "chat-user"),
            await finished_at(api, scene.json()["jobId"], "chat-user"),
        ]
        set_done = []
        for set_id in sets:
            stickers = (await wait_for(api, set_id, done, within=120, headers=as_user("bulk-user")))["stickers"]
            set_done += [await finished_at(api, s["jobId"], "bulk-user") for s in stickers]
    # Of the sixteen, before both were ready: those ready when they were asked for and the ones their prompts
    # took to build (a loaded machine's seconds), the two ComfyUI held, one taken in the same instant.
    assert sum(t < max(interactive) for t in set_done) <= 9, (interactive, sorted(set_done))
    # Runs started with a priority and a fairness key: the same commands, so the corpus only grows by them.
    await record(client, single.json()["workflowId"], "sticker_interactive_before_a_set")
    await record(client, scene.json()["workflowId"], "scene_interactive_before_a_set")


async def comfy_queue(http: httpx.AsyncClient) -> tuple[str | None, list[str]]:
    queue = (await http.get("/queue")).json()
    running = queue["queue_running"][0][1] if queue["queue_running"] else None
    return running, [entry[1] for entry in queue["queue_pending"]]


async def test_a_scene_asked_while_comfyui_holds_a_sets_sticker_next_waits_for_the_render_under_way_only(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    """ComfyUI holds a set's next sticker behind the one it renders, so that the GPU never idles between them; a
    chat scene goes ahead of that sticker (ComfyUI's `front`), so it starts when the render under way ends."""
    async with (
        simulated(settings, SimConfig(render_seconds=4.0)) as rig,
        build_cpu_worker(client, pool, store, settings),
        gpu(client, rig, worker_id="front-gpu"),
        httpx.AsyncClient(base_url=rig.settings.comfyui_url) as comfy,
    ):
        character = await create_character(api, "front-bulk")
        bulk = await post(api, "/api/v1/image-generation/stickers/bulk", {"characterId": character["id"]}, "front-bulk")
        assert bulk.status_code == 202, bulk.text
        # The moment a sticker starts, with the next one held behind it: the scene then has a render's time
        # (4 s) to reach ComfyUI.
        last, _ = await comfy_queue(comfy)
        fresh = None
        while True:
            await asyncio.sleep(0.05)
            running, pending = await comfy_queue(comfy)
            if running != last:
                fresh = last = running
            if fresh is not None and running == fresh and len(pending) == 1:
                break
        held = pending[0]
        mine = await create_character(api, "front-chat")
        scene = await post(
            api,
            "/api/v1/image-generation/scene",
            {"characterIds": [mine["id"]], "context": "Os dois caminham na praia ao pôr do sol."},
            "front-chat",
        )
        assert scene.status_code == 202, scene.text
        scene_prompt = prompt_id_for(scene.json()["workflowId"], "render-1")
        started = [running]
        while started[-1] not in (scene_prompt, held):
            await asyncio.sleep(0.05)
            now, _ = await comfy_queue(comfy)
            if now is not None and now != started[-1]:
                started.append(now)
        status = await wait_for(api, scene.json()["jobId"], done, within=60, headers=as_user("front-chat"))
        cancel = await api.delete(
            f"/api/v1/image-generation/jobs/{bulk.json()['jobId']}", headers=as_user("front-bulk")
        )
        assert cancel.status_code == 202, cancel.text
        await wait_for(api, bulk.json()["jobId"], done, within=60, headers=as_user("front-bulk"))
    assert status["status"] == "ready", status
    # Next after the render under way when it was asked for: the scene, not the sticker ComfyUI held.
    assert started == [running, scene_prompt], (started, held)


async def asked_gpu_at(client: Client, workflow_id: str) -> float:
    """When a run's render became a task a GPU worker could take: its queue_comfy_prompt scheduled."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = next(
        e
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name == "queue_comfy_prompt"
    )
    return scheduled.event_time.ToDatetime(UTC).timestamp()


async def test_one_users_backlog_delays_anothers_job_by_the_render_comfyui_holds_next_at_most(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    """Ten avatars of one user, then one of another's, at one priority: fairness takes the other user's next.
    Counted from when its render could be taken (a loaded machine builds its prompt late, after more of the
    backlog rendered): the busy user's renders that started after that and before it. First come, first
    served, that is every busy render left, at least four here."""
    async with (
        simulated(settings, SimConfig(render_seconds=0.8)) as rig,
        build_cpu_worker(client, pool, store, settings),
        gpu(client, rig, worker_id="fair-gpu"),
    ):
        busy = await create_character(api, "busy-user")
        backlog = [
            await post(api, "/api/v1/image-generation/avatar", {"characterId": busy["id"]}, "busy-user")
            for _ in range(10)
        ]
        # Asked for right after: eight seconds of the busy user's renders are still to come, even if a loaded
        # machine builds this one's prompt late.
        other = await create_character(api, "other-user")
        lone = await post(api, "/api/v1/image-generation/avatar", {"characterId": other["id"]}, "other-user")
        await finished_at(api, lone.json()["jobId"], "other-user")
        for accepted in backlog:
            await finished_at(api, accepted.json()["jobId"], "busy-user")
        started = {prompt_id: at for prompt_id, at, _ in rig.sim.executions}
    lone_workflow = lone.json()["workflowId"]
    arrived = await asked_gpu_at(client, lone_workflow)
    lone_started = started[prompt_id_for(lone_workflow, "render-1")]
    after = sorted(started[prompt_id_for(r.json()["workflowId"], "render-1")] for r in backlog)
    after = [at for at in after if at > arrived]
    # The one ComfyUI held next when it came, and one taken in the same instant at most.
    assert len([at for at in after if at < lone_started]) <= 2, (arrived, lone_started, after)
    assert len(after) >= 4, (arrived, after)  # the backlog was still there: the bound above means something


async def test_a_request_may_lower_its_priority_and_only_an_operator_may_raise_it(api: httpx.AsyncClient) -> None:
    character = await create_character(api, "priority-user")
    raised = await post(
        api, "/api/v1/image-generation/avatar", {"characterId": character["id"], "priority": "urgent"}, "priority-user"
    )
    assert raised.status_code == 422, raised.text
    error = raised.json()["error"]
    assert error["type"] == "priority_refused" and error["fields"][0]["field"] == "priority"
    lowered = await post(
        api,
        "/api/v1/image-generation/avatar",
        {"characterId": character["id"], "priority": "background"},
        "priority-user",
    )
    assert lowered.status_code == 202, lowered.text
    operator = await create_character(api, "ops-user")
    urgent = await api.post(
        "/api/v1/image-generation/avatar",
        json={"characterId": operator["id"], "priority": "urgent"},
        headers=as_user("ops-user", admin=True),
    )
    assert urgent.status_code == 202, urgent.text
    # No GPU renders them here: cancelled, so no later test's GPU worker draws them.
    for job, user in ((lowered, "priority-user"), (urgent, "ops-user")):
        url = f"/api/v1/image-generation/jobs/{job.json()['jobId']}"
        assert (await api.delete(url, headers=as_user(user, admin=user == "ops-user"))).status_code == 202


@pytest.fixture
async def own_namespace(
    settings: Settings, client: Client, pool: asyncpg.Pool, store: ObjectStore
) -> AsyncIterator[tuple[httpx.AsyncClient, Client, Settings]]:
    """An API and a CPU worker in the health tests' namespace, where only the GPU workers a test starts poll."""
    ns_settings = settings.model_copy(update={"temporal_namespace": HEALTH_NAMESPACE})
    ns_client = await Client.connect(
        client.service_client.config.target_host, namespace=HEALTH_NAMESPACE, data_converter=pydantic_data_converter
    )
    async with serve_api(ns_settings, pool) as ns_api, build_cpu_worker(ns_client, pool, store, ns_settings):
        yield ns_api, ns_client, ns_settings


async def test_a_job_waiting_for_a_gpu_says_where_it_stands_or_that_no_gpu_takes_jobs(
    own_namespace: tuple[httpx.AsyncClient, Client, Settings],
) -> None:
    api, client, settings = own_namespace
    character = await create_character(api, "waiting-user")

    async def waiting(job_id: str, gpus: int) -> dict[str, Any]:
        """Its queue, once the GPU view (read every 2 s) has the GPU workers there are now."""
        status = await wait_for(
            api,
            job_id,
            lambda s: s["stage"] == "waiting_for_gpu" and s["queue"] and s["queue"]["gpus"] == gpus,
            headers=as_user("waiting-user"),
        )
        return status["queue"]  # type: ignore[no-any-return]

    first = await post(api, "/api/v1/image-generation/avatar", {"characterId": character["id"]}, "waiting-user")
    queue = await waiting(first.json()["jobId"], gpus=0)
    assert queue["gpus"] == 0 and queue["note"] == NO_GPU and queue["estimatedStartAt"] is None

    async with simulated(settings, SimConfig(render_seconds=2.0)) as rig, gpu(client, rig, worker_id="estimate-gpu"):
        # Its render is measured: the estimates' median of an avatar.
        await wait_for(api, first.json()["jobId"], done, within=60, headers=as_user("waiting-user"))
        more = [  # the last waits for four renders of 2 s: time enough to look at it, even on a loaded machine
            await post(api, "/api/v1/image-generation/avatar", {"characterId": character["id"]}, "waiting-user")
            for _ in range(5)
        ]
        queue = await waiting(more[-1].json()["jobId"], gpus=1)
        assert queue["gpus"] == 1 and queue["ahead"] >= 1, queue
        assert queue["estimatedStartAt"] and queue["estimatedReadyAt"] > queue["estimatedStartAt"], queue
        assert "ahead on 1 GPU(s)" in queue["note"], queue
        # Operators see it too: the run's current details in the Web UI, estimated as its render was queued.
        metadata = await client.get_workflow_handle(more[-1].json()["workflowId"]).query("__temporal_workflow_metadata")
        details = metadata.current_details
        assert details.startswith("rendering: waiting for a GPU: ") and "ahead on 1 GPU(s)" in details, details
        assert "UTC (estimated at queueing)" in details, details
        async with api.stream(
            "GET", f"/api/v1/image-generation/jobs/{more[-1].json()['jobId']}/events", headers=as_user("waiting-user")
        ) as events:
            async for line in events.aiter_lines():
                if line.startswith("data:") and '"queue": {' in line:
                    break
        for job in more:
            await wait_for(api, job.json()["jobId"], done, within=60, headers=as_user("waiting-user"))
    # Its check before queueing answered with its place: a local activity's result, replayed from the marker.
    await record(client, more[-1].json()["workflowId"], "avatar_with_queue_estimate")
