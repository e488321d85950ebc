"""The GPU worker tells, in plain words, what its ComfyUI lacks; the API's health shows it."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client

from comfy_templates import Template, active_templates, load_template, template_names
from comfyloom.comfyui.client import ComfyClient, ComfyEvents
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack.simulator import SimConfig
from tests.helpers.packs import COVER_REFUSED, NEWER_IMPACT_PACK, simulated_comfyui
from tests.helpers.parts import LocalParts, running_gpu_worker
from worker_gpu.readiness import Capability, check_comfyui, report_forever, version_note

CHECKPOINT = "waiNSFWIllustrious_v130.safetensors"
EVERY_TEMPLATE = [load_template(name) for name in template_names()]


@pytest.fixture
async def bare_comfyui() -> AsyncIterator[ComfyClient]:
    """A fresh ComfyUI install: built-in nodes only, no Impact-Pack or Easy-Use."""
    async with simulated_comfyui(SimConfig(custom_nodes=False)) as client:
        yield client


@pytest.fixture
async def newer_pack_comfyui() -> AsyncIterator[ComfyClient]:
    async with simulated_comfyui(SimConfig(node_inputs=NEWER_IMPACT_PACK)) as client:
        yield client


async def test_a_template_comfyui_would_refuse_is_named_with_its_node_input_and_pack(
    newer_pack_comfyui: ComfyClient,
) -> None:
    report = await check_comfyui(newer_pack_comfyui, "w1", CHECKPOINT, EVERY_TEMPLATE)
    assert report.problems == [COVER_REFUSED]
    renders = {check.template: check.renders for check in report.templates}
    assert renders == {name: name != "cover" for name in template_names()}
    assert report.packs["ComfyUI-Impact-Pack"] > 100 and "ComfyUI-Easy-Use" in report.packs


async def test_a_complete_comfyui_has_no_problems(local_parts: LocalParts) -> None:
    client = ComfyClient(local_parts.comfyui_url, "check")
    report = await check_comfyui(client, "w1", CHECKPOINT, EVERY_TEMPLATE)
    await client.aclose()
    assert report.reachable and report.problems == []
    assert report.devices == ["cuda:0 comfyloom simulator"]


async def test_a_missing_checkpoint_is_named_with_what_is_installed(local_parts: LocalParts) -> None:
    client = ComfyClient(local_parts.comfyui_url, "check")
    report = await check_comfyui(client, "w1", "ponyDiffusion.safetensors", EVERY_TEMPLATE)
    await client.aclose()
    [problem] = report.problems
    assert "checkpoint 'ponyDiffusion.safetensors' (COMFYUI_CHECKPOINT), which avatar, cover, " in problem
    assert "waiNSFWIllustrious_v130.safetensors" in problem


async def test_an_unreachable_comfyui_is_reported() -> None:
    client = ComfyClient("http://127.0.0.1:9", "check")
    report = await check_comfyui(client, "w1", "x", EVERY_TEMPLATE)
    await client.aclose()
    assert not report.reachable and "does not answer" in report.problems[0]


async def test_a_bare_comfyui_is_only_a_problem_for_the_templates_this_deployment_uses(
    bare_comfyui: ComfyClient, settings: Settings
) -> None:
    face_detail = await check_comfyui(bare_comfyui, "w1", CHECKPOINT, active_templates(settings))
    assert face_detail.problems == [
        "template 'cover' needs node 'FaceDetailer', which this ComfyUI does not have (custom node missing?)",
        "template 'cover' needs node 'UltralyticsDetectorProvider', which this ComfyUI does not have"
        " (custom node missing?)",
    ]
    built_in_only = settings.model_copy(update={"cover_face_detail": False, "sticker_background_removal": "chroma"})
    assert [t.name for t in active_templates(built_in_only)] == ["avatar", "sticker", "cover_plain", "scene"]
    report = await check_comfyui(bare_comfyui, "w1", CHECKPOINT, active_templates(built_in_only))
    assert report.problems == []


async def test_the_checkpoint_is_asked_for_only_by_templates_that_load_it(local_parts: LocalParts) -> None:
    """A graph with its own fixed model (no checkpoint input in its manifest) does not need COMFYUI_CHECKPOINT."""
    avatar = load_template("avatar")
    inputs = {k: v for k, v in avatar.manifest.inputs.items() if k != "checkpoint"}
    fixed = Template("fixed-model", avatar.manifest.model_copy(update={"inputs": inputs}), avatar.graph)
    client = ComfyClient(local_parts.comfyui_url, "check")
    report = await check_comfyui(client, "w1", "ponyDiffusion.safetensors", [fixed])
    await client.aclose()
    assert report.problems == [] and report.templates[0].renders


async def test_a_model_file_a_template_names_but_comfyui_lacks_is_named(local_parts: LocalParts) -> None:
    """The detector's model list comes in `/object_info`'s newer form, `["COMBO", {"options": [...]}]`."""
    cover = load_template("cover")
    graph = copy.deepcopy(cover.graph)
    detector = next(n for n in graph.values() if n["class_type"] == "UltralyticsDetectorProvider")
    detector["inputs"]["model_name"] = "bbox/face_yolov9c.pt"
    client = ComfyClient(local_parts.comfyui_url, "check")
    report = await check_comfyui(client, "w1", CHECKPOINT, [Template("cover", cover.manifest, graph)])
    await client.aclose()
    [problem] = report.problems
    assert problem.startswith(
        "template 'cover' needs UltralyticsDetectorProvider.model_name = 'bbox/face_yolov9c.pt', which this"
        " ComfyUI does not offer (has: bbox/face_yolov8m.pt"
    )
    assert report.templates[0].missing_models == ["bbox/face_yolov9c.pt"]


@pytest.mark.usefixtures("cpu_worker")
async def test_health_shows_what_a_gpu_worker_is_missing(
    api: httpx.AsyncClient, client: Client, store: ObjectStore, settings: Settings
) -> None:
    missing = settings.model_copy(update={"comfyui_checkpoint": "not-installed.safetensors"})
    async with running_gpu_worker(client, missing):
        for _ in range(150):  # its report can come before Temporal lists it polling ("not polling Temporal")
            reports = (await api.get("/api/v1/image-generation/health")).json()["gpuWorkerReports"]
            mine = [r for r in reports if r["workerId"] == "test-gpu" and r["polling"] and r["checkedAt"]]
            if mine:
                break
            await asyncio.sleep(0.1)
    assert mine, reports
    assert "not-installed.safetensors" in mine[0]["problems"][0]


def test_an_untested_or_unsupported_comfyui_version_is_named_in_plain_words() -> None:
    assert version_note("0.3.64") is None and version_note("0.3.44") is None
    assert "untested" in str(version_note("0.3.70"))
    assert "unsupported" in str(version_note("0.3.10"))
    assert "no version we can read" in str(version_note(None))


async def test_a_worker_stopped_as_comfyuis_socket_connects_stops_its_report_loop(local_parts: LocalParts) -> None:
    """The report loop wakes when ComfyUI's WebSocket connects or drops. A stop landing in that same moment
    still ends it: Python 3.11's `asyncio.wait_for` dropped such a cancel, and the GPU worker's stop then
    waited for the loop forever."""
    client = ComfyClient(local_parts.comfyui_url, "stopping")
    events = ComfyEvents(client)
    capability = Capability()
    reporter = asyncio.create_task(report_forever(client, events, "stopping", CHECKPOINT, EVERY_TEMPLATE, capability))
    for _ in range(200):  # once its first report is in, it waits for a change
        if capability.report is not None:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the loop never made its first report")
    await asyncio.sleep(0.05)
    events.changed.set()
    await asyncio.sleep(0)  # the wait for a change is done ...
    reporter.cancel()  # ... and the stop comes before the loop goes on
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(reporter, 5)
    await client.aclose()
