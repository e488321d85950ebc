"""The ComfyUI client of the GPU worker: HTTP calls with precise errors, and WebSocket events.

Written against ComfyUI's real protocol (see shared/comfyui-protocol); the simulator speaks the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime
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
    def __init__(self, message: str, node_id: Any = None) -> None:
        super().__init__(message)
        self.node_id = node_id


class ComfyPromptLost(ComfyError):
    """The prompt is neither queued, running nor in history: ComfyUI restarted and forgot it."""


def _strip(text: Any) -> str:
    """ComfyUI's messages end in a newline (exception text, tracebacks); ours are one line each."""
    return str(text or "").strip()


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


# Where our own prompt id travels with a prompt (queue entries and history keep extra_data).
CLIENT_PROMPT_ID = "comfyloom_prompt_id"
# History entries searched for a prompt an older ComfyUI renamed (never the whole history: it holds 10,000).
RECENT_HISTORY = 64


def _is_ours(item: Any, prompt_id: str) -> bool:
    """Whether a queue item or a history entry's `prompt` ([number, id, graph, extra_data, ...]) is `prompt_id`."""
    if not isinstance(item, list) or len(item) < 2:
        return False
    extra = item[3] if len(item) > 3 and isinstance(item[3], dict) else {}
    return item[1] == prompt_id or extra.get(CLIENT_PROMPT_ID) == prompt_id


@dataclass(frozen=True)
class OutputImage:
    node_id: str
    filename: str
    subfolder: str
    type: str


def output_images(entry: dict[str, Any], nodes: Collection[str] | None = None) -> list[OutputImage]:
    """Every image the entry's output nodes (or just `nodes`) wrote, all batches, in node order.

    Saved (`output`) and preview (`temp`) images both count: our templates preview, so nothing stays in
    ComfyUI's output folder (ComfyUI empties temp at start).
    """
    found: list[OutputImage] = []
    for node_id, output in sorted(entry.get("outputs", {}).items(), key=lambda kv: kv[0]):
        if nodes is not None and node_id not in nodes:
            continue
        for image in output.get("images", []):
            kind = image.get("type", "output")
            if kind in ("output", "temp"):
                found.append(OutputImage(node_id, image["filename"], image.get("subfolder", ""), kind))
    return found


def execution_seconds(entry: dict[str, Any]) -> float | None:
    """How long ComfyUI took to run a finished prompt, from its history's `execution_start` and
    `execution_success` messages (each with a millisecond `timestamp`); None when either is missing."""
    stamps: dict[str, float] = {}
    for message in entry.get("status", {}).get("messages", []):
        if isinstance(message, list) and len(message) == 2 and isinstance(message[1], dict):
            stamp = message[1].get("timestamp")
            if message[0] in ("execution_start", "execution_success") and isinstance(stamp, int | float):
                stamps[message[0]] = float(stamp)
    if len(stamps) < 2:
        return None
    return max(0.0, (stamps["execution_success"] - stamps["execution_start"]) / 1000)


# A ComfyUI that is off or asleep is noticed within this long, not after the whole read timeout.
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class HeldPrompts:
    """What ComfyUI's queue holds: the prompt running, those pending, and the pending ones queued at the front."""

    running: list[str]
    pending: list[str]
    front: list[str]


class ComfyClient:
    def __init__(self, base_url: str, client_id: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT))
        )
        # Whether this ComfyUI keeps the prompt id a client chooses (0.3.4x and later, from mid-2025); older ones
        # answer with an id of their own. None until the first prompt is queued.
        self.keeps_prompt_ids: bool | None = None

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

    async def queue_prompt(self, graph: dict[str, Any], prompt_id: str, *, front: bool = False) -> str:
        """Queue a graph under our `prompt_id` (`front`: ahead of the prompts pending, as ComfyUI's own "queue
        front" does); returns the id ComfyUI runs it under.

        A ComfyUI older than client-chosen ids answers with an id of its own: that is the one its queue,
        history and events use. Ours travels in `extra_data` either way, so `find_prompt` can map it back.
        """
        body = {
            "prompt": graph,
            "client_id": self.client_id,
            "prompt_id": prompt_id,
            "extra_data": {CLIENT_PROMPT_ID: prompt_id},
            **({"front": True} if front else {}),
        }
        response = await self._request("POST", "/prompt", json=body)
        if response.status_code == 400:
            payload = response.json()
            raise ComfyRejected(describe_rejection(payload), payload)
        if response.status_code != 200:
            raise ComfyError(f"ComfyUI POST /prompt answered {response.status_code}: {response.text[:300]}")
        queued = str(response.json().get("prompt_id") or prompt_id)
        self.keeps_prompt_ids = queued == prompt_id
        if not self.keeps_prompt_ids:
            log.info("ComfyUI runs our prompt %s as %s (a version that ignores client prompt ids)", prompt_id, queued)
        return queued

    async def find_prompt(self, prompt_id: str) -> str | None:
        """The id ComfyUI knows our prompt `prompt_id` by (queued, running or in history), or None.

        Queue entries and history keep the `extra_data` we sent, so a prompt queued by an older ComfyUI under
        its own id is found too; its history is searched among the latest entries only.
        """
        queue = await self._json("GET", "/queue")
        for item in [*queue.get("queue_running", []), *queue.get("queue_pending", [])]:
            if _is_ours(item, prompt_id):
                return str(item[1])
        if await self.history(prompt_id) is not None:
            return prompt_id
        if self.keeps_prompt_ids is not False:
            return None
        recent = await self._json("GET", "/history", params={"max_items": RECENT_HISTORY})
        for comfy_id, entry in (recent or {}).items():
            if _is_ours(entry.get("prompt"), prompt_id):
                return str(comfy_id)
        return None

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
        held = await self.held()
        return len(held.running) + len(held.pending)

    async def held(self) -> HeldPrompts:
        """The ids of the prompts ComfyUI is running and of those pending, and which of those were queued at the
        front (ComfyUI gives a front prompt a negative number)."""
        data = await self._json("GET", "/queue")

        def entries(key: str) -> list[list[Any]]:
            found = data.get(key, [])
            return [e for e in found if isinstance(e, list) and len(e) > 1] if isinstance(found, list) else []

        pending = entries("queue_pending")
        front = [str(e[1]) for e in pending if isinstance(e[0], (int, float)) and e[0] < 0]
        return HeldPrompts(
            running=[str(e[1]) for e in entries("queue_running")], pending=[str(e[1]) for e in pending], front=front
        )

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
    queues every prompt with this listener's id. It reconnects with a short backoff forever (a ComfyUI
    back from an outage is heard from within seconds); waiters never rely on it alone (see
    `wait_for_prompt`). `changed` is set whenever the socket connects or drops, `queue_changed` whenever
    ComfyUI says its queue changed (its `status` message, sent to every client).
    """

    def __init__(self, client: ComfyClient) -> None:
        self._client = client
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self.connected = asyncio.Event()
        self.changed = asyncio.Event()
        self.queue_changed = asyncio.Event()

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
        if message.get("type") == "status":
            self.queue_changed.set()
        data = message.get("data")
        prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
        for queue in self._subscribers.get(prompt_id or "", ()):
            queue.put_nowait(message)

    def _set_connected(self, connected: bool) -> None:
        if connected != self.connected.is_set():
            (self.connected.set if connected else self.connected.clear)()
            self.changed.set()

    async def run(self) -> None:
        delay = RECONNECT_FIRST
        while True:
            try:
                async with websockets.connect(self._client.ws_url(), max_size=None, open_timeout=10) as ws:
                    self._set_connected(True)
                    delay = RECONNECT_FIRST
                    async for raw in ws:
                        if isinstance(raw, str):
                            self._dispatch(json.loads(raw))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # any socket failure: back off and reconnect
                if self.connected.is_set():
                    log.warning("ComfyUI WebSocket down (%r); reconnecting", e)
            self._set_connected(False)
            await asyncio.sleep(delay + random.uniform(0, delay / 2))
            delay = min(delay * 2, RECONNECT_CAP)


RECONNECT_FIRST = 0.25
RECONNECT_CAP = 2.0


@dataclass(frozen=True)
class WaitState:
    """Where a wait stands, for heartbeats: the node and sampler step, or since when ComfyUI has not answered."""

    node: str | None = None
    step: int = 0
    total: int = 0
    unreachable_since: datetime | None = None


ProgressCallback = Callable[[WaitState], Awaitable[None] | None]


def step_of(message: dict[str, Any]) -> tuple[str | None, int, int] | None:
    """The running node's step and total from a `progress` message (samplers, every version) or a
    `progress_state` one (ComfyUI 0.3.6x and later: every running node), or None."""
    kind, data = message.get("type"), message.get("data") or {}
    if kind == "progress":
        return data.get("node"), int(data["value"]), int(data["max"])
    if kind == "progress_state":
        running = [n for n in (data.get("nodes") or {}).values() if n.get("state") == "running" and n.get("max")]
        if running:
            node = max(running, key=lambda n: int(n["max"]))  # the sampler, when several nodes run
            return str(node.get("display_node_id") or node.get("node_id")), int(node["value"]), int(node["max"])
    return None


async def wait_for_prompt(
    client: ComfyClient,
    events: ComfyEvents,
    prompt_id: str,
    *,
    on_progress: ProgressCallback,
    poll_seconds: float,
    unreachable_since: datetime | None = None,
) -> dict[str, Any]:
    """Wait until a queued prompt finishes and return its history entry.

    WebSocket events give progress and prompt completion; `/history` polling runs whenever the socket
    is quiet for `poll_seconds`, so a stalled or dropped socket (or a prompt queued by another client
    id) never hangs the wait. `execution_success` can arrive before history is written: the entry is
    read only once history has it.

    A ComfyUI that stops answering (the PC asleep, rebooting, its network down) is waited for as long as
    the caller waits, polled every `poll_seconds` and reported through `on_progress` with since when (an
    earlier attempt's `unreachable_since` carries on). When it answers again the wait goes on if it still
    knows the prompt; if it restarted and forgot it, `ComfyPromptLost`.
    """
    state = WaitState(unreachable_since=unreachable_since)

    async def report(**changes: Any) -> None:
        nonlocal state
        state = replace(state, **changes)
        result = on_progress(state)
        if result is not None:
            await result

    async def finished_entry() -> dict[str, Any] | None:
        # ComfyUI writes a history entry only once the prompt is done, successfully or not.
        entry = await client.history(prompt_id)
        if entry is not None and entry.get("status", {}).get("status_str") == "error":
            raise _failure_from_history(prompt_id, entry["status"])
        return entry

    async with events.subscribe(prompt_id) as inbox:
        while True:
            try:  # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancel that lands with a message
                async with asyncio.timeout(poll_seconds):
                    message = await inbox.get()
            except TimeoutError:
                message = None
            if message is not None:
                kind, data = message["type"], message["data"]
                if kind == "executing":
                    await report(node=data.get("node"), step=0, total=0)
                    if data.get("node") is not None:
                        continue
                elif (step := step_of(message)) is not None:
                    node, value, total = step
                    await report(node=node or state.node, step=value, total=total)
                    continue
                elif kind == "execution_error":
                    raise _execution_failed(data)
                elif kind == "execution_interrupted":
                    raise ComfyInterrupted(
                        f"prompt {prompt_id} was interrupted at node {data.get('node_id')}", data.get("node_id")
                    )
                elif kind != "execution_success":
                    continue
            try:
                entry = await finished_entry()
                if entry is not None:
                    return entry
                if message is None or state.unreachable_since is not None:
                    if await client.queue_state(prompt_id) is None and await finished_entry() is None:
                        raise ComfyPromptLost(f"ComfyUI no longer knows prompt {prompt_id} (restarted?)")
                if state.unreachable_since is not None:
                    log.info("ComfyUI at %s answers again; prompt %s is still there", client.base_url, prompt_id)
                await report(unreachable_since=None)  # also keeps heartbeats flowing while the socket is quiet
            except ComfyUnavailable as e:
                if state.unreachable_since is None:
                    log.warning("ComfyUI at %s does not answer (%s); waiting for it", client.base_url, e)
                await report(unreachable_since=state.unreachable_since or datetime.now(UTC))


def _execution_failed(data: dict[str, Any]) -> ComfyExecutionFailed:
    return ComfyExecutionFailed(
        f"node {data.get('node_id')} ({data.get('node_type')}) failed: "
        f"{_strip(data.get('exception_type'))}: {_strip(data.get('exception_message'))}",
        data,
    )


def _failure_from_history(prompt_id: str, status: dict[str, Any]) -> ComfyError:
    for event, data in status.get("messages", []):
        if event == "execution_error":
            return _execution_failed(data)
        if event == "execution_interrupted":
            return ComfyInterrupted(
                f"prompt {prompt_id} was interrupted at node {data.get('node_id')}", data.get("node_id")
            )
    return ComfyExecutionFailed(f"prompt {prompt_id} ended with status error", {})
