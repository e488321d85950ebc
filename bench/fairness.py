"""One GPU, many users: first come, first served against priority and fairness, side by side.

    .venv/bin/python bench/fairness.py [--render-seconds 0.5,2] [--sets 3] [--warmup 10]

For each render time T and each mode (TASK_PRIORITY=false, then true), on a fresh dev stack with one simulated
GPU: user A orders `--sets` sticker sets; while A's backlog waits, users B and C each order an avatar and a chat
scene, one order every 2.5 T from 2 T after A on, each at a random point of a render (`--seed`). With
`--single-stickers` each also orders a single sticker, which waits on the same queue as A's stickers.
Before that, `--warmup` renders of each kind give the estimates their medians. Prints, per run: B's and C's
wait from POST to render start (p50/p95, in T), A's sets' makespan, the GPU's busy fraction, and the start
estimate's error (|estimated - actual| over the wait, p50/p95, every job whose estimate was seen); then the
ratios priority / FIFO.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))  # the helpers of bench/throughput.py, run as a script
sys.path.insert(1, str(Path(__file__).parents[1]))  # devstack/ and the project, run from the checkout

from temporalio.client import Client as TemporalClient
from throughput import executions, issue_users, pct, steps_of

from activities.comfy import prompt_id_for
from devstack import localstack
from devstack.demo import DEMO_CHARACTER
from devstack.stack import DevPorts, DevStack

SCENE = "Os dois caminham na praia ao pôr do sol, conversando."
EMOTIONS = ["happy", "sad", "angry", "surprised", "shy", "laughing", "crying", "thinking"]


@dataclass
class Job:
    user: str
    kind: str
    job_id: str
    workflow_id: str
    posted: float
    estimated_start: float | None = None


@dataclass
class Run:
    waits: list[float] = field(default_factory=list)  # B's and C's, POST to render start, seconds
    makespan: float = 0.0
    busy: float = 0.0
    errors: list[float] = field(default_factory=list)


class Client:
    def __init__(self, http: httpx.AsyncClient, key: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {key}"}
        self.character = ""
        self.seed = 0

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.seed += 1  # the same body again within the repeat window would be the same job
        response = await self.http.post(path, json={**body, "seed": self.seed}, headers=self.headers)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    async def order(self, user: str, kind: str) -> list[Job]:
        posted = time.time()
        if kind == "set":
            body = {"characterId": self.character, "emotions": EMOTIONS}
            accepted = await self.post("/api/v1/image-generation/stickers/bulk", body)
            status = (await self.http.get(accepted["statusUrl"], headers=self.headers)).json()
            return [
                Job(user, "sticker", s["jobId"], await self.workflow_of(s["jobId"]), posted) for s in status["stickers"]
            ]
        if kind == "scene":
            body = {"characterIds": [self.character], "context": SCENE}
            accepted = await self.post("/api/v1/image-generation/scene", body)
        elif kind == "sticker":
            body = {"characterId": self.character, "emotion": "happy"}
            accepted = await self.post("/api/v1/image-generation/sticker", body)
        else:
            accepted = await self.post(f"/api/v1/image-generation/{kind}", {"characterId": self.character})
        return [Job(user, kind, accepted["jobId"], accepted["workflowId"], posted)]

    async def workflow_of(self, job_id: str) -> str:
        status = (await self.http.get(f"/api/v1/image-generation/status/{job_id}", headers=self.headers)).json()
        return str(status["workflowId"])

    async def watch(self, job: Job) -> str:
        """Until it ends; keeps the first start estimate its status shows. The start itself is ComfyUI's."""
        while True:
            status = (await self.http.get(f"/api/v1/image-generation/status/{job.job_id}", headers=self.headers)).json()
            queue = status.get("queue") or {}
            if job.estimated_start is None and queue.get("estimatedStartAt"):
                job.estimated_start = datetime.fromisoformat(queue["estimatedStartAt"]).timestamp()
            if status["status"] in ("ready", "failed", "cancelled"):
                return str(status["status"])
            # Often until its first estimate is seen, then as a client would: 28 jobs looked at every 0.1 s are
            # 280 status requests a second, a load on this 2-core machine that slows the stack being measured.
            await asyncio.sleep(0.1 if job.estimated_start is None else 1.0)


async def bench(
    api: str,
    comfyui: str,
    temporal: str,
    operator_key: str,
    t: float,
    sets: int,
    warmup: int,
    single_stickers: bool,
    seed: int,
) -> Run:
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        keys = await issue_users(http, operator_key, 3, 2000)
        a, b, c = (Client(http, key) for key in keys)
        for client in (a, b, c):
            made = await http.post("/api/v1/characters", json=DEMO_CHARACTER, headers=client.headers)
            client.character = made.json()["id"]
        # Warm-up: each kind measured `warmup` times, one after another, so the estimates have their medians.
        for kind in ("avatar", "scene", "sticker"):
            for _ in range(warmup):
                body = {"characterId": b.character, **({"emotion": "happy"} if kind == "sticker" else {})}
                if kind == "scene":
                    [job] = await b.order("B", "scene")
                else:
                    accepted = await b.post(f"/api/v1/image-generation/{kind}", body)
                    job = Job("B", kind, accepted["jobId"], accepted["workflowId"], time.time())
                assert await b.watch(job) == "ready"
        measured_from = time.time()
        backlog = [job for _ in range(sets) for job in await a.order("A", "set")]
        watchers = [asyncio.create_task(a.watch(job)) for job in backlog]
        interactive: list[Job] = []
        kinds = ("avatar", "scene", *(("sticker",) if single_stickers else ()))
        orders = [(client, user, kind) for kind in kinds for client, user in ((b, "B"), (c, "C"))]
        phases = random.Random(seed)
        for i, (client, user, kind) in enumerate(orders):
            # One order every 2.5 T on average, at a random point of the render under way.
            await asyncio.sleep(max(0.0, measured_from + (2 + 2.5 * i + phases.random()) * t - time.time()))
            jobs = await client.order(user, kind)
            interactive += jobs
            watchers += [asyncio.create_task(client.watch(job)) for job in jobs]
        outcomes = await asyncio.gather(*watchers)
        assert set(outcomes) == {"ready"}, outcomes
        ran = {e.prompt_id: e for e in await executions(http, comfyui)}
    start = {job.job_id: ran[prompt_id_for(job.workflow_id, "render-1")] for job in [*backlog, *interactive]}
    run = Run()
    run.waits = [start[job.job_id].started - job.posted for job in interactive]
    run.makespan = max(start[job.job_id].ended for job in backlog) - measured_from
    mine = [e for e in ran.values() if e.started >= measured_from]
    span = max(e.ended for e in mine) - min(e.started for e in mine)
    run.busy = sum(e.seconds for e in mine) / span
    for job in [*backlog, *interactive]:
        actual = start[job.job_id].started
        error = None
        if job.estimated_start is not None:
            error = abs(job.estimated_start - actual) / max(actual - job.posted, t)
            run.errors.append(error)
        if os.environ.get("BENCH_VERBOSE"):
            estimated = "-" if job.estimated_start is None else f"{job.estimated_start - measured_from:6.2f}"
            print(
                f"  {job.user} {job.kind:<7} posted {job.posted - measured_from:6.2f}"
                f" started {actual - measured_from:6.2f}"
                f" estimated {estimated} error {'-' if error is None else f'{error:.2f}'}",
                file=sys.stderr,
            )
    if os.environ.get("BENCH_VERBOSE"):
        runs = await TemporalClient.connect(temporal)
        for job in interactive:
            history = await runs.get_workflow_handle(job.workflow_id).fetch_history()
            steps = steps_of(history, job.posted, until="queue_comfy_prompt")
            print(f"  {job.user} {job.kind}: {', '.join(steps)}", file=sys.stderr)
    return run


def run_stack(t: float, priority: bool, sets: int, warmup: int, single_stickers: bool, seed: int) -> Run:
    os.environ["TASK_PRIORITY"] = "true" if priority else "false"  # the stack's API reads it
    # The warm-up asks more than a user's per-minute and concurrent limits allow: this bench measures the GPU.
    os.environ["RATE_LIMIT_PER_MINUTE"] = os.environ["MAX_CONCURRENT_JOBS"] = "0"
    ports = DevPorts(*(localstack.free_port() for _ in range(5)))
    with tempfile.TemporaryDirectory() as tmp:
        stack = DevStack(ports, data_dir=Path(tmp) / "stack", render_seconds=t)
        try:
            stack.start()
            api, comfyui = f"http://127.0.0.1:{ports.api}", f"http://127.0.0.1:{ports.comfyui}"
            return asyncio.run(
                bench(
                    api,
                    comfyui,
                    f"127.0.0.1:{ports.temporal}",
                    stack.operator_key,
                    t,
                    sets,
                    warmup,
                    single_stickers,
                    seed,
                )
            )
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--render-seconds", default="0.5,2", help="render times T to run at (comma-separated)")
    parser.add_argument("--sets", type=int, default=3, help="sticker sets user A orders")
    parser.add_argument("--warmup", type=int, default=10, help="renders of each kind measured before")
    parser.add_argument(
        "--single-stickers", action="store_true", help="B and C also order a single sticker (A's stickers' queue)"
    )
    parser.add_argument("--seed", type=int, default=1, help="where in a render each order lands")
    args = parser.parse_args()
    print(
        f"{'T s':>5} {'mode':<9} {'B,C wait p50/p95 (T)':>21} {'A makespan s':>13} {'GPU busy':>9}"
        f" {'estimate error p50/p95':>23}"
    )
    for t in (float(x) for x in args.render_seconds.split(",")):
        runs = {
            mode: run_stack(t, mode == "priority", args.sets, args.warmup, args.single_stickers, args.seed)
            for mode in ("fifo", "priority")
        }
        for mode, run in runs.items():
            errors = f"{pct(run.errors, 50):.2f} / {pct(run.errors, 95):.2f}" if run.errors else "none seen"
            print(
                f"{t:>5.2f} {mode:<9} {pct(run.waits, 50) / t:>10.2f} / {pct(run.waits, 95) / t:<8.2f}"
                f" {run.makespan:>13.2f} {run.busy:>9.3f} {errors:>23}"
            )
        fifo, fair = runs["fifo"], runs["priority"]
        print(
            f"{t:>5.2f} {'pri/fifo':<9} {pct(fair.waits, 50) / pct(fifo.waits, 50):>10.2f} /"
            f" {pct(fair.waits, 95) / pct(fifo.waits, 95):<8.2f} {fair.makespan / fifo.makespan:>13.3f}"
            f" {fair.busy / fifo.busy:>9.3f}"
        )


if __name__ == "__main__":
    main()
