"""`python -m devstack up`: the whole system on 127.0.0.1, each part a real process, stopped cleanly on Ctrl-C.

Parts already given by the environment (DATABASE_URL, TEMPORAL_ADDRESS, S3_ENDPOINT_URL, COMFYUI_URL)
are used as they are; the others are started locally. Local parts keep nothing between runs.

The processes a user may want to kill to see what happens (the workers, the API, the ComfyUI simulator)
are started again when they exit, after a pause that grows if they keep dying; the stack stops only when
a part holding state (Temporal, storage) dies.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from comfyloom import db
from comfyloom.db import api_keys, credits
from devstack import localstack
from devstack.localstack import HOST, Service

DEMO_USER = "demo-user"
DEMO_CREDITS = 1000


# A restarted process waits this long first, doubled each time it dies within RESTART_STABLE seconds of
# starting, up to RESTART_MAX.
RESTART_FIRST = 3.0
RESTART_STABLE = 30.0
RESTART_MAX = 60.0


@dataclass
class Respawn:
    """How to start a process again, and when it next may be."""

    log_name: str
    args: list[str]
    started: float
    delay: float = RESTART_FIRST
    due: float | None = None
    restarts: int = 0


@dataclass
class DevPorts:
    api: int = 8000
    temporal: int = 7233
    temporal_ui: int = 8233
    s3: int = 9000
    comfyui: int = 8188


def _banner(lines: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in lines)


class DevStack:
    def __init__(self, ports: DevPorts, *, data_dir: Path, render_seconds: float) -> None:
        self.ports = ports
        self.data_dir = data_dir
        self.render_seconds = render_seconds
        self.services: list[Service] = []
        self.env: dict[str, str] = {}
        self.urls: list[tuple[str, str]] = []
        self.demo_key = ""
        self.operator_key = ""
        self.logs = data_dir / "logs"
        self.respawns: dict[str, Respawn] = {}

    def _spawn(self, name: str, log_name: str, args: list[str]) -> Service:
        proc, log = localstack.spawn(log_name, args, log_dir=self.logs, env=self.env)
        self.respawns[name] = Respawn(log_name, args, started=time.monotonic())
        return self._add(Service(name, "", proc, log=log))

    def _add(self, service: Service) -> Service:
        self.services.append(service)
        return service

    def start(self) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        logs = self.logs
        logs.mkdir(parents=True)
        env = os.environ

        database_url = (
            env.get("DATABASE_URL") or self._add(localstack.start_postgres(self.data_dir / "pgdata", keep=False)).url
        )
        self.urls.append(("PostgreSQL", "DATABASE_URL" if "DATABASE_URL" in env else f"embedded ({database_url})"))

        if env.get("TEMPORAL_ADDRESS"):
            temporal = env["TEMPORAL_ADDRESS"]
        else:
            temporal = self._add(
                localstack.start_temporal(
                    port=self.ports.temporal, ui_port=self.ports.temporal_ui, db_file=None, log_dir=logs
                )
            ).url
            self.urls.append(("Temporal Web UI", f"http://{HOST}:{self.ports.temporal_ui}"))
        self.urls.append(("Temporal", temporal))
        from comfyloom.settings import Settings  # imported here, so `comfyloom --help` does not load temporalio
        from comfyloom.temporal import setup_namespace

        registered = asyncio.run(setup_namespace(Settings(_env_file=None, temporal_address=temporal)))
        if registered:
            self.urls.append(("Search attributes", ", ".join(registered)))

        s3 = env.get("S3_ENDPOINT_URL") or self._add(localstack.start_moto(port=self.ports.s3, log_dir=logs)).url
        self.urls.append(("Object storage", s3))

        comfyui = env.get("COMFYUI_URL")
        if not comfyui:
            comfyui = self._add(
                localstack.start_simulator(port=self.ports.comfyui, render_seconds=self.render_seconds, log_dir=logs)
            ).url
            args = localstack.simulator_args(port=self.ports.comfyui, render_seconds=self.render_seconds)
            self.respawns["comfyui"] = Respawn("comfyui-simulator", args, started=time.monotonic())
        self.urls.append(("ComfyUI", comfyui if "COMFYUI_URL" in env else f"{comfyui} (simulator)"))

        api_url = f"http://{HOST}:{self.ports.api}"
        self.env = {
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": temporal,
            "S3_ENDPOINT_URL": s3,
            "COMFYUI_URL": comfyui,
            "API_PUBLIC_URL": api_url,
            # A webhook receiver on this machine (the TypeScript example's) is the dev stack's usual one.
            "WEBHOOK_ALLOWED_NETWORKS": os.environ.get("WEBHOOK_ALLOWED_NETWORKS", '["127.0.0.0/8"]'),
        }
        py = sys.executable
        for name, args in [
            ("worker-cpu", [py, "-m", "worker_cpu"]),
            ("worker-gpu", [py, "-m", "worker_gpu"]),
            ("api", [py, "-m", "cli", "api", "--host", HOST, "--port", str(self.ports.api)]),
        ]:
            self._spawn(name, name, args)
        api = self.services[-1]
        localstack.wait_until(localstack.http_ok(f"{api_url}/api/v1/image-generation/health"), "API", 60, api.proc)
        self.urls[:0] = [("API", api_url), ("API docs", f"{api_url}/docs")]
        self.demo_key, self.operator_key = asyncio.run(self._issue_keys(database_url))
        self.urls += [
            ("Demo user key", f"{self.demo_key}  (Authorization: Bearer …)"),
            ("Operator key", self.operator_key),
        ]
        self.urls.append(("Logs", str(logs)))

    @staticmethod
    async def _issue_keys(database_url: str) -> tuple[str, str]:
        """A key for the demo user (with credits) and one for an operator, so the stack can be used at once."""
        pool = await db.connect(database_url, max_size=1)
        try:
            _, demo = await api_keys.create(pool, user_id=DEMO_USER, name="dev stack demo")
            async with pool.acquire() as conn:
                await credits.grant(conn, DEMO_USER, DEMO_CREDITS, "dev stack")
            _, admin = await api_keys.create(pool, user_id="operator", name="dev stack operator", admin=True)
        finally:
            await pool.close()
        return demo, admin

    def banner(self) -> str:
        return "comfyloom's dev stack is up:\n" + _banner(self.urls)

    def stop(self) -> None:
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception as e:  # keep stopping the others
                print(f"could not stop {service.name}: {e!r}", file=sys.stderr)
        self.services.clear()

    def supervise(self) -> list[str]:
        """Start again what exited and may be restarted; the names of parts that died and may not."""
        fatal = []
        now = time.monotonic()
        for service in self.services:
            if service.proc is None or service.proc.poll() is None:
                continue
            respawn = self.respawns.get(service.name)
            if respawn is None:
                fatal.append(service.name)
            elif respawn.due is None:
                again_soon = respawn.restarts and now - respawn.started < RESTART_STABLE  # it keeps dying
                respawn.delay = min(respawn.delay * 2, RESTART_MAX) if again_soon else RESTART_FIRST
                respawn.due = now + respawn.delay
                print(
                    f"{service.name} exited (code {service.proc.returncode}); starting it again in"
                    f" {respawn.delay:.0f} s (log: {self.logs / respawn.log_name}.log)",
                    file=sys.stderr,
                    flush=True,
                )
            elif now >= respawn.due:
                if service.log is not None:
                    service.log.close()
                service.proc, service.log = localstack.spawn(
                    respawn.log_name, respawn.args, log_dir=self.logs, env=self.env
                )
                respawn.started, respawn.due, respawn.restarts = now, None, respawn.restarts + 1
                print(f"{service.name} started again (pid {service.proc.pid})", file=sys.stderr, flush=True)
        return fatal


def run(ports: DevPorts, *, data_dir: Path, render_seconds: float, demo: bool, exit_after_demo: bool) -> int:
    from devstack.demo import run_demo

    stack = DevStack(ports, data_dir=data_dir, render_seconds=render_seconds)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        stack.start()
        print(stack.banner(), flush=True)
        if demo:
            code = run_demo(f"http://{HOST}:{ports.api}", api_key=stack.demo_key)
            if exit_after_demo:
                return code
        print("Press Ctrl-C to stop.", flush=True)
        while True:  # Ctrl-C or SIGTERM ends this loop by raising KeyboardInterrupt
            time.sleep(0.5)
            if dead := stack.supervise():
                print(f"stopping: {', '.join(dead)} exited (see {data_dir / 'logs'})", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        return 0
    finally:
        print("stopping the dev stack...", flush=True)
        stack.stop()
