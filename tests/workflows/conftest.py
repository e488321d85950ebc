"""A ComfyUI simulator of a test's own, for tests that inject faults into it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from comfyloom.dev import localstack
from comfyloom.dev.simulator import SIMULATOR, SimConfig, Simulator, serve
from comfyloom.settings import Settings


@dataclass
class Rig:
    sim: Simulator
    settings: Settings


@contextlib.asynccontextmanager
async def simulated(settings: Settings, config: SimConfig) -> AsyncIterator[Rig]:
    port = localstack.free_port()
    runner = await serve(config, "127.0.0.1", port)
    # A worker that stops here stops at once, as if killed: what it leaves behind is under test.
    rig_settings = settings.model_copy(update={"comfyui_url": f"http://127.0.0.1:{port}", "shutdown_grace_seconds": 0})
    try:
        yield Rig(runner.app[SIMULATOR], rig_settings)
    finally:
        await runner.cleanup()


@pytest.fixture
async def rig(settings: Settings) -> AsyncIterator[Rig]:
    async with simulated(settings, SimConfig(render_seconds=0.4)) as rig:
        yield rig


@pytest.fixture
async def legacy_rig(settings: Settings) -> AsyncIterator[Rig]:
    """A simulator acting as ComfyUI 0.3.44, which ignores the prompt ids clients choose."""
    async with simulated(settings, SimConfig(render_seconds=0.4, legacy=True)) as rig:
        yield rig
