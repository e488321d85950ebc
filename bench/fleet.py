"""A fleet of GPUs and a burst of users: does the cloud side keep every GPU busy, and what does an image cost it?

    .venv/bin/python bench/fleet.py [--gpus 1,2,4,8] [--render-seconds 0.5] [--per-gpu 20] [--users 50]
                                    [--faster 0.2,0.1] [--slow-gpu]

Starts the dev stack (one simulator and its GPU worker), then for each K adds simulators, each with a GPU worker
of its own (distinct worker ids), and sends a backlog of about `--per-gpu` renders per GPU from `--users` users,
avatars and sticker sets mixed. Per K it prints the wall time, each GPU's busy fraction and the fleet's, the
overhead per avatar (end-to-end minus its render, counted from when its GPU was free), API accept latency, how the
renders spread over the GPUs, and how often a GPU sat idle while jobs were still waiting. At the largest K it then
lowers T (`--faster`) until the cloud side, not the GPUs, is the limit, and gives one GPU 2T (`--slow-gpu`).

Each round also reads the CPU time (`/proc`) the cloud side spent, process by process (API, CPU worker, Temporal,
Postgres), so one image's cost on the cloud side is a number, and the RSS of every process idle and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

sys.path.insert(0, str(Path(__file__).parent))  # the helpers of bench/throughput.py, run as a script
sys.path.insert(1, str(Path(__file__).parents[1]))  # devstack/, run from the checkout

from throughput import Execution, Job, backlog_stack, executions, issue_users, overhead, pct, run_jobs, table

from activities.comfy import prompt_id_for
from devstack import localstack
from devstack.demo import DEMO_CHARACTER
from devstack.stack import DevPorts, DevStack

CLOUD = ("api", "worker-cpu", "temporal", "postgres")
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Gpu:
    url: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)  # its simulator and GPU worker, if ours


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from the state on (the name may hold spaces)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))):
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def cpu_seconds(pid: int, tree: dict[int, list[int]]) -> float:
    """The process's CPU time, its reaped children's, and its live descendants': a server's whole cost."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    own = sum(int(v) for v in fields[11:15]) / TICKS  # utime, stime, cutime, cstime
    return own + sum(cpu_seconds(child, tree) for child in tree.get(pid, []))


def rss_mb(pid: int, tree: dict[int, list[int]]) -> float:
    fields = _stat(pid)
    if fields is None:
        return 0.0
    own = int(fields[21]) * PAGE / 2**20
    return own + sum(rss_mb(child, tree) for child in tree.get(pid, []))


def process_ids(stack: DevStack, gpus: list[Gpu]) -> dict[str, int]:
    pids = {s.name: s.proc.pid for s in stack.services if s.proc is not None}
    postmaster = stack.data_dir / "pgdata" / "postmaster.pid"
    if postmaster.exists():
        pids["postgres"] = int(postmaster.read_text().split()[0])
    for i, gpu in enumerate(gpus[1:], start=2):
        pids[f"comfyui-{i}"], pids[f"worker-gpu-{i}"] = (p.pid for p in gpu.procs)
    return pids


def snapshot(pids: dict[str, int], measure: str) -> dict[str, float]:
    tree = _children()
    read = cpu_seconds if measure == "cpu" else rss_mb
    return {name: read(pid, tree) for name, pid in pids.items()}


def start_gpu(stack: DevStack, render_seconds: float, index: int) -> Gpu:
    """Another simulator, and a GPU worker for it with the dev stack's settings (its worker id follows the URL)."""
    port = localstack.free_port()
    simulator = subprocess.Popen(
        localstack.simulator_args(port=port, render_seconds=render_seconds),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    localstack.wait_until(localstack.http_ok(f"{url}/system_stats"), "ComfyUI simulator", proc=simulator)
    log = open(stack.logs / f"worker-gpu-{index}.log", "ab")  # closed when the bench exits
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker_gpu"],
        env={**os.environ, **stack.env, "COMFYUI_URL": url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Gpu(url, [simulator, worker])


async def polling(http: httpx.AsyncClient, want: int, logs: Path) -> None:
    deadline = time.monotonic() + 90
    while (await http.get("/api/v1/image-generation/health")).json()["gpuWorkers"] < want:
        if time.monotonic() > deadline:
            raise RuntimeError(f"GPU worker {want} did not start polling; see {logs}")
        await asyncio.sleep(0.5)


async def set_render_seconds(http: httpx.AsyncClient, gpu: Gpu, seconds: float) -> None:
    (await http.put(f"{gpu.url}/sim/config", json={"render_seconds": seconds})).raise_for_status()


@dataclass
class Round:
    label: str
    gpus: int
    t: float
    renders: int
    wall: float
    busy: list[float]
    per_gpu: list[int]
    overheads: list[float]
    accepts: list[float]
    idle_samples: int
    samples: int
    cloud_cpu: dict[str, float]
    # The simulated GPU machines (simulators and GPU workers) and storage (moto, R2 in production) share these
    # cores here; shown apart, so the cloud side's cost is not mistaken for theirs.
    gpu_side_cpu: float
    storage_cpu: float
    ideal: float

    @property
    def fleet_busy(self) -> float:
        return statistics.mean(self.busy)

    @property
    def per_second(self) -> float:
        return self.renders / self.wall

    def cpu_ms_per_render(self) -> float:
        return sum(self.cloud_cpu.values()) * 1000 / self.renders


async def watch_idle(http: httpx.AsyncClient, gpus: list[Gpu], stop: asyncio.Event) -> tuple[int, int]:
    """Samples each ComfyUI's queue every 50 ms: how often one GPU had nothing while another had a prompt waiting."""
    idle = samples = 0
    while not stop.is_set():
        queues = await asyncio.gather(*(http.get(f"{g.url}/queue") for g in gpus))
        loads = [len(q.json()["queue_running"]) + len(q.json()["queue_pending"]) for q in queues]
        samples += 1
        if 0 in loads and max(loads) >= 2:
            idle += 1
        await asyncio.sleep(0.05)
    return idle, samples


async def one_round(
    label: str,
    http: httpx.AsyncClient,
    temporal: Client,
    gpus: list[Gpu],
    keys: list[str],
    per_gpu: int,
    t: float,
    pids: dict[str, int],
    seed: int,
) -> Round:
    k = len(gpus)
    sets = k
    avatars = per_gpu * k - 8 * sets
    kinds = ["avatar"] * avatars
    for i in range(sets):
        kinds.insert((i + 1) * len(kinds) // (sets + 1) + i, "stickers/bulk")
    backlog = [Job(kind, keys[i % len(keys)], seed=seed + i) for i, kind in enumerate(kinds)]
    before = [len(await executions(http, g.url)) for g in gpus]
    cpu_before = snapshot(pids, "cpu")
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_idle(http, gpus, stop))
    await run_jobs(http, temporal, backlog)
    stop.set()
    idle, samples = await watcher
    cpu_after = snapshot(pids, "cpu")
    spent = {name: cpu_after[name] - cpu_before[name] for name in pids}
    ran: list[list[Execution]] = [(await executions(http, g.url))[n:] for g, n in zip(gpus, before, strict=True)]
    first, last = min(j.submitted for j in backlog), max(j.done for j in backlog)
    wall = last - first
    where = {e.prompt_id: (i, e) for i, gpu_ran in enumerate(ran) for e in gpu_ran}
    overheads = []
    for job in backlog:
        if job.kind == "avatar":
            gpu_index, own = where[prompt_id_for(job.workflow_id, "render-1")]
            overheads.append(overhead(job, own, ran[gpu_index], t))
    renders = sum(len(r) for r in ran)
    capacity = sum(1 / statistics.mean([e.seconds for e in r]) for r in ran if r)  # renders a second, all GPUs
    return Round(
        label=label,
        gpus=k,
        t=t,
        renders=renders,
        wall=wall,
        busy=[sum(e.seconds for e in r) / wall for r in ran],
        per_gpu=[len(r) for r in ran],
        overheads=overheads,
        accepts=[j.accepted - j.submitted for j in backlog],
        idle_samples=idle,
        samples=samples,
        cloud_cpu={name: spent[name] for name in CLOUD if name in spent},
        gpu_side_cpu=sum(v for n, v in spent.items() if n.startswith(("comfyui", "worker-gpu"))),
        storage_cpu=spent.get("s3", 0.0),
        ideal=renders / capacity,
    )


async def idle_probe(http: httpx.AsyncClient, temporal: Client, key: str, t: float, count: int) -> list[str]:
    """One user on the idle stack: a lone POST's accept time, its avatar end-to-end minus T, and GET status."""
    accepts, beyond_t, reads = [], [], []
    if count == 0:
        return []
    for i in range(count):
        job = Job("avatar", key, seed=90_000 + i)
        await run_jobs(http, temporal, [job])
        accepts.append(job.accepted - job.submitted)
        beyond_t.append(job.done - job.submitted - t)
    headers = {"Authorization": f"Bearer {key}"}
    finished = (await http.get("/api/v1/image-generation/jobs", params={"limit": 1}, headers=headers)).json()
    url = finished["items"][0]["statusUrl"]
    for _ in range(count * 5):
        started = time.perf_counter()
        (await http.get(url, headers=headers)).raise_for_status()
        reads.append(time.perf_counter() - started)
    running = await running_reads(http, headers)
    return [
        f"lone POST avatar, accepted in p50 {statistics.median(accepts) * 1000:.0f} ms (target <= 20 ms)",
        f"lone avatar, end-to-end minus T p50 {statistics.median(beyond_t) * 1000:.0f} ms (target <= 100 ms)",
        f"GET status of a finished job p50 {statistics.median(reads) * 1000:.1f} ms (target <= 15 ms)",
        f"GET status of a running job p50 {statistics.median(running) * 1000:.1f} ms, max"
        f" {max(running) * 1000:.1f} ms over {len(running)} reads (target <= 15 ms)",
    ]


async def running_reads(http: httpx.AsyncClient, headers: dict[str, str]) -> list[float]:
    """A client polling one avatar until it is ready: how long each read of it, while running, took."""
    character = (await http.post("/api/v1/characters", json=DEMO_CHARACTER, headers=headers)).json()
    job = await http.post("/api/v1/image-generation/avatar", json={"characterId": character["id"]}, headers=headers)
    url = job.json()["statusUrl"]
    reads: list[float] = []
    while True:
        started = time.perf_counter()
        status = (await http.get(url, headers=headers)).json()
        if status["status"] in ("ready", "failed"):
            return reads
        reads.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)


def report(rounds: list[Round]) -> str:
    rows = [
        (
            "round",
            "GPUs",
            "T",
            "renders",
            "wall",
            "ideal",
            "fleet busy (each)",
            "overhead p50/p95",
            "API accept p50/p99",
            "renders per GPU",
            "idle while waiting",
            "renders/s",
            "cloud CPU-ms/render",
            "GPU side, storage",
        )
    ]
    for r in rounds:
        rows.append(
            (
                r.label,
                str(r.gpus),
                f"{r.t}s",
                str(r.renders),
                f"{r.wall:.2f}s",
                f"{r.ideal:.2f}s",
                f"{r.fleet_busy:.3f} ({' '.join(f'{b:.2f}' for b in r.busy)})",
                f"{statistics.median(r.overheads) * 1000:.0f}/{pct(r.overheads, 95) * 1000:.0f} ms",
                f"{statistics.median(r.accepts) * 1000:.0f}/{pct(r.accepts, 99) * 1000:.0f} ms",
                " ".join(str(n) for n in r.per_gpu),
                f"{r.idle_samples}/{r.samples}",
                f"{r.per_second:.1f}",
                f"{r.cpu_ms_per_render():.0f}",
                f"{r.gpu_side_cpu * 1000 / r.renders:.0f}, {r.storage_cpu * 1000 / r.renders:.0f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


async def measure(stack: DevStack, ports: DevPorts, args: argparse.Namespace, gpus: list[Gpu]) -> None:
    """Grows `gpus` (the stack's own first) round by round; the caller stops what was added."""
    api = f"http://127.0.0.1:{ports.api}"
    temporal = await Client.connect(f"127.0.0.1:{ports.temporal}", data_converter=pydantic_data_converter)
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    sizes = sorted(int(k) for k in args.gpus.split(","))
    gpus.append(Gpu(stack.env["COMFYUI_URL"]))
    rounds: list[Round] = []
    async with httpx.AsyncClient(base_url=api, timeout=300, limits=limits) as http:
        keys = await issue_users(http, stack.operator_key, args.users, 100_000)
        idle_rss = snapshot(process_ids(stack, gpus), "rss")
        print("idle stack: lone avatars one at a time, then status reads ...")
        idle = await idle_probe(http, temporal, keys[0], args.render_seconds, args.lone)
        seed = 0
        for k in sizes:
            while len(gpus) < k:
                gpus.append(start_gpu(stack, args.render_seconds, len(gpus) + 1))
            await polling(http, k, stack.logs)
            print(f"K = {k}: {args.per_gpu * k} renders from {args.users} users, T = {args.render_seconds}s ...")
            pids = process_ids(stack, gpus)
            rounds.append(
                await one_round(f"K={k}", http, temporal, gpus, keys, args.per_gpu, args.render_seconds, pids, seed)
            )
            seed += 10_000
        end_rss = snapshot(process_ids(stack, gpus), "rss")
        for faster in [float(t) for t in args.faster.split(",") if t]:
            for gpu in gpus:
                await set_render_seconds(http, gpu, faster)
            print(f"K = {len(gpus)}, T = {faster}s ...")
            rounds.append(
                await one_round(
                    f"T={faster}", http, temporal, gpus, keys, args.per_gpu, faster, process_ids(stack, gpus), seed
                )
            )
            seed += 10_000
        if args.slow_gpu:
            t = args.render_seconds
            for gpu in gpus:
                await set_render_seconds(http, gpu, t)
            await set_render_seconds(http, gpus[-1], 2 * t)
            print(f"K = {len(gpus)}, one GPU at 2T ...")
            rounds.append(
                await one_round(
                    "one at 2T", http, temporal, gpus, keys, args.per_gpu, t, process_ids(stack, gpus), seed
                )
            )
    print()
    print("\n".join(idle))
    print()
    print(report(rounds))
    best = max(rounds, key=lambda r: r.per_second)
    print()
    print(
        f"highest sustained rate: {best.per_second:.1f} renders/s ({best.label}, fleet busy {best.fleet_busy:.3f});"
        f" cloud CPU per render there: {best.cpu_ms_per_render():.0f} ms"
        f" ({', '.join(f'{n} {v * 1000 / best.renders:.0f}' for n, v in best.cloud_cpu.items())})"
    )
    print()
    print(
        table(
            [("process", "RSS idle", "RSS at the end", "")]
            + [(n, f"{idle_rss.get(n, 0):.0f} MB", f"{end_rss[n]:.0f} MB", "") for n in end_rss]
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", default="1,2,4,8", help="fleet sizes, comma-separated")
    parser.add_argument("--render-seconds", type=float, default=0.5)
    parser.add_argument("--per-gpu", type=int, default=20, help="renders per GPU in each round's backlog")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--faster", default="0.2,0.1", help="render times to try at the largest fleet")
    parser.add_argument("--slow-gpu", action="store_true", help="then give one GPU twice the render time")
    parser.add_argument("--lone", type=int, default=10, help="avatars sent one at a time to the idle stack first")
    args = parser.parse_args()
    gpus: list[Gpu] = []
    with backlog_stack(args.render_seconds) as (stack, ports):
        try:
            asyncio.run(measure(stack, ports, args, gpus))
        finally:
            for gpu in gpus:
                for proc in gpu.procs:
                    proc.terminate()


if __name__ == "__main__":
    main()
