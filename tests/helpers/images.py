"""Images drawn for imaging tests."""

from __future__ import annotations

from PIL import Image, ImageDraw

HAIR = (40, 80, 200)
SKIN = (240, 200, 170)


def figure_on(background: tuple[int, int, int], size: tuple[int, int] = (192, 288)) -> Image.Image:
    """A 'character' (skin face, blue hair) on a solid background, drawn large then reduced for soft edges."""
    w, h = size
    big = Image.new("RGB", (w * 4, h * 4), background)
    draw = ImageDraw.Draw(big)
    draw.ellipse([w, h, w * 3, h * 3], fill=HAIR)
    draw.ellipse([w * 1.4, h * 1.5, w * 2.6, h * 2.7], fill=SKIN)
    return big.resize(size, Image.Resampling.LANCZOS)
