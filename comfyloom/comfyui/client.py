"""The ComfyUI client of the GPU worker: HTTP calls with precise errors, and WebSocket events.

Written against ComfyUI's real protocol (see shared/comfyui-protocol); the simulator speaks the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import websockets

log = logging.getLogger("comfyloom.comfyui")


class ComfyError(Exception):
    """Base of everything ComfyUI can do wrong."""


class ComfyUnavailable(ComfyError):
    """ComfyUI did not answer, or answered 5xx: worth retrying later."""


class ComfyRejected(ComfyError):
    """ComfyUI refused the graph (HTTP 400): retrying the same graph cannot help."""

    def __init__(self, message: str, body: dict[str, Any]) -> None:
        super().__init__(message)
        self.body = body


class ComfyExecutionFailed(ComfyError):
    def __init__(self, message: str, data: dict[str, Any]) -> None:
        super().__init__(message)
        self.data = data

    @property
    def out_of_memory(self) -> bool:
        text = f"{self.data.get('exception_type', '')} {self.data.get('exception_message', '')}".lower()
        return "outofmemory" in text.replace(" ", "") or "out of memory" in text


class ComfyInterrupted(ComfyError):
    pass


class ComfyPromptLost(ComfyError):
    """The prompt is neither queued, running nor in history: ComfyUI restarted and forgot it."""


def describe_rejection(body: dict[str, Any]) -> str:
    """One readable line naming each failing node and why, from a `/prompt` 400 body."""
    error = body.get("error", {})
    parts = [f"{error.get('message', 'rejected')}" + (f" ({error['details']})" if error.get("details") else "")]
    for node_id, node in body.get("node_errors", {}).items():
        reasons = "; ".join(
            f"{e.get('message', '')}" + (f": {e['details']}" if e.get("details") else "")
            for e in node.get("errors", [])
        )
        parts.append(f"node {node_id} ({node.get('class_type', '?')}): {reasons}")
    return " | ".join(parts)


@dataclass(frozen=True)
class OutputImage:
    node_id: str
    filename: str
    subfolder: str
    type: str


def output_images(entry: dict[str, Any]) -> list[OutputImage]:
    """Every saved image of a history entry, all nodes and batches, in node order."""
    found: list[OutputImage] = []
    for node_id, output in sorted(entry.get("outputs", {}).items(), key=lambda kv: kv[0]):
        for image in output.get("images", []):
            if image.get("type", "output") == "output":
                found.append(OutputImage(node_id, image["filename"], image.get("subfolder", ""), "output"))
    return found


class ComfyClient:
    def __init__(self, base_url: str, client_id: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise ComfyUnavailable(f"ComfyUI at {self.base_url} is unreachable: {e!r}") from e
        if response.status_code >= 500:
            raise ComfyUnavailable(f"ComfyUI {method} {path} answered {response.status_code}")
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._request(method, path, **kwargs)
        if response.status_code != 200:
            raise ComfyError(f"ComfyUI {method} {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    async def queue_prompt(self, graph: dict[str, Any], prompt_id: str) -> dict[str, Any]:
        body = {"prompt": graph, "client_id": self.client_id, "prompt_id": prompt_id}
        response = await self._request("POST", "/prompt", json=body)
        if response.status_code == 400:
            payload = response.json()
            raise ComfyRejected(describe_rejection(payload), payload)
        if response.status_code != 200:
            raise ComfyError(f"ComfyUI POST /prompt answered {response.status_code}: {response.text[:300]}")
        result: dict[str, Any] = response.json()
        return result

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The finished entry for one prompt, or None while it is unknown, queued or running."""
        data = await self._json("GET", f"/history/{prompt_id}")
        entry: dict[str, Any] | None = data.get(prompt_id) if data else None
        return entry

    async def queue_state(self, prompt_id: str) -> str | None:
        """'running', 'pending', or None when the queue does not hold this prompt."""
        data = await self._json("GET", "/queue")
        if any(item[1] == prompt_id for item in data.get("queue_running", [])):
            return "running"
        if any(item[1] == prompt_id for item in data.get("queue_pending", [])):
            return "pending"
        return None

    async def backlog(self) -> int:
        """Prompts ComfyUI holds right now, running or pending."""
        data = await self._json("GET", "/queue")
        return len(data.get("queue_running", [])) + len(data.get("queue_pending", []))

    async def view(self, image: OutputImage) -> bytes:
        params = {"filename": image.filename, "subfolder": image.subfolder, "type": image.type}
        response = await self._request("GET", "/view", params=params)
        if response.status_code != 200:
            raise ComfyError(f"ComfyUI has no output file {image.subfolder}/{image.filename}")
        return response.content

    async def interrupt(self, prompt_id: str) -> None:
        await self._request("POST", "/interrupt", json={"prompt_id": prompt_id})

    async def delete_pending(self, prompt_id: str) -> None:
        await self._request("POST", "/queue", json={"delete": [prompt_id]})

    async def free(self, *, unload_models: bool = True, free_memory: bool = True) -> None:
        await self._request("POST", "/free", json={"unload_models": unload_models, "free_memory": free_memory})

    async def object_info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", "/object_info")
        return result

    async def system_stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", "/system_stats")
        return result

    def ws_url(self) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path + "/ws", f"clientId={self.client_id}", ""))


class ComfyEvents:
    """One WebSocket per GPU worker, fanned out to the activities waiting on each prompt.

    ComfyUI sends execution events only to the client id that queued the prompt, so the worker
    queues every prompt with this listener's id. It reconnects with backoff forever; waiters never
    rely on it alone (see `wait_for_prompt`).
    """

    def __init__(self, client: ComfyClient) -> None:
        self._client = client
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self.connected = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self, prompt_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.setdefault(prompt_id, set()).add(queue)
        try:
            yield queue
        finally:
            subs = self._subscribers.get(prompt_id, set())
            subs.discard(queue)
            if not subs:
                self._subscribers.pop(prompt_id, None)

    def _dispatch(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        for queue in self._subscribers.get(prompt_id or "", ()):
            queue.put_nowait(message)

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with websockets.connect(self._client.ws_url(), max_size=None, open_timeout=10) as ws:
                    self.connected.set()
                    delay = 0.5
                    async for raw in ws:
                        if isinstance(raw, str):
                            self._dispatch(json.loads(raw))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # any socket failure: back off and reconnect
                log.warning("ComfyUI WebSocket down (%r); reconnecting in %.1fs", e, delay)
            self.connected.clear()
            await asyncio.sleep(delay + random.uniform(0, delay / 2))
            delay = min(delay * 2, 15.0)


ProgressCallback = Callable[[str | None, int, int], Awaitable[None] | None]


async def wait_for_prompt(
    client: ComfyClient,
    events: ComfyEvents,
    prompt_id: str,
    *,
    on_progress: ProgressCallback,
    poll_seconds: float,
    unreachable_grace: float = 60.0,
) -> dict[str, Any]:
    """Wait until a queued prompt finishes and return its history entry.

    WebSocket events give progress and prompt completion; `/history` polling runs whenever the socket
    is quiet for `poll_seconds`, so a stalled or dropped socket (or a prompt queued by another client
    id) never hangs the wait. `execution_success` can arrive before history is written: the entry is
    read only once history has it. A ComfyUI that stops answering is waited for `unreachable_grace`
    seconds (a home network blips); after a restart it no longer knows the prompt: `ComfyPromptLost`.
    """

    async def report(node: str | None, step: int, total: int) -> None:
        result = on_progress(node, step, total)
        if result is not None:
            await result

    async def finished_entry() -> dict[str, Any] | None:
        # ComfyUI writes a history entry only once the prompt is done, successfully or not.
        entry = await client.history(prompt_id)
        if entry is not None and entry.get("status", {}).get("status_str") == "error":
            raise _failure_from_history(prompt_id, entry["status"])
        return entry

    async with events.subscribe(prompt_id) as inbox:
        node: str | None = None
        unreachable_since: float | None = None
        while True:
            try:
                message = await asyncio.wait_for(inbox.get(), timeout=poll_seconds)
            except TimeoutError:
                message = None
            if message is not None:
                kind, data = message["type"], message["data"]
                if kind == "executing":
                    node = data.get("node")
                    await report(node, 0, 0)
                    if node is not None:
                        continue
                elif kind == "progress":
                    await report(data.get("node", node), int(data["value"]), int(data["max"]))
                    continue
                elif kind == "execution_error":
                    raise _execution_failed(data)
                elif kind == "execution_interrupted":
                    raise ComfyInterrupted(f"prompt {prompt_id} was interrupted at node {data.get('node_id')}")
                elif kind != "execution_success":
                    continue
            try:
                entry = await finished_entry()
                if entry is not None:
                    return entry
                if message is None:
                    await report(node, 0, 0)  # keeps heartbeats flowing while the socket is quiet
                    if await client.queue_state(prompt_id) is None and await finished_entry() is None:
                        raise ComfyPromptLost(f"ComfyUI no longer knows prompt {prompt_id} (restarted?)")
                unreachable_since = None
            except ComfyUnavailable:
                loop_time = asyncio.get_running_loop().time()
                unreachable_since = unreachable_since or loop_time
                if loop_time - unreachable_since > unreachable_grace:
                    raise
                await report(node, 0, 0)


def _execution_failed(data: dict[str, Any]) -> ComfyExecutionFailed:
    return ComfyExecutionFailed(
        f"node {data.get('node_id')} ({data.get('node_type')}) failed: "
        f"{data.get('exception_type', '')}: {data.get('exception_message', '')}",
        data,
    )


def _failure_from_history(prompt_id: str, status: dict[str, Any]) -> ComfyError:
    for event, data in status.get("messages", []):
        if event == "execution_error":
            return _execution_failed(data)
        if event == "execution_interrupted":
            return ComfyInterrupted(f"prompt {prompt_id} was interrupted at node {data.get('node_id')}")
    return ComfyExecutionFailed(f"prompt {prompt_id} ended with status error", {})
