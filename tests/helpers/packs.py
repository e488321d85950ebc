"""A ComfyUI whose node packs differ from the ones the templates are written for, as a user's may."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from comfyloom.comfyui.client import ComfyClient
from devstack import localstack
from devstack.catalogue import InputChanges
from devstack.simulator import SimConfig, serve

# Impact-Pack as a later release might ship it: FaceDetailer requires one input more than the cover sets.
NEWER_IMPACT_PACK: InputChanges = {"FaceDetailer": {"sam_new_knob": ["INT", {"default": 0, "min": 0, "max": 8}]}}
# What readiness says of the cover template on that ComfyUI.
COVER_REFUSED = (
    "cover: FaceDetailer (node 12) needs input sam_new_knob, which the template does not set:"
    " ComfyUI-Impact-Pack (7.10.x supported) is newer or older than the template"
)


@contextlib.asynccontextmanager
async def simulated_comfyui(config: SimConfig) -> AsyncIterator[ComfyClient]:
    """A simulator of this config on a port of its own, and a client of it."""
    port = localstack.free_port()
    runner = await serve(config, "127.0.0.1", port)
    client = ComfyClient(f"http://127.0.0.1:{port}", "check")
    try:
        yield client
    finally:
        await client.aclose()
        await runner.cleanup()
