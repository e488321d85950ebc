from __future__ import annotations

import pytest

from comfy_templates import RenderParams, UnknownTemplate, load_template
from comfyloom.comfyui.nodes import object_info
from comfyloom.comfyui.simulator import validate
from comfyloom.contracts import Lora

PARAMS = RenderParams(
    positive="1girl, blue hair",
    negative="lowres",
    seed=42,
    width=768,
    height=768,
    checkpoint="waiNSFWIllustrious_v130.safetensors",
    filename_prefix="comfyloom/job-1",
)


def test_avatar_template_renders_the_jobs_values_into_a_valid_graph() -> None:
    template = load_template("avatar")
    graph = template.render(PARAMS)
    assert graph["6"]["inputs"]["text"] == "1girl, blue hair"
    assert graph["7"]["inputs"]["text"] == "lowres"
    assert graph["3"]["inputs"]["seed"] == 42
    assert (graph["5"]["inputs"]["width"], graph["5"]["inputs"]["height"]) == (768, 768)
    assert graph["9"]["inputs"]["filename_prefix"] == "comfyloom/job-1"
    assert all("_meta" not in node for node in graph.values())
    assert validate(graph, object_info([PARAMS.checkpoint], [])) == template.manifest.outputs


def test_rendering_never_changes_the_template() -> None:
    template = load_template("avatar")
    before = template.sha256
    template.render(PARAMS)
    assert template.graph["3"]["inputs"]["seed"] == 0 and template.sha256 == before


def test_unknown_template_is_a_clear_error() -> None:
    with pytest.raises(UnknownTemplate, match="no ComfyUI template named 'selfie'"):
        load_template("selfie")


def test_loras_are_chained_after_the_checkpoint_and_feed_every_consumer() -> None:
    template = load_template("avatar")
    loras = [Lora(name="add_detail.safetensors", strength_model=0.8, strength_clip=0.6), Lora(name="style.safetensors")]
    graph = template.render(PARAMS, loras)
    first, second = (n for n, node in graph.items() if node["class_type"] == "LoraLoader")
    assert graph[first]["inputs"] | {"model": None, "clip": None} == {
        "lora_name": "add_detail.safetensors",
        "strength_model": 0.8,
        "strength_clip": 0.6,
        "model": None,
        "clip": None,
    }
    assert (graph[first]["inputs"]["model"], graph[first]["inputs"]["clip"]) == (["4", 0], ["4", 1])
    assert (graph[second]["inputs"]["model"], graph[second]["inputs"]["clip"]) == ([first, 0], [first, 1])
    assert graph["3"]["inputs"]["model"] == [second, 0]
    assert graph["6"]["inputs"]["clip"] == graph["7"]["inputs"]["clip"] == [second, 1]
    info = object_info([PARAMS.checkpoint], ["add_detail.safetensors", "style.safetensors"])
    assert validate(graph, info) == ["9"]
