"""The README's run command: the whole dev stack as real processes, then the demo, then a clean stop."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devstack import localstack

pytestmark = pytest.mark.servers  # the whole dev stack, as real processes


def dev_stack(data_dir: Path, *flags: str) -> tuple[list[str], dict[str, int], dict[str, str]]:
    """`python -m devstack up` on free ports, every part started locally: its command line, ports and environment."""
    ports = {name: localstack.free_port() for name in ("api", "temporal", "temporal-ui", "s3", "comfyui")}
    args = [
        sys.executable,
        "-m",
        "devstack",
        "up",
        *flags,
        "--render-seconds",
        "0.3",
        "--data-dir",
        str(data_dir),
    ]
    for name, port in ports.items():
        args += [f"--{name}-port", str(port)]
    given = ("DATABASE_URL", "TEMPORAL_ADDRESS", "S3_ENDPOINT_URL", "COMFYUI_URL")
    return args, ports, {k: v for k, v in os.environ.items() if k not in given}


def test_dev_stack_runs_the_demo_and_stops_cleanly(tmp_path: Path) -> None:
    args, ports, env_free = dev_stack(tmp_path / "stack", "--exit-after-demo")
    result = subprocess.run(args, capture_output=True, text=True, timeout=180, env=env_free)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Temporal Web UI" in out and f"http://127.0.0.1:{ports['temporal-ui']}" in out
    # Every kind: avatar, sticker with its messenger version, a set of eight, a cover and a wide scene.
    for shown in ("WEBP 768x768 RGB", "WEBP 768x1152 RGBA", "WEBP 512x512 RGBA", "8 stickers", "WEBP 1024x1024 RGB"):
        assert shown in out, out
    assert "WEBP 1216x832 RGB" in out, out
    # Each job's progress bar, drawn from its WebSocket stream, a line per stage off a terminal.
    assert "] 100%  done" in out and "done 8/8 stickers" in out, out
    assert "stopping the dev stack" in out
    # Nothing keeps listening once it has stopped.
    for port in ports.values():
        try:
            localstack.port_open(port)()
        except OSError:
            continue
        raise AssertionError(f"port {port} still open after the stack stopped")


def _children(parent: int) -> dict[int, str]:
    """The command lines of `parent`'s child processes, by pid (from /proc)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_dev_stack_starts_a_killed_gpu_worker_again_and_keeps_running(tmp_path: Path) -> None:
    args, _, env_free = dev_stack(tmp_path)
    stack = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env_free)
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stack.stdout or ():
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()

    def until(words: str, within: float = 120) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                if words in lines.get(timeout=1):
                    return
        raise AssertionError(f"never printed {words!r}")

    try:
        until("Press Ctrl-C")
        [gpu_worker] = [pid for pid, cmd in _children(stack.pid).items() if "-m worker_gpu" in cmd]
        os.kill(gpu_worker, signal.SIGKILL)
        until("worker-gpu exited (code -9); starting it again in 3 s")
        until("worker-gpu started again")
        assert stack.poll() is None, "the stack keeps running"
        [again] = [pid for pid, cmd in _children(stack.pid).items() if "-m worker_gpu" in cmd]
        assert again != gpu_worker
    finally:
        stack.send_signal(signal.SIGINT)
        assert stack.wait(60) == 0
