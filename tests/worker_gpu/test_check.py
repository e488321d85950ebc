"""`comfyloom worker-gpu --check`: the first command on a new GPU machine says what is missing, in words."""

from __future__ import annotations

import pytest

from comfyloom.settings import Settings
from devstack import localstack
from devstack.simulator import SimConfig
from tests.helpers.packs import COVER_REFUSED, NEWER_IMPACT_PACK, simulated_comfyui
from worker_gpu.__main__ import check_setup


async def test_a_machine_that_reaches_everything_is_ready(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await check_setup(settings.model_copy(update={"cover_face_detail": False})) == 0
    out = capsys.readouterr().out
    assert "ready: run `comfyloom worker-gpu`" in out
    assert "node packs: ComfyUI-Easy-Use (203 nodes), ComfyUI-Impact-Pack (186 nodes)," in out
    assert "OK    template cover_plain: ComfyUI accepts it" in out


async def test_a_template_the_users_comfyui_would_refuse_is_named_with_node_and_input(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with simulated_comfyui(SimConfig(node_inputs=NEWER_IMPACT_PACK)) as comfy:
        assert await check_setup(settings.model_copy(update={"comfyui_url": comfy.base_url})) == 1
    out = capsys.readouterr().out
    assert "FAIL  template cover: ComfyUI would refuse it (below)" in out
    assert "OK    template avatar: ComfyUI accepts it" in out
    assert f"FAIL  {COVER_REFUSED}" in out


async def test_each_unreachable_part_is_named_with_the_setting_to_fix(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"127.0.0.1:{localstack.free_port()}"
    broken = settings.model_copy(update={"comfyui_url": f"http://{nowhere}", "temporal_address": nowhere})
    assert await check_setup(broken) == 1
    out = capsys.readouterr().out
    assert f"FAIL  ComfyUI at http://{nowhere} does not answer" in out
    assert f"FAIL  Temporal at {nowhere} refused or did not answer (no connection): check TEMPORAL_ADDRESS" in out
    assert "tonic" not in out and "Traceback" not in out  # the transport's page of detail is not for people


async def test_the_check_asks_for_no_storage(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """The GPU machine holds no storage credential: nothing under S3_* is read, tried or needed."""
    nowhere = f"http://127.0.0.1:{localstack.free_port()}"
    no_storage = settings.model_copy(
        update={"s3_endpoint_url": nowhere, "s3_access_key_id": "", "comfyui_url": nowhere}
    )
    await check_setup(no_storage)
    out = capsys.readouterr().out
    assert "storage: none on this machine" in out and "FAIL  storage" not in out
