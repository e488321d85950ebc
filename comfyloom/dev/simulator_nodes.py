"""The node classes the simulator knows, in `/object_info` format, and what each one computes.

Specs follow ComfyUI's own definitions (nodes.py) for the built-in nodes our templates use.
"""

from __future__ import annotations

from typing import Any

SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "lcm"]
SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta"]
MAX_RESOLUTION = 16384


def _int(default: int, lo: int, hi: int, step: int = 1) -> list[Any]:
    return ["INT", {"default": default, "min": lo, "max": hi, "step": step}]


def _combo(options: list[str]) -> list[Any]:
    """A list input in `/object_info`'s newer form; the older one is `[options, {...}]`."""
    return ["COMBO", {"options": options, "multiselect": False}]


def _float(default: float, lo: float, hi: float, step: float = 0.01) -> list[Any]:
    return ["FLOAT", {"default": default, "min": lo, "max": hi, "step": step}]


# Custom nodes our templates may use (design document: ComfyUI-Easy-Use, ComfyUI-Impact-Pack),
# with the inputs those packs declare.
REMBG_MODES = ["RMBG-2.0", "RMBG-1.4", "Inspyrenet", "BEN2"]
BBOX_MODELS = ["bbox/face_yolov8m.pt", "bbox/hand_yolov8s.pt"]
CUSTOM_NODES = {"easy imageRemBg", "UltralyticsDetectorProvider", "FaceDetailer"}


def object_info(checkpoints: list[str], loras: list[str], *, custom_nodes: bool = True) -> dict[str, Any]:
    """Every node the simulator knows; without `custom_nodes`, a bare ComfyUI's built-in ones only."""
    # KSampler's sampling inputs, which FaceDetailer declares the same way for its own pass.
    sampling: dict[str, Any] = {
        "seed": _int(0, 0, 0xFFFFFFFFFFFFFFFF),
        "steps": _int(20, 1, 10000),
        "cfg": _float(8.0, 0.0, 100.0, 0.1),
        "sampler_name": [SAMPLERS],
        "scheduler": [SCHEDULERS],
    }
    specs: dict[str, tuple[dict[str, Any], list[str], bool, str]] = {
        "CheckpointLoaderSimple": (
            {"ckpt_name": [checkpoints]},
            ["MODEL", "CLIP", "VAE"],
            False,
            "loaders",
        ),
        "LoraLoader": (
            {
                "model": ["MODEL"],
                "clip": ["CLIP"],
                "lora_name": [loras],
                "strength_model": _float(1.0, -100.0, 100.0),
                "strength_clip": _float(1.0, -100.0, 100.0),
            },
            ["MODEL", "CLIP"],
            False,
            "loaders",
        ),
        "CLIPTextEncode": (
            {"text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP"]},
            ["CONDITIONING"],
            False,
            "conditioning",
        ),
        "EmptyLatentImage": (
            {
                "width": _int(512, 16, MAX_RESOLUTION, 8),
                "height": _int(512, 16, MAX_RESOLUTION, 8),
                "batch_size": _int(1, 1, 4096),
            },
            ["LATENT"],
            False,
            "latent",
        ),
        "KSampler": (
            {
                "model": ["MODEL"],
                **sampling,
                "positive": ["CONDITIONING"],
                "negative": ["CONDITIONING"],
                "latent_image": ["LATENT"],
                "denoise": _float(1.0, 0.0, 1.0),
            },
            ["LATENT"],
            False,
            "sampling",
        ),
        "VAEDecode": ({"samples": ["LATENT"], "vae": ["VAE"]}, ["IMAGE"], False, "latent"),
        "SaveImage": (
            {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
            [],
            True,
            "image",
        ),
        "PreviewImage": ({"images": ["IMAGE"]}, [], True, "image"),
        "easy imageRemBg": (
            {
                "images": ["IMAGE"],
                "rem_mode": [REMBG_MODES],
                "image_output": [["Hide", "Preview", "Save", "Hide/Save"], {"default": "Preview"}],
                "save_prefix": ["STRING", {"default": "ComfyUI"}],
            },
            ["IMAGE", "MASK"],
            True,
            "EasyUse/Image",
        ),
        "UltralyticsDetectorProvider": (
            # Described as current ComfyUI describes 212 of its inputs (e.g. UpscaleModelLoader.model_name).
            {"model_name": _combo(BBOX_MODELS)},
            ["BBOX_DETECTOR", "SEGM_DETECTOR"],
            False,
            "ImpactPack",
        ),
        "FaceDetailer": (
            {
                "image": ["IMAGE"],
                "model": ["MODEL"],
                "clip": ["CLIP"],
                "vae": ["VAE"],
                "guide_size": _float(512, 64, MAX_RESOLUTION, 8),
                "guide_size_for": ["BOOLEAN", {"default": True}],
                "max_size": _float(1024, 64, MAX_RESOLUTION, 8),
                **sampling,
                "positive": ["CONDITIONING"],
                "negative": ["CONDITIONING"],
                "denoise": _float(0.5, 0.0001, 1.0),
                "feather": _int(5, 0, 100),
                "noise_mask": ["BOOLEAN", {"default": True}],
                "force_inpaint": ["BOOLEAN", {"default": True}],
                "bbox_threshold": _float(0.5, 0.0, 1.0),
                "bbox_dilation": _int(10, -512, 512),
                "bbox_crop_factor": _float(3.0, 1.0, 10.0, 0.1),
                "drop_size": _int(10, 1, MAX_RESOLUTION),
                "wildcard": ["STRING", {"multiline": True}],
                "cycle": _int(1, 1, 10),
                "bbox_detector": ["BBOX_DETECTOR"],
            },
            ["IMAGE", "IMAGE", "IMAGE", "MASK", "DETAILER_PIPE", "IMAGE"],
            False,
            "ImpactPack/Simple",
        ),
    }
    info: dict[str, Any] = {}
    for name, (required, outputs, is_output, category) in specs.items():
        if name in CUSTOM_NODES and not custom_nodes:
            continue
        info[name] = {
            "input": {"required": required, "optional": {}},
            "input_order": {"required": list(required), "optional": []},
            "output": outputs,
            "output_is_list": [False] * len(outputs),
            "output_name": outputs,
            "name": name,
            "display_name": name,
            "description": "",
            "python_module": "nodes",
            "category": category,
            "output_node": is_output,
        }
    return info
