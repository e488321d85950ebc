"""ComfyUI graphs for tests that talk to a ComfyUI directly."""

from __future__ import annotations

from typing import Any

from comfy_templates import RenderParams, load_template


def avatar_graph(seed: int = 1, checkpoint: str = "waiNSFWIllustrious_v130.safetensors") -> dict[str, Any]:
    return template_graph("avatar", seed, checkpoint, size=(768, 768))


def cover_graph() -> dict[str, Any]:
    return template_graph("cover", 1, "waiNSFWIllustrious_v130.safetensors", size=(896, 1152))


def template_graph(name: str, seed: int, checkpoint: str, *, size: tuple[int, int]) -> dict[str, Any]:
    return load_template(name).render(
        RenderParams(
            positive="1girl, blue hair",
            negative="lowres",
            seed=seed,
            width=size[0],
            height=size[1],
            checkpoint=checkpoint,
            filename_prefix=f"tests/{name}",
        )
    )
