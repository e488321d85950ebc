"""Live progress: a WebSocket and a server-sent event stream carry every stage of a real run, render steps
included, and close with the final result."""

from __future__ import annotations

import json
from itertools import groupby
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.helpers.auth import as_user
from tests.helpers.jobs import create_character
from tests.helpers.parts import LocalParts

EVERY_STAGE = ["queued", "building_prompt", "rendering", "converting", "saving", "done"]


def ws_url(api: httpx.AsyncClient, job_id: str) -> str:
    return f"{str(api.base_url).replace('http://', 'ws://')}/api/v1/image-generation/ws/{job_id}"


async def start_avatar(api: httpx.AsyncClient, seed: int | None = None) -> dict[str, Any]:
    character = await create_character(api)
    body = {"characterId": character["id"], **({"seed": seed} if seed is not None else {})}
    response = await api.post("/api/v1/image-generation/avatar", json=body)
    assert response.status_code == 202
    accepted: dict[str, Any] = response.json()
    return accepted


def stages(messages: list[dict[str, Any]]) -> list[str]:
    """The stages in order, each once, leaving out `waiting_for_gpu` (seen only if the GPU is slow to start)."""
    return [stage for stage, _ in groupby(m["stage"] for m in messages if m["stage"] != "waiting_for_gpu")]


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_websocket_receives_every_stage_of_a_real_run(api: httpx.AsyncClient, local_parts: LocalParts) -> None:
    # A render of seconds, as a real one is: the default 0.3 s can pass between two of the stream's looks on a
    # loaded machine, and then no render step is seen.
    async with httpx.AsyncClient() as http:
        fault = await http.post(
            f"{local_parts.comfyui_url}/sim/faults", json={"kind": "slow", "seconds": 2.5, "seed": 7_070_707}
        )
        fault.raise_for_status()
    accepted = await start_avatar(api, seed=7_070_707)
    messages: list[dict[str, Any]] = []
    async with websockets.connect(ws_url(api, accepted["jobId"]), additional_headers=as_user("user-1")) as socket:
        async for frame in socket:
            messages.append(json.loads(frame))
        assert socket.close_code == 1000
    assert stages(messages) == EVERY_STAGE, [m["stage"] for m in messages]
    steps = [m["progress"]["step"] for m in messages if m["progress"]]
    assert steps and steps == sorted(steps) and messages[-2]["stage"] != "done"
    final = messages[-1]
    assert final["status"] == "ready" and final["resultUrl"].endswith(".webp") and final["jobId"] == accepted["jobId"]


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_server_sent_events_end_with_the_result(api: httpx.AsyncClient) -> None:
    accepted = await start_avatar(api)
    events: list[tuple[str, dict[str, Any]]] = []
    key = as_user("user-1")["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(base_url=str(api.base_url), timeout=60) as browser:  # EventSource: no headers
        url = f"/api/v1/image-generation/jobs/{accepted['jobId']}/events"
        async with browser.stream("GET", url, params={"access_token": key}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((event, json.loads(line.removeprefix("data: "))))
    assert [e for e, _ in events[:-1]] == ["status"] * (len(events) - 1) and events[-1][0] == "end"
    assert stages([body for _, body in events]) == EVERY_STAGE
    assert events[-1][1]["status"] == "ready"


async def test_streams_need_a_key_and_the_callers_own_job(api: httpx.AsyncClient) -> None:
    accepted = await start_avatar(api)  # no worker: it stays queued; only its owner may watch it
    url = ws_url(api, accepted["jobId"])
    await api.get("/api/v1/credits", headers=as_user("user-2"))  # user-2's key exists from now on
    for headers, code in (({}, 4401), (as_user("user-2"), 4404)):
        async with websockets.connect(url, additional_headers=headers) as socket:
            message = json.loads(await socket.recv())
            with pytest.raises(ConnectionClosed):
                await socket.recv()
        assert "error" in message and socket.close_code == code
    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        events = await anonymous.get(f"/api/v1/image-generation/jobs/{accepted['jobId']}/events")
    assert events.status_code == 401
    await api.delete(f"/api/v1/image-generation/jobs/{accepted['jobId']}")
