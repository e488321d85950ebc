"""The `comfyloom` command: each production process on its own, the namespace's setup, API keys and credits."""

from __future__ import annotations

import argparse
import sys

from comfyloom.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="comfyloom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    api = sub.add_parser("api", help="run the HTTP API (uvicorn)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    sub.add_parser("worker-cpu", help="run the cloud worker (workflows + CPU activities)")
    gpu = sub.add_parser("worker-gpu", help="run the GPU worker beside ComfyUI")
    gpu.add_argument("--check", action="store_true", help="check Temporal and ComfyUI from this machine, then exit")
    sub.add_parser("temporal-setup", help="register comfyloom's search attributes in the namespace (safe to run again)")
    from cli import admin

    admin.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from comfyloom.startup import StartupError, exit_with

    try:
        code = _run(args)
    except StartupError as e:  # one sentence naming the setting to fix, no traceback
        exit_with(f"comfyloom {args.command}: {e}")
    sys.exit(code)


def _run(args: argparse.Namespace) -> int:
    """Raises:
    StartupError: what keeps the command from starting.
    """
    from comfyloom.startup import load_settings

    if args.command in ("keys", "credits"):
        from cli import admin

        load_settings(uses_storage=False)
        return admin.run(args)
    if args.command == "worker-cpu":
        from worker_cpu.__main__ import main as cpu_main

        cpu_main()
    elif args.command == "worker-gpu":
        from worker_gpu.__main__ import check
        from worker_gpu.__main__ import main as gpu_main

        if args.check:
            return check()
        gpu_main()
    else:
        import asyncio

        from comfyloom.logs import configure_logging

        settings = load_settings(uses_storage=args.command == "api")
        configure_logging(args.command, settings.log_format)
        if args.command == "api":
            import uvicorn

            asyncio.run(_reach_database(settings))
            uvicorn.run("api.main:create_app", factory=True, host=args.host, port=args.port, log_config=None)
        else:
            asyncio.run(_setup_namespace(settings))
    return 0


async def _reach_database(settings: Settings) -> None:
    """The API's PostgreSQL, tried once before uvicorn starts: a wrong DATABASE_URL is one sentence, not the
    lifespan's traceback."""
    from comfyloom import db
    from comfyloom.startup import database_url, host_of, reaching

    url = database_url(settings, "API")
    async with reaching("PostgreSQL", host_of(url), "DATABASE_URL"):
        pool = await db.connect(url, min_size=1, max_size=1)
    await pool.close()


async def _setup_namespace(settings: Settings) -> None:
    from comfyloom.startup import reaching
    from comfyloom.temporal import setup_namespace

    async with reaching("Temporal", settings.temporal_address, "TEMPORAL_ADDRESS and its TLS settings"):
        await setup_namespace(settings)


if __name__ == "__main__":
    main()
