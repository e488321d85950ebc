"""The simulator answers as ComfyUI does (shared/comfyui-protocol): routes, bodies and message order."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from PIL import Image

from devstack import localstack
from devstack.simulator import SimConfig, serve
from tests.helpers.graphs import avatar_graph, cover_graph
from tests.helpers.packs import NEWER_IMPACT_PACK
from tests.helpers.parts import LocalParts


@pytest.fixture
def comfy(local_parts: LocalParts) -> str:
    return local_parts.comfyui_url


async def messages_until_idle(ws: Any, prompt_id: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(20):
        while True:
            raw = await ws.recv()
            if isinstance(raw, bytes):
                continue
            message = json.loads(raw)
            seen.append(message)
            data = message["data"]
            if message["type"] == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                return seen


async def test_a_prompt_runs_with_comfyuis_message_order_and_history(comfy: str) -> None:
    client_id, prompt_id = uuid.uuid4().hex, str(uuid.uuid4())
    async with (
        websockets.connect(f"{comfy.replace('http', 'ws')}/ws?clientId={client_id}") as ws,
        httpx.AsyncClient(base_url=comfy) as http,
    ):
        first = json.loads(await ws.recv())
        assert first["type"] == "status" and first["data"]["sid"] == client_id
        queued = await http.post(
            "/prompt", json={"prompt": avatar_graph(), "client_id": client_id, "prompt_id": prompt_id}
        )
        assert queued.status_code == 200
        assert queued.json()["prompt_id"] == prompt_id and queued.json()["node_errors"] == {}
        assert (await http.get(f"/history/{prompt_id}")).json() == {}

        seen = await messages_until_idle(ws, prompt_id)
        kinds = [m["type"] for m in seen if m["type"] != "status"]
        assert kinds[:2] == ["execution_start", "execution_cached"]
        assert kinds[-2:] == ["execution_success", "executing"]
        assert "progress" in kinds and "executed" in kinds
        executed_nodes = [m["data"]["node"] for m in seen if m["type"] == "executing" and m["data"]["node"]]
        assert (
            executed_nodes.index("4")
            < executed_nodes.index("3")
            < executed_nodes.index("8")
            < executed_nodes.index("9")
        )
        steps = [m["data"]["value"] for m in seen if m["type"] == "progress"]
        assert steps == list(range(1, 29))

        entry = (await http.get(f"/api/history/{prompt_id}")).json()[prompt_id]
        assert entry["status"] == {**entry["status"], "status_str": "success", "completed": True}
        [image] = entry["outputs"]["9"]["images"]
        assert image["subfolder"] == "" and image["type"] == "temp"
        assert image["filename"].startswith("ComfyUI_temp_") and image["filename"].endswith("_00001_.png")
        png = await http.get("/view", params=image)
        with Image.open(io.BytesIO(png.content)) as img:
            assert img.format == "PNG" and img.size == (768, 768)
            assert json.loads(img.info["prompt"])["3"]["inputs"]["seed"] == 1


@pytest.mark.parametrize(
    ("mutate", "node", "error_type"),
    [
        (lambda g: g["4"]["inputs"].update(ckpt_name="missing.safetensors"), "4", "value_not_in_list"),
        (lambda g: g["3"]["inputs"].pop("seed"), "3", "required_input_missing"),
        (lambda g: g["5"]["inputs"].update(width=8), "5", "value_smaller_than_min"),
    ],
)
async def test_invalid_inputs_are_rejected_with_node_errors(
    comfy: str, mutate: Any, node: str, error_type: str
) -> None:
    graph = avatar_graph()
    mutate(graph)
    async with httpx.AsyncClient(base_url=comfy) as http:
        response = await http.post("/prompt", json={"prompt": graph})
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["node_errors"][node]["errors"][0]["type"] == error_type
    assert body["node_errors"][node]["class_type"] == graph[node]["class_type"]


async def test_unknown_node_class_and_missing_prompt_are_rejected(comfy: str) -> None:
    graph = avatar_graph()
    graph["10"] = {"class_type": "UltimateSDUpscale", "inputs": {}}
    async with httpx.AsyncClient(base_url=comfy) as http:
        unknown = await http.post("/prompt", json={"prompt": graph})
        empty = await http.post("/prompt", json={"client_id": "x"})
    assert unknown.status_code == 400
    assert unknown.json() == {  # as the real ComfyUI 0.3.64 answered (shared/comfyui-protocol/README.md)
        "error": {
            "type": "invalid_prompt",
            "message": "Cannot execute because node UltimateSDUpscale does not exist.",
            "details": "Node ID '#10'",
            "extra_info": {},
        },
        "node_errors": {},
    }
    assert empty.status_code == 400 and empty.json()["error"]["type"] == "no_prompt"


@pytest.fixture
async def slow_comfy() -> AsyncIterator[str]:
    port = localstack.free_port()
    runner = await serve(SimConfig(render_seconds=5.0), "127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_interrupt_stops_the_running_prompt_and_delete_drops_a_pending_one(slow_comfy: str) -> None:
    client_id = uuid.uuid4().hex
    running_id, pending_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with (
        websockets.connect(f"{slow_comfy.replace('http', 'ws')}/ws?clientId={client_id}") as ws,
        httpx.AsyncClient(base_url=slow_comfy) as http,
    ):
        for pid, seed in ((running_id, 1), (pending_id, 2)):
            await http.post("/prompt", json={"prompt": avatar_graph(seed), "client_id": client_id, "prompt_id": pid})
        queue = (await http.get("/queue")).json()
        assert [q[1] for q in queue["queue_pending"]] == [pending_id] or [q[1] for q in queue["queue_running"]] == [
            running_id
        ]
        await http.post("/queue", json={"delete": [pending_id]})
        assert pending_id not in json.dumps((await http.get("/queue")).json())
        await asyncio.sleep(0.5)
        await http.post("/interrupt", json={"prompt_id": running_id})
        seen = await messages_until_idle(ws, running_id)
        assert "execution_interrupted" in [m["type"] for m in seen]
        entry = (await http.get(f"/history/{running_id}")).json()[running_id]
        assert entry["status"]["status_str"] == "error"
        assert (await http.get(f"/history/{pending_id}")).json() == {}


async def test_progress_state_comes_beside_progress_as_comfyui_0_3_64_sends_it(comfy: str) -> None:
    client_id, prompt_id = uuid.uuid4().hex, str(uuid.uuid4())
    async with (
        websockets.connect(f"{comfy.replace('http', 'ws')}/ws?clientId={client_id}") as ws,
        httpx.AsyncClient(base_url=comfy) as http,
    ):
        await http.post("/prompt", json={"prompt": avatar_graph(5), "client_id": client_id, "prompt_id": prompt_id})
        seen = await messages_until_idle(ws, prompt_id)
    states = [m["data"]["nodes"] for m in seen if m["type"] == "progress_state"]
    sampler = [nodes["3"] for nodes in states if "3" in nodes]
    assert sampler[-1]["state"] == "finished"
    assert [s["value"] for s in sampler if s["state"] == "running" and s["value"]] == list(range(1, 29))
    assert {s["max"] for s in sampler if s["state"] == "running" and s["value"]} == {28}


@pytest.fixture
async def legacy_comfy() -> AsyncIterator[str]:
    port = localstack.free_port()
    runner = await serve(SimConfig(render_seconds=0.2, legacy=True), "127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_legacy_comfyui_runs_a_prompt_under_its_own_id_and_keeps_extra_data(legacy_comfy: str) -> None:
    ours = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=legacy_comfy) as http:
        queued = await http.post(
            "/prompt", json={"prompt": avatar_graph(6), "prompt_id": ours, "extra_data": {"k": ours}}
        )
        theirs = queued.json()["prompt_id"]
        assert theirs != ours
        stats = (await http.get("/system_stats")).json()
        for _ in range(100):
            if entry := (await http.get(f"/history/{theirs}")).json():
                break
            await asyncio.sleep(0.05)
    assert stats["system"]["comfyui_version"] == "0.3.44"
    assert entry[theirs]["prompt"][1] == theirs and entry[theirs]["prompt"][3] == {"k": ours}


@pytest.mark.servers  # waits out a real outage of its own simulator
async def test_an_outage_refuses_connections_then_comes_back_with_or_without_its_history(slow_comfy: str) -> None:
    async with httpx.AsyncClient(base_url=slow_comfy) as http:
        kept = (await http.post("/prompt", json={"prompt": avatar_graph(7)})).json()["prompt_id"]
        down = await http.post("/sim/faults", json={"kind": "down", "seconds": 1.0})
        assert down.status_code == 200
        with pytest.raises(httpx.ConnectError):
            await http.get("/queue")
        await asyncio.sleep(1.5)
        assert kept in json.dumps((await http.get("/queue")).json()), "a network outage: the render went on"
        await http.post("/sim/faults", json={"kind": "down", "seconds": 0.5, "forget": True})
        await asyncio.sleep(1.0)
        queue = (await http.get("/queue")).json()
        assert queue == {"queue_running": [], "queue_pending": []}, "a restart: the prompt is gone"
        assert (await http.get(f"/history/{kept}")).json() == {}


async def test_the_old_cover_template_is_refused_as_the_real_comfyui_refused_it(comfy: str) -> None:
    graph = cover_graph()
    for name in [n for n in graph["12"]["inputs"] if n.startswith("sam_")]:
        del graph["12"]["inputs"][name]
    async with httpx.AsyncClient(base_url=comfy) as http:
        response = await http.post("/prompt", json={"prompt": graph})
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    node = body["node_errors"]["12"]
    assert node["class_type"] == "FaceDetailer" and node["dependent_outputs"] == ["9"]
    assert [e["type"] for e in node["errors"]] == ["required_input_missing"] * 6


async def test_a_simulated_pack_release_that_adds_a_required_input_refuses_the_template() -> None:
    port = localstack.free_port()
    runner = await serve(SimConfig(node_inputs=NEWER_IMPACT_PACK), "127.0.0.1", port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            info = (await http.get("/object_info/FaceDetailer")).json()
            response = await http.post("/prompt", json={"prompt": cover_graph()})
            plain = await http.post("/prompt", json={"prompt": avatar_graph()})
    finally:
        await runner.cleanup()
    assert "sam_new_knob" in info["FaceDetailer"]["input"]["required"]
    assert response.status_code == 400
    assert response.json()["node_errors"]["12"]["errors"][0]["details"] == "sam_new_knob"
    assert plain.status_code == 200
