"""The GPU worker's ComfyUI client: precise errors, and waits that survive a missing WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from comfyloom.comfyui.client import (
    ComfyClient,
    ComfyEvents,
    ComfyPromptLost,
    ComfyRejected,
    ComfyUnavailable,
    WaitState,
    _execution_failed,
    output_images,
    step_of,
    wait_for_prompt,
)
from devstack import localstack
from devstack.simulator import SIMULATOR, SimConfig, serve
from tests.helpers.graphs import avatar_graph
from tests.helpers.parts import LocalParts


@contextlib.asynccontextmanager
async def listening(url: str, client_id: str) -> AsyncIterator[tuple[ComfyClient, ComfyEvents]]:
    client = ComfyClient(url, client_id)
    events = ComfyEvents(client)
    task = asyncio.create_task(events.run())
    await asyncio.wait_for(events.connected.wait(), 5)
    try:
        yield client, events
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.aclose()


async def test_wait_follows_progress_over_the_websocket(local_parts: LocalParts) -> None:
    progress: list[tuple[str | None, int, int]] = []
    async with listening(local_parts.comfyui_url, uuid.uuid4().hex) as (client, events):
        prompt_id = str(uuid.uuid4())
        await client.queue_prompt(avatar_graph(seed=11), prompt_id)
        entry = await wait_for_prompt(
            client, events, prompt_id, on_progress=lambda s: progress.append((s.node, s.step, s.total)), poll_seconds=5
        )
    assert [img.node_id for img in output_images(entry)] == ["9"]
    assert ("3", 28, 28) in progress


async def test_wait_falls_back_to_history_when_no_events_arrive(local_parts: LocalParts) -> None:
    """A prompt queued under another client id sends this listener nothing: polling must finish the wait."""
    async with listening(local_parts.comfyui_url, "listener") as (client, events):
        other = ComfyClient(local_parts.comfyui_url, "someone-else")
        prompt_id = str(uuid.uuid4())
        await other.queue_prompt(avatar_graph(seed=12), prompt_id)
        await other.aclose()
        entry = await asyncio.wait_for(
            wait_for_prompt(client, events, prompt_id, on_progress=lambda *p: None, poll_seconds=0.2), 20
        )
    assert output_images(entry)


async def test_an_unknown_prompt_is_reported_lost_not_awaited_forever(local_parts: LocalParts) -> None:
    async with listening(local_parts.comfyui_url, uuid.uuid4().hex) as (client, events):
        with pytest.raises(ComfyPromptLost):
            await asyncio.wait_for(
                wait_for_prompt(client, events, str(uuid.uuid4()), on_progress=lambda *p: None, poll_seconds=0.2), 10
            )


async def test_rejections_name_the_node_and_reason(local_parts: LocalParts) -> None:
    client = ComfyClient(local_parts.comfyui_url, "x")
    with pytest.raises(ComfyRejected) as caught:
        await client.queue_prompt(avatar_graph(checkpoint="nope.safetensors"), str(uuid.uuid4()))
    await client.aclose()
    assert "node 4 (CheckpointLoaderSimple)" in str(caught.value)
    assert "nope.safetensors" in str(caught.value)


async def test_an_unreachable_comfyui_is_a_retryable_unavailable_error() -> None:
    client = ComfyClient(f"http://127.0.0.1:{localstack.free_port()}", "x")
    with pytest.raises(ComfyUnavailable):
        await client.history("abc")
    await client.aclose()


async def test_a_prompt_renamed_by_a_legacy_comfyui_is_followed_and_found_again() -> None:
    port = localstack.free_port()
    runner = await serve(SimConfig(render_seconds=0.2, legacy=True), "127.0.0.1", port)
    try:
        async with listening(f"http://127.0.0.1:{port}", uuid.uuid4().hex) as (client, events):
            ours = str(uuid.uuid4())
            theirs = await client.queue_prompt(avatar_graph(seed=21), ours)
            assert theirs != ours and client.keeps_prompt_ids is False
            assert await client.find_prompt(ours) == theirs  # queued or running
            await wait_for_prompt(client, events, theirs, on_progress=lambda s: None, poll_seconds=0.2)
            assert await client.find_prompt(ours) == theirs  # in history
            assert await client.find_prompt(str(uuid.uuid4())) is None
    finally:
        await runner.cleanup()


@pytest.mark.servers  # waits out a real outage of its own simulator
async def test_a_wait_outlasts_an_outage_and_says_since_when() -> None:
    port = localstack.free_port()
    runner = await serve(SimConfig(render_seconds=3.0), "127.0.0.1", port)
    sim = runner.app[SIMULATOR]
    states: list[WaitState] = []
    try:
        async with listening(f"http://127.0.0.1:{port}", uuid.uuid4().hex) as (client, events):
            prompt_id = await client.queue_prompt(avatar_graph(seed=22), str(uuid.uuid4()))
            sim.start_outage(1.5, forget=False)
            entry = await wait_for_prompt(client, events, prompt_id, on_progress=states.append, poll_seconds=0.2)
    finally:
        await runner.cleanup()
    assert output_images(entry)
    unreachable = {s.unreachable_since for s in states if s.unreachable_since}
    assert len(unreachable) == 1, "one outage, one start"
    assert states[-1].unreachable_since is None


def test_steps_are_read_from_progress_and_from_progress_state() -> None:
    progress = {"type": "progress", "data": {"value": 3, "max": 28, "prompt_id": "p", "node": "3"}}
    state = {
        "type": "progress_state",
        "data": {
            "prompt_id": "p",
            "nodes": {
                "3": {"value": 12, "max": 28, "state": "running", "node_id": "3", "display_node_id": "3"},
                "4": {"value": 1, "max": 1, "state": "finished", "node_id": "4", "display_node_id": "4"},
            },
        },
    }
    assert step_of(progress) == ("3", 3, 28)
    assert step_of(state) == ("3", 12, 28)
    assert step_of({"type": "executing", "data": {"node": "3"}}) is None


def test_node_failures_read_as_one_line() -> None:
    failed = _execution_failed(
        {"node_id": "8", "node_type": "VAEDecode", "exception_type": "RuntimeError", "exception_message": "boom\n"}
    )
    assert str(failed) == "node 8 (VAEDecode) failed: RuntimeError: boom"
