"""ComfyUI graphs for tests that talk to a ComfyUI directly."""

from __future__ import annotations

from typing import Any

from comfy_templates import RenderParams, load_template


def avatar_graph(seed: int = 1, checkpoint: str = "waiNSFWIllustrious_v130.safetensors") -> dict[str, Any]:
    return load_template("avatar").render(
        RenderParams(
            positive="1girl, blue hair",
            negative="lowres",
            seed=seed,
            width=768,
            height=768,
            checkpoint=checkpoint,
            filename_prefix="tests/sim",
        )
    )
