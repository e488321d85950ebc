"""What does comfyloom add to a render? Lone avatars and a backlog through the real dev stack, beside the floor.

    .venv/bin/python bench/latency.py [--render-seconds 0.5] [--lone 20] [--backlog 40] [--users 10]
                                      [--ready-by events|poll] [--json PATH]

The ComfyUI simulator renders in a fixed T; output moderation is `block`. One table, with the targets:
- the floor: a direct ComfyUI client on the same simulator (POST /prompt, ComfyUI's WebSocket until the prompt
  ends, GET /view), `--lone` avatars one at a time: end-to-end minus T (p50/p95), the client's CPU per image;
- comfyloom, the same through the API: from the POST to when the client learns the job is ready, from the user's
  event stream (GET /image-generation/events, opened before the first POST) or, with `--ready-by poll`, polling
  its status every 20 ms; and each stack process's CPU per image (the simulator aside), read from /proc;
- a backlog of `--backlog` avatars from `--users` users at once: GPU busy fraction, the first render's wait, CPU;
- history bytes and WebP bytes per avatar.
`--json PATH` writes every figure, to compare a run before a change with one after. It runs from any checkout
with this venv: the stack's processes import that checkout's code (the path is printed first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))  # the helpers of bench/throughput.py, run as a script
sys.path.insert(1, str(Path(__file__).parents[1]))  # devstack/ and the code, from this checkout

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from throughput import backlog_stack, characters_for, executions, issue_users, pct, raw_post, table
from websockets.asyncio.client import connect

from comfy_templates import RenderParams, load_template
from comfyloom.settings import Settings
from devstack import localstack
from devstack.stack import DevStack

CHECKOUT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
ENDS = ("ready", "failed", "cancelled")
WAIT = 120.0  # seconds a job may take before the bench gives up on it (a broken stack must not hang it)
# The services measured, by their name in the stack, as shown; ComfyUI (the simulator) stands for the GPU: not here.
SHOWN = {"api": "api", "worker-cpu": "worker-cpu", "worker-gpu": "worker-gpu", "temporal": "temporal"}
SHOWN |= {"postgres": "postgres", "s3": "storage"}


def own_checkout() -> None:
    """The stack must run this checkout's code (the venv may hold an editable install of another): `python -m` puts
    the cwd first on a child's path, so the cwd becomes the checkout, and the checkout leads PYTHONPATH. A probe
    started as localstack.spawn starts the workers (its env, its cwd) says where `workflows` comes from."""
    os.chdir(CHECKOUT)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(CHECKOUT), *filter(None, [os.environ.get("PYTHONPATH")])])
    with tempfile.TemporaryDirectory() as tmp:
        probe = [sys.executable, "-c", "import workflows; print(workflows.__file__)"]
        proc, log = localstack.spawn("probe", probe, log_dir=Path(tmp), env={})
        proc.wait(30)
        if log is not None:
            log.close()
        found = (Path(tmp) / "probe.log").read_text().strip()
    print(f"the CPU worker imports workflows from {found}")
    if not found.startswith(str(CHECKOUT) + os.sep):
        sys.exit(f"not this checkout's ({CHECKOUT}): stopping")
    # Its bytecode, as an installed image has (scripts/setup does the same): under PYTHONDONTWRITEBYTECODE a
    # checkout without it compiles each run's workflow modules from source, in the CPU worker's sandbox.
    packages = ("cli", "comfyloom", "workflows", "activities", "api", "comfy_templates", "worker_cpu", "worker_gpu")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *packages], check=True)


def proc_ticks() -> tuple[dict[int, list[int]], dict[int, int]]:
    """Every process's children, and its CPU in clock ticks: its own (utime + stime) and that of its children it
    has reaped (cutime + cstime)."""
    children: dict[int, list[int]] = defaultdict(list)
    ticks = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        children[int(fields[1])].append(int(entry.name))
        ticks[int(entry.name)] = sum(int(f) for f in fields[11:15])
    return children, ticks


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each service: its root process and every live descendant, each with the CPU of the
    children it has reaped. The tree is walked anew at each snapshot, so a descendant born during a phase counts,
    and one that exited during it counts through its reaper's cutime (a zombie not yet reaped, through its own).
    The limit: a descendant re-parented to init (its parent exited first, or it daemonized) is reaped by init, and
    its CPU after the last snapshot that saw it is lost. Postgres' backends are the postmaster's, which reaps them.
    """
    children, ticks = proc_ticks()
    out = {}
    for name, root in roots.items():
        total, todo = 0, [root]
        while todo:
            pid = todo.pop()
            total += ticks.get(pid, 0)
            todo += children.get(pid, [])
        out[name] = total / TICK
    return out


def service_roots(stack: DevStack) -> dict[str, int]:
    """Each measured service's root pid: its Popen's, or the postmaster's (pg_ctl daemonizes it); not ComfyUI's."""
    roots = {s.name: s.proc.pid for s in stack.services if s.proc is not None and s.name in SHOWN}
    for pidfile in stack.data_dir.rglob("postmaster.pid"):
        roots["postgres"] = int(pidfile.read_text().split()[0])
    return roots


def per_image(before: dict[str, float], after: dict[str, float], per: float) -> dict[str, float]:
    """ms of CPU per image (or per second), per process and in total."""
    out = {shown: (after[n] - before[n]) * 1000 / per for n, shown in SHOWN.items() if n in before}
    return {**out, "total": sum(out.values())}


async def the_floor(comfyui: str, n: int, t: float) -> tuple[list[float], float]:
    """A direct ComfyUI client, one avatar at a time on one kept-open WebSocket and HTTP connection: its
    end-to-end times minus T, and its own CPU ms per image. One render first, unmeasured (as comfyloom's)."""
    template, client_id = load_template("avatar"), uuid.uuid4().hex
    width, height = template.manifest.size
    prompt: dict[str, object] = {
        "positive": "masterpiece, best quality, 1girl, blue hair, portrait",
        "negative": "lowres, bad anatomy",
    }
    prompt |= {"width": width, "height": height, "checkpoint": Settings().comfyui_checkpoint}  # as naive_client's
    ws_url = comfyui.replace("http://", "ws://") + f"/ws?clientId={client_id}"
    times, cpu = [], 0.0
    async with httpx.AsyncClient(base_url=comfyui, timeout=30) as http, connect(ws_url, max_size=None) as ws:
        for i in range(-1, n):
            began, cpu_began = time.time(), time.process_time()
            params = {**prompt, "seed": 30_000 + i, "filename_prefix": f"floor/job_{i}"}
            graph = template.render(RenderParams.model_validate(params), [])
            posted = await http.post("/prompt", json={"prompt": graph, "client_id": client_id})
            prompt_id = posted.raise_for_status().json()["prompt_id"]
            images: list[dict[str, str]] = []
            while True:
                message = json.loads(await ws.recv())
                kind, data = message["type"], message.get("data") or {}
                if data.get("prompt_id") != prompt_id:
                    continue
                if kind == "executed":
                    images += data["output"].get("images", [])
                elif kind == "execution_success" or (kind == "executing" and data.get("node") is None):
                    break
                elif kind in ("execution_error", "execution_interrupted"):
                    raise RuntimeError(f"the floor's prompt failed: {message}")
            image = next((im for im in images if im.get("type") == "output"), images[0])
            (await http.get("/view", params=image)).raise_for_status()
            if i >= 0:
                times.append(time.time() - began - t)
                cpu += time.process_time() - cpu_began
    return times, cpu * 1000 / n


async def polled(http: httpx.AsyncClient, url: str, headers: dict[str, str], every: float) -> tuple[str, float]:
    """A job's status polled every `every` seconds until it ends: how it ended, and when that was seen."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        status = (await http.get(url, headers=headers)).json()["status"]
        if status in ENDS:
            return status, time.time()
        await asyncio.sleep(every)
    raise TimeoutError(f"{url} did not end in {WAIT:.0f} s: see the stack's logs")


class Readiness:
    """When the client learns each job ended: from the user's event stream (one connection, open before the first
    POST, read as it comes), or by polling the job's status every 20 ms."""

    def __init__(self, http: httpx.AsyncClient, key: str, by: str) -> None:
        self.http, self.auth, self.by = http, {"Authorization": f"Bearer {key}"}, by
        self.ended: dict[str, asyncio.Future[tuple[str, float]]] = {}
        self.opened = asyncio.Event()

    def _future(self, job_id: str) -> asyncio.Future[tuple[str, float]]:
        return self.ended.setdefault(job_id, asyncio.get_running_loop().create_future())

    async def follow(self) -> None:
        path = "/api/v1/image-generation/events"
        async with self.http.stream("GET", path, headers=self.auth, timeout=None) as stream:
            stream.raise_for_status()
            self.opened.set()
            event = ""
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ENDS:
                    at, job_id = time.time(), json.loads(line[5:])["jobId"]
                    if not (future := self._future(job_id)).done():
                        future.set_result((event, at))

    async def wait(self, job: dict[str, Any]) -> float:
        if self.by == "events":
            event, at = await asyncio.wait_for(self._future(job["jobId"]), WAIT)
        else:
            event, at = await polled(self.http, job["statusUrl"], self.auth, 0.02)
        if event != "ready":
            raise RuntimeError(f"job {job['jobId']} ended {event}")
        return at


async def lone_jobs(
    http: httpx.AsyncClient, key: str, character: str, args: argparse.Namespace, roots: dict[str, int]
) -> tuple[list[float], list[dict[str, Any]], float, dict[str, float]]:
    """`--lone` avatars one at a time (one unmeasured first): end-to-end minus T, the jobs, the client's own CPU ms
    per image, and the stack's CPU per image."""
    path = "/api/v1/image-generation/avatar"
    ready = Readiness(http, key, args.ready_by)
    follower = asyncio.create_task(ready.follow()) if args.ready_by == "events" else None
    if follower is not None:
        await asyncio.wait_for(ready.opened.wait(), 30)
    go = asyncio.Event()
    go.set()

    async def one(seed: int) -> tuple[float, dict[str, Any]]:
        body = {"characterId": character, "seed": seed}  # a seed each: no replay of an earlier job
        sent, _, job = await raw_post("127.0.0.1", args.ports.api, path, key, body, go)
        return await ready.wait(job) - sent - args.render_seconds, job

    await one(999)
    before, cpu_began = cpu_seconds(roots), time.process_time()
    times, jobs = [], []
    for i in range(args.lone):
        elapsed, job = await one(1_000 + i)
        times.append(elapsed)
        jobs.append(job)
    cpu, client = cpu_seconds(roots), (time.process_time() - cpu_began) * 1000 / args.lone
    if follower is not None:
        follower.cancel()
    return times, jobs, client, per_image(before, cpu, args.lone)


async def backlog(
    http: httpx.AsyncClient, characters: dict[str, str], args: argparse.Namespace, roots: dict[str, int]
) -> dict[str, Any]:
    """`--backlog` avatars from every user (`characters`: each user's key, their character) at once, each POST on a
    connection opened before; all waited for (one status polled at a time every 0.5 s) before the CPU is read."""
    comfyui = f"http://127.0.0.1:{args.ports.comfyui}"
    gpu_before = len(await executions(http, comfyui))
    go, path = asyncio.Event(), "/api/v1/image-generation/avatar"
    owners = [list(characters)[i % len(characters)] for i in range(args.backlog)]
    bodies = [{"characterId": characters[key], "seed": 5_000 + i} for i, key in enumerate(owners)]
    posts = [
        raw_post("127.0.0.1", args.ports.api, path, key, body, go) for key, body in zip(owners, bodies, strict=True)
    ]
    sending = asyncio.gather(*posts)
    await asyncio.sleep(0.2)  # their connections open
    before = cpu_seconds(roots)
    go.set()
    answered = await sending
    for key, (_, _, job) in zip(owners, answered, strict=True):
        status, _ = await polled(http, job["statusUrl"], {"Authorization": f"Bearer {key}"}, 0.5)
        if status != "ready":
            raise RuntimeError(f"backlog job {job['jobId']} ended {status}")
    cpu = per_image(before, cpu_seconds(roots), args.backlog)
    gpu = (await executions(http, comfyui))[gpu_before:]
    first_post = min(sent for sent, _, _ in answered)
    first_start, last_end = min(e.started for e in gpu), max(e.ended for e in gpu)
    busy = sum(e.seconds for e in gpu)
    return {
        "renders": len(gpu),
        "gpu_busy_renders": busy / (last_end - first_start),
        "gpu_busy_from_first_post": busy / (last_end - first_post),
        "first_render_after_post_s": first_start - first_post,
        "wall_s": last_end - first_post,
        "cpu_ms_per_image": cpu,
    }


async def measure(stack: DevStack, args: argparse.Namespace) -> dict[str, Any]:
    t, roots = args.render_seconds, service_roots(stack)
    for _ in range(30):  # a stack just started works a few seconds more (a worker warming up): not idle yet
        before = cpu_seconds(roots)
        await asyncio.sleep(1)
        if sum(cpu_seconds(roots).values()) - sum(before.values()) < 0.02:
            break
    print(f"the floor: {args.lone} avatars, one at a time, straight to ComfyUI ...")
    idle_began, before = time.time(), cpu_seconds(roots)
    floor, floor_cpu = await the_floor(f"http://127.0.0.1:{args.ports.comfyui}", args.lone, t)
    # The stack's own CPU a second while the floor's client uses ComfyUI alone.
    idle = per_image(before, cpu_seconds(roots), time.time() - idle_began)

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.ports.api}", timeout=120, limits=limits) as http:
        keys = await issue_users(http, stack.operator_key, args.users, 10 * (args.backlog + args.lone) + 100)
        characters = await characters_for(http, keys)
        print(f"comfyloom: {args.lone} avatars, one at a time, readiness by {args.ready_by} ...")
        lone, jobs, client_cpu, lone_cpu = await lone_jobs(http, keys[0], characters[keys[0]], args, roots)
        temporal = await Client.connect(f"127.0.0.1:{args.ports.temporal}", data_converter=pydantic_data_converter)
        histories = []
        for job in jobs:
            history = await temporal.get_workflow_handle(job["workflowId"]).fetch_history()
            histories.append(sum(event.ByteSize() for event in history.events))
        auth = {"Authorization": f"Bearer {keys[0]}"}
        images = (await http.get(f"/api/v1/characters/{characters[keys[0]]}/images", headers=auth)).json()
        webp = [image["sizeBytes"] for image in images if image["jobId"] in {job["jobId"] for job in jobs}]
        print(f"backlog: {args.backlog} avatars from {args.users} users at once ...")
        crowd = await backlog(http, characters, args, roots)
    return {
        "render_seconds": t,
        "ready_by": args.ready_by,
        "floor": {
            "p50_ms": statistics.median(floor) * 1000,
            "p95_ms": pct(floor, 95) * 1000,
            "client_cpu_ms": floor_cpu,
        },
        "comfyloom": {
            "p50_ms": statistics.median(lone) * 1000,
            "p95_ms": pct(lone, 95) * 1000,
            "client_cpu_ms": client_cpu,
            "history_bytes_p50": statistics.median(histories),
            "webp_bytes_p50": statistics.median(webp) if webp else None,
        },
        "cpu_ms_per_image": {"lone": lone_cpu, "backlog": crowd.pop("cpu_ms_per_image")},
        "cpu_ms_per_second_idle": idle,
        "backlog": crowd,
    }


def report(f: dict[str, Any]) -> str:
    """The one table: figure, floor, comfyloom, ratio (comfyloom / floor), target."""
    fl, cl, bl, cpu = f["floor"], f["comfyloom"], f["backlog"], f["cpu_ms_per_image"]
    busy = ">= 0.99 (T=2 s)" if f["render_seconds"] >= 2 else ">= 0.97 (T=0.5 s)"
    rows = [("figure", "floor", "comfyloom", "ratio", "target")]
    for label, key, target in [
        ("lone avatar, end-to-end - T, p50", "p50_ms", "<= 100 ms"),
        ("lone avatar, end-to-end - T, p95", "p95_ms", "<= 150 ms"),
        ("lone avatar, the client's own CPU", "client_cpu_ms", ""),
    ]:
        a, b = fl[key], cl[key]
        rows.append((label, f"{a:.1f} ms", f"{b:.1f} ms", f"{b / a:.1f}x" if a > 0 else "", target))
    for phase, figures in [("lone", cpu["lone"]), ("backlog", cpu["backlog"]), ("idle", f["cpu_ms_per_second_idle"])]:
        unit = "ms/s" if phase == "idle" else "ms"
        for name, ms in figures.items():
            target = "<= 120 ms" if name == "total" and phase != "idle" else ""
            what = "stack CPU a second while idle (floor phase)" if phase == "idle" else f"CPU per image, {phase}"
            rows.append((f"{what}: {name}", "-", f"{ms:.1f} {unit}", "", target))
    rows += [
        (f"backlog of {bl['renders']}: GPU busy, first to last render", "-", f"{bl['gpu_busy_renders']:.3f}", "", busy),
        ("backlog: GPU busy, first POST to last render", "-", f"{bl['gpu_busy_from_first_post']:.3f}", "", busy),
        ("backlog: first render start - first POST", "-", f"{bl['first_render_after_post_s']:.3f} s", "", "<= 0.3 s"),
        ("backlog: first POST to last render end", "-", f"{bl['wall_s']:.2f} s", "", ""),
        ("history bytes per avatar, p50", "-", f"{cl['history_bytes_p50']:,.0f}", "", ""),
        ("WebP bytes per avatar, p50", "-", f"{cl['webp_bytes_p50'] or 0:,.0f}", "", ""),
    ]
    return table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--render-seconds", type=float, default=0.5)
    parser.add_argument("--lone", type=int, default=20)
    parser.add_argument("--backlog", type=int, default=40)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--ready-by", choices=["events", "poll"], default="events")
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    args = parser.parse_args()
    json_path = args.json.resolve() if args.json else None
    own_checkout()
    os.environ["MODERATION_POLICY"] = "block"
    began = time.monotonic()
    with backlog_stack(args.render_seconds) as (stack, ports):
        args.ports = ports
        figures = asyncio.run(measure(stack, args))
    took = time.monotonic() - began
    print(f"\nT = {args.render_seconds}s, output moderation: block, readiness by {args.ready_by}, {took:.0f} s in all")
    print(report(figures))
    if json_path is not None:
        json_path.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
