"""A ComfyUI simulator of a test's own, for tests that inject faults into it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from comfyloom.settings import Settings
from devstack.simulator import SimConfig
from tests.helpers.gpu import Rig, simulated


@pytest.fixture
async def rig(settings: Settings) -> AsyncIterator[Rig]:
    async with simulated(settings, SimConfig(render_seconds=0.4)) as rig:
        yield rig


@pytest.fixture
async def legacy_rig(settings: Settings) -> AsyncIterator[Rig]:
    """A simulator acting as ComfyUI 0.3.44, which ignores the prompt ids clients choose."""
    async with simulated(settings, SimConfig(render_seconds=0.4, legacy=True)) as rig:
        yield rig
