"""A staged render becomes what is published: checked, keyed out where needed, WebP, and for stickers a 512 sticker.

The render is decoded once. Its WebPs are encoded on worker threads while the calling thread scores the very
images they encode (libwebp, Pillow's resampling and onnxruntime all release the GIL): on a 2-core CPU worker
the classifier costs no time of its own.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from comfyloom.contracts.domain import Background
from comfyloom.imaging import chroma, stickers, webp
from comfyloom.imaging.checks import check_image

# One pool per process, not one per image: the full image and a sticker's messenger variant encode at once.
_ENCODERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webp")

# Scores the images that are encoded (the image, then a sticker's messenger variant) as one probability.
Score = Callable[[list[Image.Image]], float]


@dataclass
class Processed:
    webp: bytes
    width: int
    height: int
    messenger: bytes | None = None
    # The classifier's score of exactly the pixels encoded, when one was asked for.
    score: float | None = None


def process(
    png: bytes,
    *,
    background: Background,
    expected_size: tuple[int, int],
    metadata: dict[str, str],
    messenger: bool = False,
    quality: int = webp.WEBP_QUALITY,
    method: int = webp.WEBP_METHOD,
    score: Score | None = None,
) -> Processed:
    """Raises InvalidImage (a clear, final failure) rather than publish a broken image."""
    with Image.open(io.BytesIO(png)) as opened:
        opened.load()
        img: Image.Image = opened
    check_image(img, expected_size=expected_size, alpha=background == "transparent")
    if background == "chroma":
        img = chroma.remove_background(img)
        check_image(img, alpha=True)
    full = _ENCODERS.submit(webp.encode, img, metadata, quality=quality, method=method)
    encoded = [img]
    sticker = None
    if messenger:
        fitted = stickers.fit(stickers.trim(img))
        sticker = _ENCODERS.submit(
            webp.encode_within, fitted, stickers.MESSENGER_MAX_BYTES, metadata, quality=quality, method=method
        )
        encoded.append(fitted)
    scored = score(encoded) if score is not None else None
    return Processed(full.result(), img.width, img.height, sticker.result() if sticker else None, scored)
