"""The node catalogue the simulator serves as `/object_info`: a real ComfyUI's, recorded, not our own idea of it.

`catalogues/object_info-0.3.64-packs.json` is `GET /object_info` of ComfyUI 0.3.64 with the design
document's node packs (Impact-Pack 7.10.6, Impact-Subpack 1.3.4, Easy-Use 1.3.6, rgthree-comfy,
ComfyUI_essentials): see shared/comfyui-protocol/README.md. Only its model lists change, to name the files the
simulator pretends to have; a test can also change a class's inputs, as another release of a pack does.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from comfyloom.comfyui.validation import pack_of

RECORDED = "object_info-0.3.64-packs.json"
# The stand-in model files present when the catalogue was recorded: each list naming them gets the
# simulator's own files instead.
RECORDED_CHECKPOINTS = {"waiNSFWIllustrious_v130.safetensors", "random_sd15.safetensors"}
RECORDED_LORAS = {"comfyloom_test_lora.safetensors"}

# Per class, inputs to add as required (a spec, as `/object_info` gives one) or, with None, to drop.
InputChanges = dict[str, dict[str, list[Any] | None]]


@cache
def _recorded(name: str) -> str:
    return resources.files("devstack.catalogues").joinpath(name).read_text()


def _swap(options: list[Any], recorded: set[str], ours: list[str]) -> list[Any]:
    """`options` with the recorded stand-in files replaced, where the first of them stood, by `ours`."""
    swapped: list[Any] = []
    placed = False
    for option in options:
        if not isinstance(option, str) or option not in recorded:
            swapped.append(option)
        elif not placed:
            swapped.extend(ours)
            placed = True
    return swapped


def object_info(
    checkpoints: list[str], loras: list[str], *, custom_nodes: bool = True, changes: InputChanges | None = None
) -> dict[str, Any]:
    """The recorded catalogue with these model files; without `custom_nodes`, a bare ComfyUI's classes."""
    info: dict[str, Any] = json.loads(_recorded(RECORDED))
    if not custom_nodes:
        info = {cls: node for cls, node in info.items() if pack_of(node) is None}

    def ours(options: list[Any]) -> list[Any]:
        return _swap(_swap(options, RECORDED_CHECKPOINTS, checkpoints), RECORDED_LORAS, loras)

    for node in info.values():
        for section in node["input"].values():
            for spec in section.values() if isinstance(section, dict) else ():
                if not isinstance(spec, list) or not spec:
                    continue
                if isinstance(spec[0], list):  # `[[...], {...}]`
                    spec[0] = ours(spec[0])
                elif spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1].get("options"), list):
                    spec[1]["options"] = ours(spec[1]["options"])
    for cls, inputs in (changes or {}).items():
        node = info[cls]
        required = node["input"].setdefault("required", {})
        order = node.setdefault("input_order", {}).setdefault("required", [])
        for input_name, spec in inputs.items():
            if spec is None:
                required.pop(input_name, None)
                if input_name in order:
                    order.remove(input_name)
            else:
                required[input_name] = copy.deepcopy(spec)
                order.append(input_name)
    return info
