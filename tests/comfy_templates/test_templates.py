from __future__ import annotations

import pytest

from comfy_templates import RenderParams, UnknownTemplate, load_template
from comfyloom.comfyui.nodes import object_info
from comfyloom.comfyui.simulator import validate

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
