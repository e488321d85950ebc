"""Output validation: a broken render fails its job clearly instead of being published."""

from __future__ import annotations

import numpy as np
from PIL import Image


class InvalidImage(ValueError):
    pass


def check_image(
    img: Image.Image,
    *,
    expected_size: tuple[int, int] | None = None,
    alpha: bool = False,
    min_spread: float = 4.0,
    min_visible: float = 0.02,
    max_visible: float = 0.97,
) -> None:
    """Raise InvalidImage naming what is wrong: size, blank or one colour, missing or useless alpha."""
    if expected_size is not None and img.size != tuple(expected_size):
        raise InvalidImage(f"image is {img.width}x{img.height}, expected {expected_size[0]}x{expected_size[1]}")
    # Every other pixel each way: blankness and coverage are whole-image properties, and this is 4x cheaper.
    rgba = np.asarray(img.convert("RGBA"))[::2, ::2].astype(np.float32)
    visible = rgba[..., 3] > 8
    if alpha:
        if "A" not in img.getbands():
            raise InvalidImage("image has no alpha channel, but its background should be transparent")
        share = float(visible.mean())
        if share < min_visible:
            raise InvalidImage(f"image is almost fully transparent ({share:.1%} visible)")
        if share > max_visible:
            raise InvalidImage(f"background was not removed ({share:.1%} of the image is opaque)")
    pixels = rgba[visible][:, :3]
    if len(pixels) == 0 or float(pixels.std(axis=0).max()) < min_spread:
        raise InvalidImage("image is blank or a single colour")
