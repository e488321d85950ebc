"""End-to-end avatar time through the real dev stack at a fixed simulated render time.

    .venv/bin/python bench/avatar_e2e.py [--render-seconds 1.0] [--jobs 10]

Prints, per job and as p50/max: time from POST to a ready status, the overhead beyond the render
(ratio to the render time), and the workflow history size in bytes; then the last job's steps, in ms after its
POST.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

sys.path.insert(0, str(Path(__file__).parent))  # the helpers of bench/throughput.py, run as a script
sys.path.insert(1, str(Path(__file__).parents[1]))  # devstack/, run from the checkout

from throughput import steps_of

from devstack import localstack
from devstack.demo import DEMO_CHARACTER
from devstack.stack import DevPorts, DevStack


async def measure(api: str, key: str, temporal: str, jobs: int) -> list[tuple[float, int]]:
    client = await Client.connect(temporal, data_converter=pydantic_data_converter)
    results = []
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api, timeout=30, headers=headers) as http:
        character = (await http.post("/api/v1/characters", json=DEMO_CHARACTER)).json()
        for seed in range(jobs):
            started, posted = time.perf_counter(), time.time()
            # A seed each: the same body again within IDEMPOTENCY_WINDOW_SECONDS would return the same job.
            body = {"characterId": character["id"], "seed": seed}
            job = (await http.post("/api/v1/image-generation/avatar", json=body)).json()
            assert not job["replayed"]
            while True:  # a client polling its status, as the product's apps do
                status = (await http.get(job["statusUrl"])).json()
                if status["status"] in ("ready", "failed"):
                    break
                await asyncio.sleep(0.02)
            elapsed = time.perf_counter() - started
            assert status["status"] == "ready", status
            history = await client.get_workflow_handle(job["workflowId"]).fetch_history()
            results.append((elapsed, sum(e.ByteSize() for e in history.events)))
            if seed == jobs - 1:
                print(f"the last job's steps, ms after its POST (ready at {elapsed * 1000:.0f}):")
                print(f"  {', '.join(steps_of(history, posted))}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--render-seconds", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()
    ports = DevPorts(*(localstack.free_port() for _ in range(5)))
    with tempfile.TemporaryDirectory() as tmp:
        stack = DevStack(ports, data_dir=Path(tmp) / "stack", render_seconds=args.render_seconds)
        try:
            stack.start()
            api, temporal = f"http://127.0.0.1:{ports.api}", f"127.0.0.1:{ports.temporal}"
            results = asyncio.run(measure(api, stack.demo_key, temporal, args.jobs))
        finally:
            stack.stop()
    t = args.render_seconds
    print(f"{'job':>4} {'end-to-end s':>13} {'overhead s':>11} {'e2e/render':>11} {'history bytes':>14}")
    for i, (elapsed, size) in enumerate(results, 1):
        print(f"{i:>4} {elapsed:>13.3f} {elapsed - t:>11.3f} {elapsed / t:>11.2f} {size:>14}")
    times = [e for e, _ in results]
    sizes = [s for _, s in results]
    p50 = statistics.median(times)
    print(
        f"p50 end-to-end {p50:.3f}s (render {t:.2f}s, overhead p50 {p50 - t:.3f}s, max {max(times) - t:.3f}s, "
        f"ratio p50 {p50 / t:.2f}); history {min(sizes)}-{max(sizes)} bytes"
    )


if __name__ == "__main__":
    main()
