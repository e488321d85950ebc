"""Does the GPU ever idle? A backlog through the real dev stack, against a naive client on the same simulator.

    .venv/bin/python bench/throughput.py [--render-seconds 0.5] [--avatars 50] [--sets 5] [--users 10]
                                         [--moderation block|flag|off]

With the ComfyUI simulator rendering in a fixed T, it starts the whole dev stack, sends a backlog of
avatars and sticker sets at once over HTTP (spread over several users, as a product's traffic is) and
prints:

- GPU busy fraction: the simulator's execution time over the wall time from the first request to the
  last finished job;
- overhead per avatar: its end-to-end time minus the GPU time spent on it and on the jobs ahead of it,
  i.e. the time its user waited while the GPU was not working for them (p50/p95);
- API start latency (POST to 202, p50/p99), workflow history bytes per kind;
- the makespan of a sticker set sent alone to an idle stack, against 8 x T;

then sends the same renders through a naive client in the design document's style (POST /prompt, poll
/history every second, download, WebP, upload; one job at a time) and prints the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))  # devstack/, run from the checkout

import httpx
from PIL import Image
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from activities.comfy import prompt_id_for
from comfy_templates import RenderParams, load_template
from comfyloom.contracts.requests import StickerSetSummary
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack import localstack
from devstack.demo import DEMO_CHARACTER
from devstack.stack import DevPorts, DevStack
from workflows.sticker_set import child_workflow_id

STICKERS_PER_SET = 8


@dataclass
class Job:
    kind: str  # "avatar" or "stickers/bulk"
    key: str
    seed: int
    submitted: float = 0.0
    accepted: float = 0.0
    done: float = 0.0  # ready, as the job's status shows it
    workflow_id: str = ""
    history_bytes: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class Execution:
    prompt_id: str
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def executions(http: httpx.AsyncClient, comfyui: str) -> list[Execution]:
    stats = (await http.get(f"{comfyui}/sim/stats")).json()
    return [Execution(e["prompt_id"], e["started"], e["ended"]) for e in stats["executions"]]


async def issue_users(http: httpx.AsyncClient, operator_key: str, count: int, credits: int) -> list[str]:
    admin = {"Authorization": f"Bearer {operator_key}"}
    keys = []
    for i in range(count):
        user = f"bench-user-{i}"
        created = await http.post("/api/v1/admin/api-keys", json={"userId": user, "name": "bench"}, headers=admin)
        created.raise_for_status()
        granted = await http.post("/api/v1/admin/credits", json={"userId": user, "amount": credits}, headers=admin)
        granted.raise_for_status()
        keys.append(created.json()["key"])
    return keys


async def raw_post(
    host: str, port: int, path: str, key: str, body: dict[str, object], go: asyncio.Event
) -> tuple[float, float, dict[str, Any]]:
    """One POST on a connection opened before the burst, with the request's bytes ready: a load generator of
    a few lines, so the client's own work (httpx takes milliseconds a request) stays out of the latency. Returns
    when it was sent and answered (`time.time()`), and the answer's JSON.

    Raises:
        RuntimeError: the answer was not a 202.
    """
    data = json.dumps(body).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    ).encode() + data
    reader, writer = await asyncio.open_connection(host, port)
    try:
        await go.wait()
        sent = time.time()
        writer.write(request)
        answer = await reader.read()  # the server closes after the answer (Connection: close)
        answered = time.time()
    finally:
        writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status != 202:
        raise RuntimeError(f"POST {path} answered {status}: {payload[:300]!r}")
    return sent, answered, json.loads(payload)


async def characters_for(http: httpx.AsyncClient, keys: Iterable[str]) -> dict[str, str]:
    """The demo character, made once for each user's key: its id by key."""
    characters = {}
    for key in keys:
        made = await http.post("/api/v1/characters", json=DEMO_CHARACTER, headers={"Authorization": f"Bearer {key}"})
        made.raise_for_status()
        characters[key] = made.json()["id"]
    return characters


async def run_exists(temporal: Client, workflow_id: str) -> WorkflowHandle[Any, Any]:
    """The job's run, once it exists: the API answers once the job is admitted and starts its run right after."""
    handle: WorkflowHandle[Any, Any] = temporal.get_workflow_handle(workflow_id)
    while True:
        try:
            await handle.describe()
            return handle
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
        await asyncio.sleep(0.02)


async def run_jobs(http: httpx.AsyncClient, temporal: Client, jobs: list[Job]) -> None:
    """Creates each user's character, then sends every job at once and waits for all of them."""
    api = http.base_url
    characters = await characters_for(http, {job.key for job in jobs})
    go = asyncio.Event()

    async def one(job: Job) -> None:
        body = {"characterId": characters[job.key], "seed": job.seed}
        path = f"/api/v1/image-generation/{job.kind}"
        job.submitted, job.accepted, answer = await raw_post(api.host, api.port or 80, path, job.key, body, go)
        job.workflow_id = answer["workflowId"]
        await (await run_exists(temporal, job.workflow_id)).result()
        job.done = await ready_at(temporal, job)

    running = [asyncio.create_task(one(job)) for job in jobs]
    await asyncio.sleep(0.2)  # their connections open
    go.set()
    await asyncio.gather(*running)


def local_activity_done(event: HistoryEvent) -> tuple[str, float] | None:
    """A local activity's name and when it completed (seconds since the epoch), from its marker; None for any
    other event, a patch's marker included."""
    attributes = event.marker_recorded_event_attributes
    if attributes.marker_name != "core_local_activity":
        return None
    marker = json.loads(attributes.details["data"].payloads[0].data)
    completed: dict[str, int] = marker["complete_time"]
    return marker["activity_type"], completed["seconds"] + completed["nanos"] / 1e9


def steps_of(history: WorkflowHistory, origin: float, *, until: str | None = None) -> list[str]:
    """Each step of a run in ms after `origin` (seconds since the epoch): where the time beyond the render goes.
    With `until`, the steps up to that activity's start."""
    scheduled: dict[int, str] = {}
    marks = []
    for event in history.events:
        at = (event.event_time.ToDatetime(UTC).timestamp() - origin) * 1000
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
            marks.append(f"{scheduled[event.event_id]} scheduled {at:.0f}")
        elif event.HasField("activity_task_started_event_attributes"):
            name = scheduled[event.activity_task_started_event_attributes.scheduled_event_id]
            marks.append(f"{name} started {at:.0f}")
            if name == until:
                break
        elif event.HasField("activity_task_completed_event_attributes"):
            name = scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]
            marks.append(f"{name} done {at:.0f}")
        elif event.HasField("workflow_task_started_event_attributes"):
            marks.append(f"workflow task {at:.0f}")
        elif local := local_activity_done(event):
            marks.append(f"{local[0]} (local) done {(local[1] - origin) * 1000:.0f}")
        elif event.HasField("workflow_execution_started_event_attributes"):
            marks.append(f"run started {at:.0f}")
    return marks


async def ready_at(temporal: Client, job: Job) -> float:
    """When a client's status poll first sees the job ready: when the step that commits it (`finish_job`, or
    `finish_set` for a set) completed, as a local activity's marker or an activity's completion records it."""
    last_step = "finish_job" if job.kind == "avatar" else "finish_set"
    history = await temporal.get_workflow_handle(job.workflow_id).fetch_history()
    scheduled = set()
    for event in history.events:
        if local := local_activity_done(event):
            if local[0] == last_step:
                return local[1]
        elif event.HasField("activity_task_scheduled_event_attributes"):
            if event.activity_task_scheduled_event_attributes.activity_type.name == last_step:
                scheduled.add(event.event_id)
        elif event.HasField("activity_task_completed_event_attributes"):
            if event.activity_task_completed_event_attributes.scheduled_event_id in scheduled:
                return event.event_time.ToDatetime(UTC).timestamp()
    raise AssertionError(f"{job.workflow_id} never completed {last_step}")


async def timeline(temporal: Client, job: Job, origin: float) -> str:
    """When each step of a run happened, in ms from `origin`, up to its render's queueing: where the time before
    a render goes."""
    history = await temporal.get_workflow_handle(job.workflow_id).fetch_history()
    marks = [f"submitted {(job.submitted - origin) * 1000:.0f}", f"accepted {(job.accepted - origin) * 1000:.0f}"]
    return ", ".join(marks + steps_of(history, origin, until="queue_comfy_prompt"))


async def record_history(temporal: Client, job: Job) -> None:
    async def size(workflow_id: str) -> int:
        history = await temporal.get_workflow_handle(workflow_id).fetch_history()
        return sum(event.ByteSize() for event in history.events)

    if job.kind == "avatar":
        job.history_bytes["avatar"] = [await size(job.workflow_id)]
        return
    job.history_bytes["sticker set"] = [await size(job.workflow_id)]
    summary = await temporal.get_workflow_handle(job.workflow_id, result_type=StickerSetSummary).result()
    children = [child_workflow_id(job.workflow_id, s.emotion, s.job_id) for s in summary.stickers]
    job.history_bytes["sticker"] = [await size(c) for c in children]


def overhead(job: Job, own: Execution, gpu: list[Execution], t: float) -> float:
    """End-to-end minus T, counted from when the GPU was free for this job: its submission, or the end of
    the render before its own, whichever is later. Queueing behind other jobs' renders is not overhead;
    GPU idle time, the GPU's time beyond T, and the steps after the render are."""
    before = [e.ended for e in gpu if e.ended <= own.started]
    return job.done - max([job.submitted, *before]) - t


@dataclass
class NaiveRun:
    wall: float
    overheads: list[float]
    busy: float


async def naive_client(
    comfyui: str, store: ObjectStore, renders: list[tuple[str, int]], settings: Settings, t: float
) -> NaiveRun:
    """The design document's loop: queue a prompt, poll /history every second, download, WebP, upload; one at a time."""
    overheads = []
    started = time.time()
    async with httpx.AsyncClient(base_url=comfyui, timeout=30) as http:
        before = len(await executions(http, comfyui))
        for n, (template_name, seed) in enumerate(renders):
            template = load_template(template_name)
            width, height = template.manifest.size
            graph = template.render(
                RenderParams(
                    positive="masterpiece, best quality, 1girl, blue hair, portrait",
                    negative="lowres, bad anatomy",
                    seed=seed,
                    width=width,
                    height=height,
                    checkpoint=settings.comfyui_checkpoint,
                    filename_prefix=f"naive/job_{n}",
                ),
                [],
            )
            begun = time.time()
            prompt_id = (await http.post("/prompt", json={"prompt": graph})).json()["prompt_id"]
            while True:
                await asyncio.sleep(1.0)
                history = (await http.get(f"/history/{prompt_id}")).json()
                if prompt_id in history:
                    break
            images = [img for out in history[prompt_id]["outputs"].values() for img in out.get("images", [])]
            png = (await http.get("/view", params=images[0])).content
            with Image.open(io.BytesIO(png)) as img:
                out = io.BytesIO()
                img.save(out, format="WEBP", quality=settings.webp_quality, method=settings.webp_method)
            await store.put(f"naive/job_{n}.webp", out.getvalue(), "image/webp")
            finished = time.time()
            overheads.append(finished - begun - t)  # one at a time: the GPU is free for each job as it starts
        wall = time.time() - started
        ran = (await executions(http, comfyui))[before:]
    return NaiveRun(wall=wall, overheads=overheads, busy=sum(e.seconds for e in ran) / wall)


def ms(values: list[float], high: float = 95) -> str:
    return f"{statistics.median(values) * 1000:.0f} / {pct(values, high) * 1000:.0f} ms"


def table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


async def measure(stack: DevStack, ports: DevPorts, args: argparse.Namespace) -> None:
    t = args.render_seconds
    api, comfyui = f"http://127.0.0.1:{ports.api}", f"http://127.0.0.1:{ports.comfyui}"
    temporal = await Client.connect(f"127.0.0.1:{ports.temporal}", data_converter=pydantic_data_converter)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=api, timeout=120, limits=limits) as http:
        credits = (args.avatars * 5 + (args.sets + args.lone_sets) * 20) // args.users + 100
        keys = await issue_users(http, stack.operator_key, args.users, credits)

        # A set after every (avatars / sets) avatars, each job to the next user in turn.
        kinds = ["avatar"] * args.avatars
        for i in range(args.sets):
            kinds.insert((i + 1) * len(kinds) // (args.sets + 1) + i, "stickers/bulk")
        backlog = [Job(kind, keys[i % len(keys)], seed=i) for i, kind in enumerate(kinds)]
        print(f"backlog: {args.avatars} avatars and {args.sets} sets of 8 from {args.users} users, T = {t}s ...")
        gpu_before = len(await executions(http, comfyui))
        await run_jobs(http, temporal, backlog)
        gpu = (await executions(http, comfyui))[gpu_before:]
        first, last = min(j.submitted for j in backlog), max(j.done for j in backlog)
        wall = last - first
        busy = sum(e.seconds for e in gpu)
        window = max(e.ended for e in gpu) - min(e.started for e in gpu)
        by_prompt = {e.prompt_id: e for e in gpu}
        avatars = [j for j in backlog if j.kind == "avatar"]
        overheads = [overhead(j, by_prompt[prompt_id_for(j.workflow_id, "render-1")], gpu, t) for j in avatars]
        after_render = [j.done - by_prompt[prompt_id_for(j.workflow_id, "render-1")].ended for j in avatars]
        starts = [j.accepted - j.submitted for j in backlog]
        earliest = min(avatars, key=lambda j: by_prompt[prompt_id_for(j.workflow_id, "render-1")].started)
        print(f"the first avatar rendered: {await timeline(temporal, earliest, first)}")
        for job in backlog:
            await record_history(temporal, job)
        histories: dict[str, list[int]] = {}
        for job in backlog:
            for kind, sizes in job.history_bytes.items():
                histories.setdefault(kind, []).extend(sizes)

        print(f"lone sets: {args.lone_sets} sets of 8, one at a time, on the idle stack ...")
        lone = []
        for i in range(args.lone_sets):
            job = Job("stickers/bulk", keys[i % len(keys)], seed=10_000 + i)
            await run_jobs(http, temporal, [job])
            lone.append(job.done - job.submitted)

        print(f"lone avatars: {args.lone_avatars}, one at a time, on the idle stack ...")
        alone = []
        for i in range(args.lone_avatars):
            job = Job("avatar", keys[i % len(keys)], seed=20_000 + i)
            await run_jobs(http, temporal, [job])
            alone.append(job.done - job.submitted - t)

    print("naive client: the same renders, one at a time, polling /history every second ...")
    settings = Settings(s3_endpoint_url=stack.env["S3_ENDPOINT_URL"], s3_region="us-east-1")
    renders = [("avatar", i) for i in range(args.avatars)] + [
        ("sticker", i) for i in range(args.sets * STICKERS_PER_SET)
    ]
    naive = await naive_client(comfyui, ObjectStore(settings), renders, settings, t)

    mean_render = busy / len(gpu)
    rows = [
        ("measure", "comfyloom", "target", "naive client"),
        ("renders", f"{len(gpu)}", "", f"{len(renders)}"),
        ("mean GPU time per render", f"{mean_render:.3f}s", f"T = {t}s", ""),
        ("wall time", f"{wall:.2f}s", "", f"{naive.wall:.2f}s"),
        ("GPU busy fraction", f"{busy / wall:.3f}", ">= 0.97", f"{naive.busy:.3f}"),
        ("GPU busy, first to last render", f"{busy / window:.3f}", "", ""),
        ("first request to first render", f"{min(e.started for e in gpu) - first:.2f}s", "", ""),
        ("last render to last job ready", f"{last - max(e.ended for e in gpu):.2f}s", "", ""),
        (
            "overhead per avatar p50 / p95",
            f"{statistics.median(overheads) * 1000:.0f} / {pct(overheads, 95) * 1000:.0f} ms",
            "p50 <= 150 ms",
            f"{statistics.median(naive.overheads) * 1000:.0f} / {pct(naive.overheads, 95) * 1000:.0f} ms",
        ),
        ("avatar, render end to ready p50 / p95", ms(after_render), "", ""),
        ("lone avatar, end-to-end minus T p50 / max", ms(alone, 100) if alone else "", "", ""),
        (
            "API start latency p50 / p99",
            f"{statistics.median(starts) * 1000:.0f} / {pct(starts, 99) * 1000:.0f} ms",
            "",
            "",
        ),
    ]
    for kind, sizes in histories.items():
        limit = "<= 64 KiB" if kind == "avatar" else ""
        rows.append((f"history bytes, {kind} (max)", f"{max(sizes):,}", limit, ""))
    if lone:  # --lone-sets 0 skips it
        rows.append(
            (
                "lone set makespan (max)",
                f"{max(lone):.2f}s = 8T + {max(lone) - 8 * t:.2f}s",
                f"<= 8T + 1s = {8 * t + 1:.1f}s",
                "",
            )
        )
    print()
    print(f"output moderation: {args.moderation}")
    print(table(rows))
    print()
    print(
        f"ratios (naive / comfyloom): wall time {naive.wall / wall:.2f}x, "
        f"overhead p50 {statistics.median(naive.overheads) / statistics.median(overheads):.1f}x"
    )


@contextmanager
def backlog_stack(render_seconds: float) -> Iterator[tuple[DevStack, DevPorts]]:
    """A fresh dev stack in a temporary folder, stopped on the way out. A backlog on purpose: per-user limits
    and the same-body window are product rules, not under test, so they are off."""
    os.environ.update({"RATE_LIMIT_PER_MINUTE": "0", "MAX_CONCURRENT_JOBS": "0", "IDEMPOTENCY_WINDOW_SECONDS": "0"})
    ports = DevPorts(*(localstack.free_port() for _ in range(5)))
    with tempfile.TemporaryDirectory() as tmp:
        stack = DevStack(ports, data_dir=Path(tmp) / "stack", render_seconds=render_seconds)
        try:
            stack.start()
            yield stack, ports
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--render-seconds", type=float, default=0.5)
    parser.add_argument("--avatars", type=int, default=50)
    parser.add_argument("--sets", type=int, default=5)
    parser.add_argument("--lone-sets", type=int, default=3)
    parser.add_argument("--lone-avatars", type=int, default=5)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument(
        "--moderation", choices=["block", "flag", "off"], default="block", help="MODERATION_POLICY (the default: block)"
    )
    args = parser.parse_args()
    os.environ["MODERATION_POLICY"] = args.moderation
    with backlog_stack(args.render_seconds) as (stack, ports):
        asyncio.run(measure(stack, ports, args))


if __name__ == "__main__":
    main()
