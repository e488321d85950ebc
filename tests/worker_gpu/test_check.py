"""`comfyloom worker-gpu --check`: the first command on a new GPU machine says what is missing, in words."""

from __future__ import annotations

import pytest

from comfyloom.dev import localstack
from comfyloom.settings import Settings
from worker_gpu.__main__ import check_setup


@pytest.mark.usefixtures("store")  # the bucket exists, as it does in production
async def test_a_machine_that_reaches_everything_is_ready(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await check_setup(settings.model_copy(update={"cover_face_detail": False})) == 0
    assert "ready: run `comfyloom worker-gpu`" in capsys.readouterr().out


async def test_each_unreachable_part_is_named(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = f"127.0.0.1:{localstack.free_port()}"
    broken = settings.model_copy(
        update={
            "comfyui_url": f"http://{nowhere}",
            "s3_access_key_id": "not-a-user",
            "s3_endpoint_url": f"http://{nowhere}",
        }
    )
    assert await check_setup(broken) == 1
    out = capsys.readouterr().out
    assert f"FAIL  ComfyUI at http://{nowhere} does not answer" in out
    assert f"FAIL  storage: cannot write {settings.s3_bucket}/staging/_workers/" in out
