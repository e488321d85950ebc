"""Trim and fit: a cut-out character becomes a messenger-ready 512x512 sticker."""

from __future__ import annotations

from PIL import Image

MESSENGER_SIZE = 512
MESSENGER_MAX_BYTES = 100 * 1024


def trim(img: Image.Image, *, threshold: int = 8) -> Image.Image:
    """Cropped to the pixels that are visibly there (alpha above `threshold`)."""
    alpha = img.convert("RGBA").getchannel("A").point(lambda a: 255 if a > threshold else 0)
    box = alpha.getbbox()
    if box is None:
        raise ValueError("the image is fully transparent: nothing to trim to")
    return img.crop(box)


def fit(img: Image.Image, size: int = MESSENGER_SIZE, *, margin: int = 16) -> Image.Image:
    """Centred on a transparent square, scaled to fit inside the margin, never upscaled past 2x."""
    inner = size - 2 * margin
    scale = min(inner / img.width, inner / img.height, 2.0)
    resized = img.convert("RGBA").resize(
        (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.LANCZOS
    )
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    canvas.alpha_composite(resized, ((size - resized.width) // 2, (size - resized.height) // 2))
    return canvas
