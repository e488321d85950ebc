"""`python -m devstack`: the dev stack (`up`), the demo against a running API, and the ComfyUI simulator."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from devstack.stack import DevPorts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the whole stack on 127.0.0.1 (Ctrl-C stops it)")
    up.add_argument("--demo", action="store_true", help="make one image of every kind once the stack is up")
    up.add_argument("--exit-after-demo", action="store_true", help="stop the stack when the demo ends")
    up.add_argument("--render-seconds", type=float, default=1.0, help="simulated render time (default 1.0)")
    up.add_argument("--data-dir", type=Path, default=Path(".comfyloom"), help="logs and local data")
    defaults = DevPorts()
    for name in ("api", "temporal", "temporal_ui", "s3", "comfyui"):
        up.add_argument(f"--{name.replace('_', '-')}-port", type=int, default=getattr(defaults, name))

    demo = sub.add_parser("demo", help="create a character and generate every kind of image through a running API")
    demo.add_argument("--api", default=os.environ.get("API_PUBLIC_URL", "http://127.0.0.1:8000"))
    demo.add_argument(
        "--key", default=os.environ.get("COMFYLOOM_API_KEY"), help="an API key (default: $COMFYLOOM_API_KEY)"
    )

    sub.add_parser("simulator", help="run the ComfyUI simulator (its own flags: simulator --help)")

    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:
        from devstack.simulator import main as sim_main

        return sim_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "up":
        from devstack import stack

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
        from devstack.demo import run_demo

        if not args.key:
            parser.error("demo needs an API key: --key or COMFYLOOM_API_KEY (comfyloom keys create --user ID)")
        sys.exit(run_demo(args.api, api_key=args.key))


if __name__ == "__main__":
    main()
