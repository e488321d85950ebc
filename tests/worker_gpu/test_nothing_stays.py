"""Nothing stays on the GPU machine: after a render and after a cancelled render, ComfyUI's output folder is
empty (templates preview into its temp folder, which ComfyUI empties at start) and the worker has written
no file of its own: no report, no staged PNG, no cache, in its home, working or temp folder."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from comfyloom.settings import Settings
from devstack import localstack
from devstack.simulator import SimConfig, serve
from tests.helpers.jobs import done, rendering, start_avatar, wait_for

ROOT = Path(__file__).parents[2]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


async def test_after_a_render_and_a_cancelled_render_the_gpu_machine_holds_nothing_new(
    api: httpx.AsyncClient, cpu_worker: None, settings: Settings, tmp_path: Path
) -> None:
    comfyui, home, work, temp = (tmp_path / name for name in ("comfyui", "home", "work", "tmp"))
    for folder in (comfyui, home, work, temp):
        folder.mkdir()
    port = localstack.free_port()
    runner = await serve(SimConfig(render_seconds=4.0, output_dir=comfyui), "127.0.0.1", port)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "TMPDIR": str(temp),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",  # the checkout's bytecode is the checkout's, not the machine's files
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "COMFYUI_URL": f"http://127.0.0.1:{port}",
        "SHUTDOWN_GRACE_SECONDS": "5",
    }
    worker = await asyncio.create_subprocess_exec(sys.executable, "-m", "worker_gpu", cwd=work, env=env)
    try:
        ready = await wait_for(api, (await start_avatar(api))["jobId"], done, within=60)
        assert ready["status"] == "ready", ready
        cancelled = await start_avatar(api)
        await wait_for(api, cancelled["jobId"], rendering, within=30)
        assert (await api.delete(f"/api/v1/image-generation/jobs/{cancelled['jobId']}")).status_code == 202
        assert (await wait_for(api, cancelled["jobId"], done, within=30))["status"] == "cancelled"
    finally:
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 30) == 0
        await runner.cleanup()
    assert files_under(comfyui / "output") == []
    assert len(files_under(comfyui / "temp")) >= 1  # ComfyUI's own previews, emptied when it starts
    assert (files_under(home), files_under(work), files_under(temp)) == ([], [], [])
