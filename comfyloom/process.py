"""How every long-running comfyloom process starts: one log format, a quiet exit on Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any


def run_service(name: str, serve: Callable[[], Coroutine[Any, Any, None]]) -> None:
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {name} %(levelname)s %(message)s")
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
