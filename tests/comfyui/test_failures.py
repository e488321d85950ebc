"""A node that fails in ComfyUI reaches the user as a sentence to act on; ComfyUI's own words stay for operators."""

from __future__ import annotations

import pytest

from comfyloom.comfyui.failures import interrupted_sentence, operator_details, user_sentence


def failed(node_type: str, exception_type: str, message: str) -> dict[str, str]:
    return {"node_id": "3", "node_type": node_type, "exception_type": exception_type, "exception_message": message}


@pytest.mark.parametrize(
    ("data", "says"),
    [
        # torch 2.5+ and older, as ComfyUI reports them
        (
            failed("KSampler", "torch.OutOfMemoryError", "CUDA out of memory. Tried to allocate 2.00 GiB"),
            "ran out of memory",
        ),
        (
            failed("VAEDecode", "torch.cuda.OutOfMemoryError", "Allocation on device 0 would exceed"),
            "ran out of memory",
        ),
        # an empty or truncated model file, as safetensors and torch.load report it
        (
            failed(
                "CheckpointLoaderSimple",
                "safetensors_rust.SafetensorError",
                "Error while deserializing header: HeaderTooSmall",
            ),
            "a model file that node 3 (CheckpointLoaderSimple) loads is missing or unreadable",
        ),
        (
            failed("UltralyticsDetectorProvider", "_pickle.UnpicklingError", "invalid load key, '\\x00'."),
            "missing or unreadable",
        ),
        (failed("LoraLoader", "FileNotFoundError", "[Errno 2] No such file or directory"), "missing or unreadable"),
        (
            failed("CheckpointLoaderSimple", "RuntimeError", "ERROR: Could not detect model type of: x.safetensors"),
            "missing or unreadable",
        ),
        # a pack whose Python dependencies did not install
        (
            failed("FaceDetailer", "ModuleNotFoundError", "No module named 'ultralytics'"),
            "install the pack's requirements",
        ),
        (
            failed("KSampler", "RuntimeError", "mat1 and mat2 shapes cannot be multiplied"),
            "node 3 (KSampler) raised RuntimeError",
        ),
    ],
)
def test_a_node_failure_is_said_in_words_a_user_can_act_on(data: dict[str, str], says: str) -> None:
    sentence = user_sentence(data)
    assert says in sentence and sentence.endswith("no credits were charged")
    assert data["exception_message"] not in sentence  # ComfyUI's text, paths and all, is for operators
    assert operator_details(data)["exception_message"] == data["exception_message"]


def test_an_interrupted_render_says_so() -> None:
    sentence = interrupted_sentence("3")
    assert "stopped in ComfyUI at node 3" in sentence and sentence.endswith("no credits were charged")
