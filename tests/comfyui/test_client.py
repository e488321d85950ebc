"""The GPU worker's ComfyUI client: precise errors, and waits that survive a missing WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from comfyloom import localstack
from comfyloom.comfyui.client import (
    ComfyClient,
    ComfyEvents,
    ComfyPromptLost,
    ComfyRejected,
    ComfyUnavailable,
    output_images,
    wait_for_prompt,
)
from tests.comfyui.test_simulator import avatar_graph
from tests.conftest import LocalParts


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
