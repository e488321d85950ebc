from __future__ import annotations

import asyncio
import io
import uuid

import pytest
from PIL import Image

from activities.comfy import render_graph
from comfy_templates import RenderParams, Template, UnknownTemplate, load_template, template_for, template_names
from comfyloom.comfyui.client import ComfyClient, output_images
from comfyloom.comfyui.validation import validate_prompt
from comfyloom.contracts.domain import ImageKind, Lora
from comfyloom.contracts.render import RenderRequest
from comfyloom.imaging import chroma
from comfyloom.imaging.checks import check_image
from comfyloom.settings import Settings
from devstack.catalogue import object_info
from tests.helpers.parts import LocalParts

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
    assert graph["9"] == {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}
    assert all("_meta" not in node for node in graph.values())
    assert validate_prompt(graph, object_info([PARAMS.checkpoint], [])).outputs == template.manifest.outputs


def test_rendering_never_changes_the_template() -> None:
    template = load_template("avatar")
    before = template.sha256
    template.render(PARAMS)
    assert template.graph["3"]["inputs"]["seed"] == 0 and template.sha256 == before


def test_a_template_without_checkpoint_or_filename_prefix_inputs_still_renders() -> None:
    avatar = load_template("avatar")
    manifest = avatar.manifest.model_copy(
        update={"inputs": {k: v for k, v in avatar.manifest.inputs.items() if k != "checkpoint"}}
    )
    graph = Template("no-checkpoint", manifest, avatar.graph).render(PARAMS)
    assert graph["4"]["inputs"]["ckpt_name"] == avatar.graph["4"]["inputs"]["ckpt_name"]
    assert Template("no-checkpoint", manifest, avatar.graph).input_value(graph, "checkpoint") is None


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
    assert validate_prompt(graph, info).outputs == ["9"]


@pytest.mark.parametrize("name", template_names())
async def test_every_template_runs_on_the_simulator_with_its_background(name: str, local_parts: LocalParts) -> None:
    """Each graph passes ComfyUI's validation, and its output has the background its manifest promises."""
    template = load_template(name)
    width, height = template.manifest.size
    graph = template.render(
        RenderParams(
            positive="1girl, (green background:1.3)" if template.manifest.background == "chroma" else "1girl",
            negative="lowres",
            seed=3,
            width=width,
            height=height,
            checkpoint="waiNSFWIllustrious_v130.safetensors",
            filename_prefix=f"test/{name}",
        )
    )
    client = ComfyClient(local_parts.comfyui_url, "templates")
    try:
        prompt_id = str(uuid.uuid4())
        await client.queue_prompt(graph, prompt_id)
        entry = None
        for _ in range(200):
            if entry := await client.history(prompt_id):
                break
            await asyncio.sleep(0.1)
        assert entry, "the prompt did not finish within 20 s"
        [image] = output_images(entry)
        assert image.node_id in template.manifest.outputs
        assert image.type == "temp", "nothing stays in ComfyUI's output folder"
        with Image.open(io.BytesIO(await client.view(image))) as img:
            assert img.size == (width, height)
            match template.manifest.background:
                case "chroma":
                    assert chroma.border_colour(img) == (0, 255, 0)
                case "transparent":
                    assert img.mode == "RGBA" and img.getpixel((0, 0))[3] == 0  # type: ignore[index]
                case "opaque":
                    assert img.mode == "RGB"
            check_image(img, alpha=template.manifest.background == "transparent")
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("removal", "face_detail", "sticker", "cover"),
    [
        ("chroma", True, ("sticker", "chroma"), "cover"),
        ("rmbg", False, ("sticker_rmbg", "transparent"), "cover_plain"),
    ],
)
def test_settings_pick_the_sticker_and_cover_templates(
    removal: str, face_detail: bool, sticker: tuple[str, str], cover: str
) -> None:
    settings = Settings(_env_file=None, sticker_background_removal=removal, cover_face_detail=face_detail)
    chosen = template_for(ImageKind.sticker, settings)
    assert (chosen.name, chosen.manifest.background) == sticker
    assert template_for(ImageKind.cover, settings).name == cover
    scene = template_for(ImageKind.scene, settings).manifest
    assert scene.allowed_sizes[0] == (1024, 1024) and (1216, 832) in scene.allowed_sizes
    assert all(abs(w * h - 1024 * 1024) / (1024 * 1024) < 0.07 for w, h in scene.allowed_sizes)


LORAS = [Lora(name=f"lora_{i}.safetensors", strength_model=0.7, strength_clip=0.5) for i in range(3)]
# The real ComfyUI 0.3.64 with the design document's node packs, as recorded (shared/comfyui-protocol).
RECORDED = object_info([PARAMS.checkpoint], [lora.name for lora in LORAS])
# Every setting that picks a template: each kind's template under each of them.
OPTIONS = [
    {"sticker_background_removal": removal, "cover_face_detail": face}
    for removal in ("chroma", "rmbg")
    for face in (True, False)
]
CASES = sorted(
    {
        (template_for(kind, Settings(_env_file=None, **option)).name, size, count)  # type: ignore[arg-type]
        for kind in ImageKind
        for option in OPTIONS
        for size in template_for(kind, Settings(_env_file=None, **option)).manifest.allowed_sizes  # type: ignore[arg-type]
        for count in (0, 1, 3)
    }
)


def test_the_cases_cover_every_template_in_every_size() -> None:
    assert {name for name, _, _ in CASES} == set(template_names())
    assert {(name, size) for name, size, _ in CASES} >= {("scene", s) for s in load_template("scene").manifest.sizes}


@pytest.mark.parametrize(("name", "size", "loras"), CASES)
def test_every_template_as_the_worker_renders_it_passes_the_real_comfyuis_validation(
    name: str, size: tuple[int, int], loras: int
) -> None:
    request = RenderRequest(
        workflow_id="avatar-0b6d",
        step="render-1",
        template=name,
        positive="1girl, blue hair",
        negative="lowres",
        seed=2**40,
        width=size[0],
        height=size[1],
        loras=LORAS[:loras],
    )
    verdict = validate_prompt(render_graph(request, PARAMS.checkpoint), RECORDED)
    assert verdict.ok, verdict.body
    assert verdict.node_errors == {} and set(load_template(name).manifest.outputs) <= set(verdict.outputs)


def test_the_cover_template_before_the_fix_is_refused_as_the_real_comfyui_refused_it() -> None:
    """Without the six sam_* inputs Impact-Pack 7.10 requires, every cover failed on a real GPU machine."""
    graph = render_graph(
        RenderRequest(
            workflow_id="cover-1",
            step="render-1",
            template="cover",
            positive="a",
            negative="b",
            seed=1,
            width=896,
            height=1152,
        ),
        PARAMS.checkpoint,
    )
    for name in [n for n in graph["12"]["inputs"] if n.startswith("sam_")]:
        del graph["12"]["inputs"][name]
    verdict = validate_prompt(graph, RECORDED)
    assert verdict.error is not None and verdict.error["type"] == "prompt_outputs_failed_validation"
    assert [(e["type"], e["details"]) for e in verdict.node_errors["12"]["errors"]] == [
        ("required_input_missing", name)
        for name in (
            "sam_detection_hint",
            "sam_dilation",
            "sam_threshold",
            "sam_bbox_expansion",
            "sam_mask_hint_threshold",
            "sam_mask_hint_use_negative",
        )
    ]


def test_every_input_the_cover_sets_for_faces_says_why() -> None:
    why = load_template("cover").graph["12"]["_meta"]["why"]
    assert {n for n in load_template("cover").graph["12"]["inputs"] if n.startswith("sam_")} <= set(why)
