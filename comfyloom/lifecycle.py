"""How every long-running comfyloom process starts: its log format, and a graceful stop on SIGINT or SIGTERM.

`docker stop`, systemd and Ctrl-C all end a worker the same way: it stops polling, lets running
activities finish for `SHUTDOWN_GRACE_SECONDS`, and hands back what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from temporalio.worker import Worker

from comfyloom.logs import configure_logging
from comfyloom.startup import StartupError, exit_with, load_settings

log = logging.getLogger("comfyloom.lifecycle")


def run_service(
    name: str, serve: Callable[[asyncio.Event], Coroutine[Any, Any, None]], *, uses_storage: bool = True
) -> None:
    """Run `serve` until SIGINT or SIGTERM; a start-up failure is its one sentence on stderr, exit status 1.
    `uses_storage`: the process holds storage credentials (the GPU worker holds none)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except NotImplementedError:  # Windows: no loop signal handlers
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
        await serve(stop)

    try:
        configure_logging(name, load_settings(uses_storage=uses_storage).log_format)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
    except StartupError as e:
        exit_with(f"comfyloom {name}: {e}")


async def run_workers(workers: list[Worker], stop: asyncio.Event) -> None:
    """Polls until `stop` is set, or until a worker fails; then shuts every worker down, letting running
    activities finish within each worker's graceful_shutdown_timeout. A failed worker's error is raised."""
    running = [asyncio.create_task(worker.run()) for worker in workers]
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, *running], return_when=asyncio.FIRST_COMPLETED)
    if stop.is_set():
        log.info("stopping: running activities may finish first")
    await asyncio.gather(*(worker.shutdown() for worker in workers))
    stopped.cancel()
    await asyncio.gather(*running)
