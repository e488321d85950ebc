"""A ComfyUI simulator: ComfyUI's real HTTP + WebSocket protocol, with placeholder images instead of a GPU.

It is a real aiohttp server (as ComfyUI is), so the GPU worker runs against it unchanged. Graphs are
validated against `/object_info` the way ComfyUI validates them and executed in dependency order with
ComfyUI's message sequence; "rendering" draws a deterministic Pillow image of the latent's size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import io
import json
import logging
import random
import re
import string
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiohttp import WSMsgType, web
from PIL import Image, ImageDraw, PngImagePlugin
from pydantic import BaseModel, Field

from comfyloom.comfyui.validation import comfy_error, validate_prompt
from devstack.catalogue import InputChanges, object_info

log = logging.getLogger("comfyloom.simulator")

Graph = dict[str, dict[str, Any]]


@dataclass
class SimConfig:
    # A prompt's whole execution time, as ComfyUI's own log reports it: the sampler gets what the other
    # nodes (decoding, saving the PNG) leave of it.
    render_seconds: float = 1.0
    checkpoints: list[str] = field(
        default_factory=lambda: ["waiNSFWIllustrious_v130.safetensors", "sd_xl_base_1.0.safetensors"]
    )
    loras: list[str] = field(default_factory=lambda: ["add_detail.safetensors"])
    # False: a bare ComfyUI, without the custom node packs (Easy-Use, Impact-Pack) some templates need.
    custom_nodes: bool = True
    # Inputs a node pack's other release adds (as required) or drops: {"FaceDetailer": {"new_input": spec}}.
    node_inputs: InputChanges = field(default_factory=dict)
    output_dir: Path | None = None
    # True: act as ComfyUI before mid-2025 (0.3.44 tried): a client's `prompt_id` is ignored and the prompt
    # runs under an id of ComfyUI's own, and sampler steps come as `progress` only (no `progress_state`).
    legacy: bool = False

    @property
    def comfyui_version(self) -> str:
        return "0.3.44" if self.legacy else "0.3.64"


class Fault(BaseModel):
    """A failure the next prompt(s) will meet, set through `POST /sim/faults` (not a ComfyUI route).

    slow: render takes `seconds`; fail: `execution_error` at `node` (default: the sampler);
    oom: a CUDA out-of-memory `execution_error`; drop_ws: close every WebSocket mid-render;
    stall_ws: the prompt runs but its WebSocket messages never arrive; restart: ComfyUI dies
    mid-render and comes back with empty queue and history; reject: `/prompt` answers 400.

    down (applies at once, not to a prompt): ComfyUI stops answering for `seconds`: connections are
    refused, sockets drop. With `forget`, it comes back as a restarted ComfyUI (queue, history and the
    running prompt gone); without, as after a network outage or a sleep (the render went on).
    """

    kind: Literal["slow", "fail", "oom", "drop_ws", "stall_ws", "restart", "reject", "down"]
    node: str | None = None
    seconds: float | None = None
    message: str = "simulated failure"
    count: int = Field(default=1, ge=1)
    forget: bool = False
    # Only a prompt whose sampler has this seed meets it: a test sharing a simulator with others' runs aims
    # its fault at its own job.
    seed: int | None = None


class Listener:
    """The simulator's listening socket, which an outage closes (refusing connections) and opens again."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self.runner, self.host, self.port = runner, host, port
        self.site: web.TCPSite | None = None

    async def open(self) -> None:
        self.site = web.TCPSite(self.runner, self.host, self.port)
        await self.site.start()

    async def close(self) -> None:
        if self.site is not None:
            await self.site.stop()
            self.site = None
        server = self.runner.server
        for connection in list(server.connections if server else ()):
            connection.force_close()  # kept-alive connections go too: nothing answers


@dataclass
class QueueItem:
    number: int
    prompt_id: str
    graph: Graph
    extra_data: dict[str, Any]
    outputs: list[str]
    client_id: str | None


class ValidationFailed(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["error"]["message"])
        self.body = body


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def validate(graph: Any, info: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The outputs to execute and the dropped branches' errors, or raise with ComfyUI's 400 body."""
    verdict = validate_prompt(graph, info)
    if not verdict.ok:
        raise ValidationFailed(verdict.body)
    return verdict.outputs, verdict.node_errors


def execution_order(graph: Graph, outputs: list[str]) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in seen:
            return
        seen.add(node_id)
        for value in graph[node_id].get("inputs", {}).values():
            if _is_link(value):
                visit(value[0])
        order.append(node_id)

    for out in outputs:
        visit(out)
    return order


# Colours a prompt can ask the background to be ("(green background:1.3)"), as the simulator draws them.
BACKGROUNDS = {
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
    "yellow": (255, 255, 0),
    "red": (255, 0, 0),
    "white": (255, 255, 255),
}
_BACKGROUND = re.compile(r"\(?\b(" + "|".join(BACKGROUNDS) + r")\s+background\b")


@functools.lru_cache(maxsize=16)
def _figure_masks(width: int, height: int) -> tuple[Image.Image, Image.Image]:
    """A figure's body and face as soft masks, drawn at twice the size and reduced: anti-aliased edges,
    as a real render has. Cached per size, so a sticker costs what a real save does, not a redraw."""
    masks = []
    w, h = width * 2, height * 2
    for box in ([w * 0.2, h * 0.15, w * 0.8, h * 0.9], [w * 0.33, h * 0.3, w * 0.67, h * 0.6]):
        big = Image.new("L", (w, h), 0)
        ImageDraw.Draw(big).ellipse(box, fill=255)
        masks.append(big.resize((width, height), Image.Resampling.LANCZOS))
    return masks[0], masks[1]


def placeholder_png(
    width: int, height: int, seed: int, text: str, index: int, pnginfo: dict[str, str], *, transparent: bool = False
) -> bytes:
    """A deterministic stand-in for a render: same seed and prompt give the same bytes.

    A prompt asking for a plain "<colour> background" gets a figure on that solid colour (the
    chroma-key path); a background-removal node gives the figure on transparency.
    """
    digest = hashlib.sha256(f"{seed}|{text}|{index}".encode()).digest()
    top, bottom = digest[0:3], digest[3:6]
    figure = tuple(digest[6:9])
    plain = _BACKGROUND.search(text)
    if transparent or plain:
        background: tuple[int, ...] = (0, 0, 0, 0)
        if plain and not transparent:
            key = BACKGROUNDS[plain.group(1)]
            background = (*key, 255)
            if sum(abs(a - b) for a, b in zip(figure, key, strict=True)) < 200:
                figure = tuple(255 - c for c in figure)  # the figure never wears the key colour
        body, face = _figure_masks(width, height)
        img = Image.new("RGBA", (width, height), background)
        img.paste((*figure, 255), (0, 0), body)
        img.paste((240, 200, 170, 255), (0, 0), face)
        if not transparent:
            img = img.convert("RGB")
    else:
        img = Image.new("RGB", (width, height))
        draw = ImageDraw.Draw(img)
        for y in range(0, height, 4):
            t = y / max(height - 1, 1)
            colour = tuple(int(top[c] * (1 - t) + bottom[c] * t) for c in range(3))
            draw.rectangle([0, y, width, y + 3], fill=colour)
        r = min(width, height) // 4
        cx, cy = width // 2, height // 2
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=figure, outline=(255, 255, 255), width=4)
        draw.text((16, 16), f"comfyloom simulator  seed {seed}  {width}x{height}", fill=(255, 255, 255))
    meta = PngImagePlugin.PngInfo()
    for key_, value in pnginfo.items():
        meta.add_text(key_, value)
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=meta, compress_level=1)
    return buf.getvalue()


class Simulator:
    """The state of one ComfyUI process: queue, history, output files and connected clients."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.info = object_info(
            config.checkpoints, config.loras, custom_nodes=config.custom_nodes, changes=config.node_inputs
        )
        self._tmp = None if config.output_dir else tempfile.TemporaryDirectory(prefix="comfysim-")
        self.output_dir = config.output_dir or Path(self._tmp.name if self._tmp else ".")
        self.pending: list[QueueItem] = []
        self.running: QueueItem | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self.sockets: dict[str, set[web.WebSocketResponse]] = {}
        self.counter = 0
        self.renders = 0  # images actually rendered: how tests prove "exactly one render per job"
        # (prompt id, wall-clock start, end) of every execution: how bench/throughput.py sees GPU idle time.
        self.executions: list[tuple[str, float, float]] = []
        # What the last render spent outside the sampler: taken from the next one's sampling time.
        self._other_nodes_seconds = 0.0
        self._wake = asyncio.Event()
        self._interrupt: str | None = None
        self._last_graph_hash: str | None = None
        self._last_outputs: dict[str, Any] = {}
        self.free_requests: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self._silenced: set[str] = set()
        # Bumped by a restart: a prompt that was running in the ComfyUI that "died" leaves no trace.
        self._epoch = 0
        self.listener: Listener | None = None
        # When the current outage began (None while up), and when the last one ended.
        self.down_since: float | None = None
        self.back_at: float | None = None
        self.came_back = asyncio.Event()
        self._outages: set[asyncio.Task[None]] = set()

    @property
    def busy_seconds(self) -> float:
        return sum(ended - started for _, started, ended in self.executions)

    def take_fault(self, kinds: set[str], graph: dict[str, Any]) -> Fault | None:
        seeds = {node.get("inputs", {}).get("seed") for node in graph.values() if isinstance(node, dict)}
        for fault in self.faults:
            if fault.kind in kinds and (fault.seed is None or fault.seed in seeds):
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def close_sockets(self) -> None:
        for sockets in self.sockets.values():
            for ws in list(sockets):
                await ws.close()

    async def restart(self) -> None:
        """What a ComfyUI restart looks like to clients: sockets drop, queue, history and the render under way
        are gone."""
        self._epoch += 1
        self.pending.clear()
        self.history.clear()
        self._last_graph_hash = None
        await self.close_sockets()

    def start_outage(self, seconds: float, *, forget: bool) -> None:
        task = asyncio.create_task(self.outage(seconds, forget=forget))
        self._outages.add(task)
        task.add_done_callback(self._outages.discard)

    async def outage(self, seconds: float, *, forget: bool) -> None:
        """ComfyUI unreachable for `seconds` (see Fault `down`), then back, restarted if `forget`."""
        self.down_since = time.time()
        self.came_back.clear()
        log.info("simulated outage: down for %.1fs%s", seconds, " (restart)" if forget else "")
        try:
            if self.listener is not None:
                await self.listener.close()
            if forget:
                await self.restart()
            else:
                await self.close_sockets()
            await asyncio.sleep(seconds)
        finally:
            if self.listener is not None:
                await self.listener.open()
            self.down_since, self.back_at = None, time.time()
            self.came_back.set()
            log.info("simulated outage over")

    # -- messaging -------------------------------------------------------------------------------
    async def send(self, event: str, data: dict[str, Any], client_id: str | None) -> None:
        if client_id is None or data.get("prompt_id") in self._silenced:
            return
        message = json.dumps({"type": event, "data": data})
        for ws in list(self.sockets.get(client_id, ())):
            try:
                await ws.send_str(message)
            except ConnectionError:
                self.sockets[client_id].discard(ws)

    def status_data(self) -> dict[str, Any]:
        remaining = len(self.pending) + (1 if self.running else 0)
        return {"status": {"exec_info": {"queue_remaining": remaining}}}

    async def broadcast_status(self) -> None:
        message = json.dumps({"type": "status", "data": self.status_data()})
        for sockets in self.sockets.values():
            for ws in list(sockets):
                try:
                    await ws.send_str(message)
                except ConnectionError:
                    sockets.discard(ws)

    # -- queue -----------------------------------------------------------------------------------
    def enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        if "prompt" not in body:
            raise ValidationFailed(
                {"error": comfy_error("no_prompt", "No prompt provided", "No prompt provided"), "node_errors": {}}
            )
        graph = body["prompt"]
        if self.take_fault({"reject"}, graph):
            node_id = next(iter(graph))
            raise ValidationFailed(
                {
                    "error": comfy_error("prompt_outputs_failed_validation", "Prompt outputs failed validation"),
                    "node_errors": {
                        node_id: {
                            "errors": [comfy_error("simulated_rejection", "Simulated rejection", node_id)],
                            "dependent_outputs": [],
                            "class_type": graph[node_id].get("class_type", "?"),
                        }
                    },
                }
            )
        outputs, node_errors = validate(graph, self.info)
        prompt_id = str((None if self.config.legacy else body.get("prompt_id")) or uuid.uuid4())
        number = self.counter
        self.counter += 1
        if "number" in body:
            number = int(body["number"])
        elif body.get("front"):
            number = -number
        item = QueueItem(number, prompt_id, graph, body.get("extra_data", {}), outputs, body.get("client_id"))
        self.pending.append(item)
        self.pending.sort(key=lambda i: i.number)
        self._wake.set()
        return {"prompt_id": prompt_id, "number": number, "node_errors": node_errors}

    def queue_entry(self, item: QueueItem) -> list[Any]:
        return [item.number, item.prompt_id, item.graph, item.extra_data, item.outputs]

    async def run(self) -> None:
        while True:
            while not self.pending:
                self._wake.clear()
                await self._wake.wait()
            item = self.pending.pop(0)
            self.running = item
            started = time.time()
            try:
                await self.execute(item)
            except Exception:  # a simulator bug must not kill the queue
                log.exception("simulator failed executing %s", item.prompt_id)
            finally:
                self.executions.append((item.prompt_id, started, time.time()))
                self.running = None
                self._interrupt = None
            await self.broadcast_status()

    async def execute(self, item: QueueItem) -> None:
        pid, cid, graph = item.prompt_id, item.client_id, item.graph
        epoch = self._epoch
        messages: list[list[Any]] = []
        fault = self.take_fault({"slow", "fail", "oom", "drop_ws", "stall_ws", "restart"}, graph)
        if fault and fault.kind == "stall_ws":
            self._silenced.add(pid)

        async def emit(event: str, data: dict[str, Any], record: bool = False) -> None:
            if record:
                messages.append([event, data])
            await self.send(event, data, cid)

        async def node_state(node_id: str, value: int, total: int, state: str) -> None:
            """ComfyUI 0.3.6x's `progress_state`: every node running or finished (a legacy one sends none)."""
            if self.config.legacy:
                return
            entry = {
                "value": value,
                "max": total,
                "state": state,
                "node_id": node_id,
                "prompt_id": pid,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            await emit("progress_state", {"prompt_id": pid, "nodes": {node_id: entry}})

        await self.broadcast_status()
        await emit("execution_start", {"prompt_id": pid, "timestamp": _ms()}, record=True)
        graph_hash = hashlib.sha256(json.dumps(graph, sort_keys=True).encode()).hexdigest()
        order = execution_order(graph, item.outputs)
        cached = order if graph_hash == self._last_graph_hash and not fault else []
        await emit("execution_cached", {"nodes": cached, "prompt_id": pid, "timestamp": _ms()}, record=True)

        outputs: dict[str, Any] = dict(self._last_outputs) if cached else {}
        values: dict[str, dict[str, Any]] = {}
        samplers = [n for n in order if graph[n]["class_type"] == "KSampler"]
        steps_total = sum(int(graph[n]["inputs"].get("steps", 0)) for n in samplers)
        render_seconds = (
            fault.seconds if fault and fault.kind == "slow" and fault.seconds else self.config.render_seconds
        )
        sampling_seconds = max(0.0, render_seconds - self._other_nodes_seconds)
        step_seconds = sampling_seconds / steps_total if steps_total else 0.0
        execution_started = time.monotonic()
        failing_node = (
            (fault.node or (samplers[0] if samplers else order[-1]))
            if fault and fault.kind in ("fail", "oom")
            else None
        )
        for node_id in [] if cached else order:
            node = graph[node_id]
            await node_state(node_id, 0, 1, "running")
            await emit("executing", {"node": node_id, "display_node": node_id, "prompt_id": pid})
            if self._interrupt in (pid, "*"):
                await self._finish_failed(item, "execution_interrupted", node_id, {}, messages)
                return
            inputs = {k: (values[v[0]] if _is_link(v) else v) for k, v in node.get("inputs", {}).items()}
            if node["class_type"] == "KSampler":
                steps = int(node["inputs"]["steps"])
                sampling_started = time.monotonic()
                for step in range(1, steps + 1):
                    # Against a deadline, so the sampler takes its share of the render time without drift.
                    await asyncio.sleep(max(0.0, sampling_started + step * step_seconds - time.monotonic()))
                    if self._interrupt in (pid, "*"):
                        await self._finish_failed(item, "execution_interrupted", node_id, {}, messages)
                        return
                    if fault and step == steps // 2 and fault.kind == "drop_ws":
                        await self.close_sockets()
                    if fault and step == steps // 2 and fault.kind == "restart":
                        await self.restart()
                    if self._epoch != epoch:
                        return  # this ComfyUI "restarted": the prompt died with it
                    await node_state(node_id, step, steps, "running")
                    await emit("progress", {"value": step, "max": steps, "prompt_id": pid, "node": node_id})
            if fault and node_id == failing_node:
                oom = fault.kind == "oom"
                error: dict[str, Any] = {
                    "exception_type": "torch.OutOfMemoryError" if oom else "RuntimeError",
                    "exception_message": "Allocation on device 0 would exceed allowed memory. (out of memory)"
                    if oom
                    else fault.message,
                    "traceback": [],
                    "current_inputs": {},
                    "current_outputs": {},
                }
                await self._finish_failed(item, "execution_error", node_id, error, messages)
                return
            result, ui = self._compute(node["class_type"], inputs, graph, item)
            await node_state(node_id, 1, 1, "finished")
            values[node_id] = result
            if ui is not None:
                outputs[node_id] = ui
                await emit("executed", {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": pid})
        if samplers and not cached:
            self._other_nodes_seconds = max(0.0, time.monotonic() - execution_started - sampling_seconds)
        if self._epoch != epoch:
            return
        self._last_graph_hash, self._last_outputs = graph_hash, outputs
        await emit("execution_success", {"prompt_id": pid, "timestamp": _ms()}, record=True)
        self.history[pid] = {
            "prompt": self.queue_entry(item),
            "outputs": outputs,
            "status": {"status_str": "success", "completed": True, "messages": messages},
            "meta": {n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n} for n in outputs},
        }
        await emit("executing", {"node": None, "prompt_id": pid})

    async def _finish_failed(
        self, item: QueueItem, event: str, node_id: str, extra: dict[str, Any], messages: list[list[Any]]
    ) -> None:
        """As ComfyUI ends a prompt that failed or was interrupted: the event, history, then `executing: null`."""
        data = {
            "prompt_id": item.prompt_id,
            "node_id": node_id,
            "node_type": item.graph[node_id]["class_type"],
            "executed": [],
            **extra,
            "timestamp": _ms(),
        }
        messages.append([event, data])
        await self.send(event, data, item.client_id)
        self.history[item.prompt_id] = {
            "prompt": self.queue_entry(item),
            "outputs": {},
            "status": {"status_str": "error", "completed": False, "messages": messages},
            "meta": {},
        }
        await self.send("executing", {"node": None, "prompt_id": item.prompt_id}, item.client_id)

    def _compute(
        self, class_type: str, inputs: dict[str, Any], graph: Graph, item: QueueItem
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """A symbolic evaluation: enough of each node's meaning to draw the right image."""
        if class_type == "CheckpointLoaderSimple":
            return {"model": inputs["ckpt_name"]}, None
        if class_type == "LoraLoader":
            return inputs["model"], None
        if class_type == "CLIPTextEncode":
            return {"text": inputs["text"]}, None
        if class_type == "EmptyLatentImage":
            return {"width": inputs["width"], "height": inputs["height"], "batch": inputs["batch_size"]}, None
        if class_type == "KSampler":
            return {**inputs["latent_image"], "seed": inputs["seed"], "text": inputs["positive"]["text"]}, None
        if class_type == "VAEDecode":
            return inputs["samples"], None
        if class_type == "easy imageRemBg":
            return {**inputs["images"], "transparent": True}, None
        if class_type == "FaceDetailer":
            return inputs["image"], None
        if class_type in ("SaveImage", "PreviewImage"):
            images = inputs["images"]
            save = class_type == "SaveImage"
            # As ComfyUI: a preview's name gets 5 random letters, and lands in the temp folder it empties at start.
            prefix = inputs.get("filename_prefix", "ComfyUI") if save else f"ComfyUI_temp_{_letters(5)}"
            subfolder, _, base = prefix.rpartition("/")
            folder = self.output_dir / ("output" if save else "temp") / subfolder
            folder.mkdir(parents=True, exist_ok=True)
            files = []
            pnginfo = {
                "prompt": json.dumps(graph),
                **{k: json.dumps(v) for k, v in item.extra_data.get("extra_pnginfo", {}).items()},
            }
            for index in range(images["batch"]):
                counter = len(list(folder.glob(f"{base}_*_.png"))) + 1
                name = f"{base}_{counter:05}_.png"
                (folder / name).write_bytes(
                    placeholder_png(
                        images["width"],
                        images["height"],
                        images["seed"],
                        images["text"],
                        index,
                        pnginfo,
                        transparent=images.get("transparent", False),
                    )
                )
                self.renders += 1
                files.append({"filename": name, "subfolder": subfolder, "type": "output" if save else "temp"})
            return {}, {"images": files}
        return inputs, None

    def view_path(self, filename: str, subfolder: str, kind: str) -> Path | None:
        if kind not in ("output", "temp", "input"):
            return None
        root = (self.output_dir / kind).resolve()
        path = (root / subfolder / filename).resolve()
        if root not in path.parents or not path.is_file():
            return None
        return path


def _letters(count: int) -> str:
    return "".join(random.choice(string.ascii_lowercase) for _ in range(count))


def _ms() -> int:
    return int(time.time() * 1000)


SIMULATOR = web.AppKey("simulator", Simulator)


def build_app(sim: Simulator) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/ws")
    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        client_id = request.query.get("clientId") or uuid.uuid4().hex
        sim.sockets.setdefault(client_id, set()).add(ws)
        try:
            await ws.send_str(json.dumps({"type": "status", "data": {**sim.status_data(), "sid": client_id}}))
            if sim.running and sim.running.client_id == client_id:
                await ws.send_str(
                    json.dumps(
                        {
                            "type": "executing",
                            "data": {"node": None, "display_node": None, "prompt_id": sim.running.prompt_id},
                        }
                    )
                )
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            sim.sockets.get(client_id, set()).discard(ws)
        return ws

    @routes.post("/prompt")
    async def post_prompt(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response(
                {"error": comfy_error("invalid_prompt", "Invalid JSON"), "node_errors": {}}, status=400
            )
        try:
            return web.json_response(sim.enqueue(body))
        except ValidationFailed as e:
            return web.json_response(e.body, status=400)

    @routes.get("/prompt")
    async def get_prompt(request: web.Request) -> web.Response:
        return web.json_response({"exec_info": sim.status_data()["status"]["exec_info"]})

    @routes.get("/history/{prompt_id}")
    async def history_one(request: web.Request) -> web.Response:
        pid = request.match_info["prompt_id"]
        return web.json_response({pid: sim.history[pid]} if pid in sim.history else {})

    @routes.get("/history")
    async def history_all(request: web.Request) -> web.Response:
        max_items = int(request.query.get("max_items", len(sim.history)))
        items = list(sim.history.items())[-max_items:] if max_items else []
        return web.json_response(dict(items))

    @routes.get("/view")
    async def view(request: web.Request) -> web.StreamResponse:
        q = request.query
        path = sim.view_path(q.get("filename", ""), q.get("subfolder", ""), q.get("type", "output"))
        if path is None:
            return web.Response(status=404)
        return web.Response(body=path.read_bytes(), content_type="image/png")

    @routes.get("/queue")
    async def get_queue(request: web.Request) -> web.Response:
        running = [sim.queue_entry(sim.running)] if sim.running else []
        return web.json_response({"queue_running": running, "queue_pending": [sim.queue_entry(i) for i in sim.pending]})

    @routes.post("/queue")
    async def post_queue(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            sim.pending.clear()
        if "delete" in body:
            doomed = set(body["delete"])
            sim.pending[:] = [i for i in sim.pending if i.prompt_id not in doomed]
        return web.Response(status=200)

    @routes.post("/interrupt")
    async def interrupt(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        target = body.get("prompt_id") if isinstance(body, dict) else None
        if sim.running and (target is None or target == sim.running.prompt_id):
            sim._interrupt = sim.running.prompt_id
        return web.Response(status=200)

    @routes.post("/free")
    async def free(request: web.Request) -> web.Response:
        sim.free_requests.append(await request.json())
        return web.Response(status=200)

    @routes.get("/system_stats")
    async def system_stats(request: web.Request) -> web.Response:
        import platform
        import sys

        return web.json_response(
            {
                "system": {
                    "os": platform.system().lower(),
                    "python_version": sys.version,
                    "ram_total": 0,
                    "ram_free": 0,
                    "comfyui_version": sim.config.comfyui_version,
                    "embedded_python": False,
                    "pytorch_version": "none",
                    "argv": ["comfyloom-simulator"],
                },
                "devices": [
                    {
                        "name": "cuda:0 comfyloom simulator",
                        "type": "cuda",
                        "index": 0,
                        "vram_total": 0,
                        "vram_free": 0,
                        "torch_vram_total": 0,
                        "torch_vram_free": 0,
                    }
                ],
            }
        )

    @routes.get("/object_info")
    async def get_object_info(request: web.Request) -> web.Response:
        return web.json_response(sim.info)

    @routes.get("/object_info/{node_class}")
    async def get_node_info(request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        return web.json_response({name: sim.info[name]} if name in sim.info else {})

    # Not ComfyUI routes: the simulator's own controls, for tests, the dev stack and benchmarks.
    @routes.post("/sim/faults")
    async def add_faults(request: web.Request) -> web.Response:
        body = await request.json()
        faults = [Fault.model_validate(f) for f in (body if isinstance(body, list) else [body])]
        for fault in faults:
            if fault.kind == "down":
                sim.start_outage(fault.seconds or 60.0, forget=fault.forget)
            else:
                sim.faults.append(fault)
        return web.json_response({"pending": [f.model_dump() for f in sim.faults]})

    @routes.delete("/sim/faults")
    async def clear_faults(request: web.Request) -> web.Response:
        sim.faults.clear()
        return web.json_response({"pending": []})

    @routes.put("/sim/config")
    async def set_config(request: web.Request) -> web.Response:
        """Benchmarks change the render time of a running simulator (a slower GPU, a faster model)."""
        body = await request.json()
        if "render_seconds" in body:
            sim.config.render_seconds = float(body["render_seconds"])
        return web.json_response({"render_seconds": sim.config.render_seconds})

    @routes.get("/sim/stats")
    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "renders": sim.renders,
                "busy_seconds": sim.busy_seconds,
                "down": sim.down_since is not None,
                "pending_faults": len(sim.faults),
                "executions": [{"prompt_id": p, "started": s, "ended": e} for p, s, e in sim.executions],
            }
        )

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.add_routes(routes)
    # ComfyUI answers every route under /api/ as well.
    api = web.Application()
    api.add_routes(routes)
    app.add_subapp("/api", api)

    async def start_executor(app: web.Application) -> Any:
        task = asyncio.create_task(sim.run())
        yield
        task.cancel()

    async def close_sockets(app: web.Application) -> None:
        await sim.close_sockets()  # else shutdown waits for every connected client to leave

    app.cleanup_ctx.append(start_executor)
    app.on_shutdown.append(close_sockets)
    app[SIMULATOR] = sim
    return app


async def serve(config: SimConfig, host: str, port: int) -> web.AppRunner:
    sim = Simulator(config)
    runner = web.AppRunner(build_app(sim))
    await runner.setup()
    sim.listener = Listener(runner, host, port)
    await sim.listener.open()
    return runner


async def _serve_forever(config: SimConfig, host: str, port: int) -> None:
    runner = await serve(config, host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="ComfyUI simulator (ComfyUI's protocol, placeholder images)", prog="python -m devstack simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--render-seconds", type=float, default=1.0)
    parser.add_argument("--output-dir", type=Path, default=None)
    parser.add_argument("--bare", action="store_true", help="built-in nodes only, as a fresh ComfyUI install")
    parser.add_argument(
        "--legacy", action="store_true", help="act as ComfyUI 0.3.44: ignores client prompt ids, no progress_state"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s simulator %(levelname)s %(message)s")
    config = SimConfig(
        render_seconds=args.render_seconds, output_dir=args.output_dir, custom_nodes=not args.bare, legacy=args.legacy
    )
    log.info("ComfyUI simulator on http://%s:%d (render %.2fs)", args.host, args.port, args.render_seconds)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(config, args.host, args.port))


if __name__ == "__main__":
    main()
