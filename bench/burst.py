"""A burst of users at once: how fast the API admits them, and what one admission costs it.

    .venv/bin/python bench/burst.py [--posts 200] [--users 50] [--rounds 3] [--lone 50] [--render-seconds 0.5]

Starts the dev stack and sends `--lone` POSTs one after another: an admission's own latency and CPU. Then, per
round, it sends `--posts` avatar POSTs at the same moment from `--users` users and prints the accept latency
(POST to 202, p50/p99/max), how long until every admitted job's run had started in Temporal, the CPU each
cloud process spent per admitted job (`/proc`) and how many of the machine's cores were busy meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

sys.path.insert(0, str(Path(__file__).parent))  # the helpers of bench/throughput.py and bench/fleet.py
sys.path.insert(1, str(Path(__file__).parents[1]))  # devstack/, run from the checkout

from fleet import process_ids, snapshot
from throughput import backlog_stack, characters_for, issue_users, pct, raw_post, run_exists, table

from devstack.stack import DevPorts, DevStack

TARGET_P99_MS = 150.0


async def one_round(
    api: tuple[str, int],
    temporal: Client,
    keys: list[str],
    characters: dict[str, str],
    posts: int,
    seed: int,
    pids: dict[str, int],
) -> tuple[list[float], float, dict[str, float]]:
    """Accept latencies (ms), seconds until every run started, CPU-ms per admitted job by process."""
    go = asyncio.Event()
    tasks = [
        asyncio.create_task(
            raw_post(
                *api,
                "/api/v1/image-generation/avatar",
                keys[i % len(keys)],
                {"characterId": characters[keys[i % len(keys)]], "seed": seed + i},
                go,
            )
        )
        for i in range(posts)
    ]
    await asyncio.sleep(0.5)  # every connection is open and waits on the event
    before = snapshot(pids, "cpu")
    origin = time.perf_counter()
    go.set()
    answers = [(answered - sent, body["workflowId"]) for sent, answered, body in await asyncio.gather(*tasks)]
    accepted_cpu = snapshot(pids, "cpu")
    window = time.perf_counter() - origin
    await asyncio.gather(*(run_exists(temporal, workflow_id) for _, workflow_id in answers))
    all_started = time.perf_counter() - origin
    per_job = {n: (accepted_cpu[n] - before[n]) * 1000 / posts for n in pids}
    per_job["cores busy"] = sum(accepted_cpu[n] - before[n] for n in pids) / window
    return [took * 1000 for took, _ in answers], all_started, per_job


async def one_by_one(
    http: httpx.AsyncClient, keys: list[str], characters: dict[str, str], posts: int, pids: dict[str, int]
) -> tuple[list[float], dict[str, float]]:
    """POSTs one after another on the idle stack: an admission's own latency and CPU, without contention."""
    took = []
    before = snapshot(pids, "cpu")
    for i in range(posts):
        key = keys[i % len(keys)]
        sent = time.perf_counter()
        answer = await http.post(
            "/api/v1/image-generation/avatar",
            json={"characterId": characters[key], "seed": 900_000 + i},
            headers={"Authorization": f"Bearer {key}"},
        )
        took.append((time.perf_counter() - sent) * 1000)
        answer.raise_for_status()
    after = snapshot(pids, "cpu")
    return took, {n: (after[n] - before[n]) * 1000 / posts for n in pids}


async def measure(stack: DevStack, ports: DevPorts, args: argparse.Namespace) -> None:
    api = f"http://127.0.0.1:{ports.api}"
    temporal = await Client.connect(f"127.0.0.1:{ports.temporal}", data_converter=pydantic_data_converter)
    limits = httpx.Limits(max_connections=args.posts, max_keepalive_connections=args.posts)
    rows = [
        (
            "round",
            "accept p50 / p99 / max",
            "all runs started",
            "CPU-ms per admission: API, Postgres, Temporal, CPU worker",
            "cores busy",
        )
    ]
    p99s = []
    async with httpx.AsyncClient(base_url=api, timeout=120, limits=limits) as http:
        keys = await issue_users(http, stack.operator_key, args.users, 100_000)
        characters = await characters_for(http, keys)
        pids = process_ids(stack, [])
        if args.lone:
            print(f"{args.lone} POSTs one at a time ...")
            took, cpu = await one_by_one(http, keys, characters, args.lone, pids)
            rows.append(
                (
                    "one at a time",
                    f"{pct(took, 50):.1f} / {pct(took, 99):.1f} / {max(took):.1f} ms",
                    "",
                    ", ".join(f"{cpu[n]:.1f}" for n in ("api", "postgres", "temporal", "worker-cpu")),
                    "",
                )
            )
            await asyncio.sleep(args.settle)
        for r in range(args.rounds):
            print(f"round {r + 1}: {args.posts} POSTs at once from {args.users} users ...")
            took, all_started, cpu = await one_round(
                ("127.0.0.1", ports.api), temporal, keys, characters, args.posts, r * 100_000, pids
            )
            p99s.append(pct(took, 99))
            rows.append(
                (
                    str(r + 1),
                    f"{pct(took, 50):.0f} / {pct(took, 99):.0f} / {max(took):.0f} ms",
                    f"{all_started:.2f} s",
                    ", ".join(f"{cpu[n]:.1f}" for n in ("api", "postgres", "temporal", "worker-cpu")),
                    f"{cpu['cores busy']:.2f} of {os.cpu_count()}",
                )
            )
            await asyncio.sleep(args.settle)  # the runs' first steps, before the next burst
    print()
    print(f"one API process; render T = {args.render_seconds} s")
    print(table(rows))
    best = min(p99s)
    print()
    print(f"accept p99, best round: {best:.0f} ms; target ≤ {TARGET_P99_MS:.0f} ms: ratio {best / TARGET_P99_MS:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--render-seconds", type=float, default=0.5)
    parser.add_argument("--lone", type=int, default=50, help="POSTs one at a time first, on the idle stack")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds between rounds")
    args = parser.parse_args()
    with backlog_stack(args.render_seconds) as (stack, ports):
        asyncio.run(measure(stack, ports, args))


if __name__ == "__main__":
    main()
