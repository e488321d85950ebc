"""The `comfyloom` command: the dev stack, the demo, each process of the system on its own, and API keys."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from comfyloom.dev.stack import DevPorts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="comfyloom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="start the whole stack on 127.0.0.1 (Ctrl-C stops it)")
    dev.add_argument("--demo", action="store_true", help="generate a demo avatar once the stack is up")
    dev.add_argument("--exit-after-demo", action="store_true", help="stop the stack when the demo ends")
    dev.add_argument("--render-seconds", type=float, default=1.0, help="simulated render time (default 1.0)")
    dev.add_argument("--data-dir", type=Path, default=Path(".comfyloom"), help="logs and local data")
    defaults = DevPorts()
    for name in ("api", "temporal", "temporal_ui", "s3", "comfyui"):
        dev.add_argument(f"--{name.replace('_', '-')}-port", type=int, default=getattr(defaults, name))

    demo = sub.add_parser("demo", help="create a character and generate every kind of image through a running API")
    demo.add_argument("--api", default=os.environ.get("API_PUBLIC_URL", "http://127.0.0.1:8000"))
    demo.add_argument(
        "--key", default=os.environ.get("COMFYLOOM_API_KEY"), help="an API key (default: $COMFYLOOM_API_KEY)"
    )

    api = sub.add_parser("api", help="run the HTTP API (uvicorn)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    sub.add_parser("worker-cpu", help="run the cloud worker (workflows + CPU activities)")
    gpu = sub.add_parser("worker-gpu", help="run the GPU worker beside ComfyUI")
    gpu.add_argument(
        "--check", action="store_true", help="check Temporal, ComfyUI and storage from this machine, then exit"
    )
    sub.add_parser("temporal-setup", help="register comfyloom's search attributes in the namespace (safe to run again)")
    sim = sub.add_parser("simulator", help="run the ComfyUI simulator")
    sim.add_argument("--port", type=int, default=8188)
    sim.add_argument("--render-seconds", type=float, default=1.0)

    from comfyloom.dev import admin

    admin.add_commands(sub)

    args = parser.parse_args(argv)
    if args.command in ("keys", "credits"):
        sys.exit(admin.run(args))
    elif args.command == "dev":
        from comfyloom.dev import stack

        ports = DevPorts(args.api_port, args.temporal_port, args.temporal_ui_port, args.s3_port, args.comfyui_port)
        sys.exit(
            stack.run(
                ports,
                data_dir=args.data_dir.resolve(),
                render_seconds=args.render_seconds,
                demo=args.demo or args.exit_after_demo,
                exit_after_demo=args.exit_after_demo,
            )
        )
    elif args.command == "demo":
        from comfyloom.dev.demo import run_demo

        if not args.key:
            parser.error("demo needs an API key: --key or COMFYLOOM_API_KEY (comfyloom keys create --user ID)")
        sys.exit(run_demo(args.api, api_key=args.key))
    elif args.command == "api":
        import uvicorn

        from comfyloom.logs import configure_logging
        from comfyloom.settings import get_settings

        configure_logging("api", get_settings().log_format)
        uvicorn.run("api.main:create_app", factory=True, host=args.host, port=args.port, log_config=None)
    elif args.command == "worker-cpu":
        from worker_cpu.__main__ import main as cpu_main

        cpu_main()
    elif args.command == "worker-gpu":
        from worker_gpu.__main__ import check
        from worker_gpu.__main__ import main as gpu_main

        sys.exit(check()) if args.check else gpu_main()
    elif args.command == "temporal-setup":
        import asyncio

        from comfyloom.logs import configure_logging
        from comfyloom.settings import get_settings
        from comfyloom.temporal import setup_namespace

        configure_logging("temporal-setup", get_settings().log_format)
        asyncio.run(setup_namespace(get_settings()))
    elif args.command == "simulator":
        from comfyloom.dev.simulator import main as sim_main

        sim_main(["--port", str(args.port), "--render-seconds", str(args.render_seconds)])


if __name__ == "__main__":
    main()
