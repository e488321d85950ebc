"""A staged render becomes what is published: checked, keyed out where needed, WebP, and for stickers a 512 sticker."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from comfyloom.contracts.domain import Background
from comfyloom.imaging import chroma, stickers, webp
from comfyloom.imaging.checks import check_image


@dataclass
class Processed:
    webp: bytes
    width: int
    height: int
    messenger: bytes | None = None


def process(
    png: bytes,
    *,
    background: Background,
    expected_size: tuple[int, int],
    metadata: dict[str, str],
    messenger: bool = False,
    quality: int = webp.WEBP_QUALITY,
    method: int = webp.WEBP_METHOD,
) -> Processed:
    """Raises InvalidImage (a clear, final failure) rather than publish a broken image."""
    with Image.open(io.BytesIO(png)) as opened:
        opened.load()
        img: Image.Image = opened
    check_image(img, expected_size=expected_size, alpha=background == "transparent")
    if background == "chroma":
        img = chroma.remove_background(img)
        check_image(img, alpha=True)
    if not messenger:
        return Processed(webp.encode(img, metadata, quality=quality, method=method), img.width, img.height)
    # libwebp releases the GIL: the messenger sticker encodes on a second core while the full image does.
    with ThreadPoolExecutor(max_workers=1) as beside:
        fitted = stickers.fit(stickers.trim(img))
        sticker = beside.submit(
            webp.encode_within, fitted, stickers.MESSENGER_MAX_BYTES, metadata, quality=quality, method=method
        )
        full = webp.encode(img, metadata, quality=quality, method=method)
        return Processed(full, img.width, img.height, sticker.result())
