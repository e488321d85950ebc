"""The `comfyloom` command: each production process on its own, the namespace's setup, API keys and credits."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="comfyloom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    api = sub.add_parser("api", help="run the HTTP API (uvicorn)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    sub.add_parser("worker-cpu", help="run the cloud worker (workflows + CPU activities)")
    gpu = sub.add_parser("worker-gpu", help="run the GPU worker beside ComfyUI")
    gpu.add_argument(
        "--check", action="store_true", help="check Temporal, ComfyUI and storage from this machine, then exit"
    )
    sub.add_parser("temporal-setup", help="register comfyloom's search attributes in the namespace (safe to run again)")
    from cli import admin

    admin.add_commands(sub)

    args = parser.parse_args(argv)
    if args.command in ("keys", "credits"):
        sys.exit(admin.run(args))
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


if __name__ == "__main__":
    main()
