"""Chroma key: choose a background colour the character does not wear, then cut it out cleanly.

The design document's idea was the "opposite RGB" of the dominant colour. Inverting a mid grey gives
a mid grey, and inverting one colour ignores the others. Instead, we pick, from a few keyable
colours, the one whose nearest dominant colour is farthest away. Removal is done by unmixing: an
edge pixel is read as `alpha * foreground + (1 - alpha) * key`, so soft edges keep their colour,
without a halo of the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class KeyColour:
    name: str  # as a prompt tag says it: "green background"
    rgb: RGB

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)


KEY_COLOURS = (
    KeyColour("green", (0, 255, 0)),
    KeyColour("blue", (0, 0, 255)),
    KeyColour("magenta", (255, 0, 255)),
    KeyColour("cyan", (0, 255, 255)),
    KeyColour("yellow", (255, 255, 0)),
    KeyColour("red", (255, 0, 0)),
)

# Colour words of Danbooru tags ("blue hair", "blonde hair"), for choosing a key before any render.
TAG_COLOURS: dict[str, RGB] = {
    "red": (200, 30, 40),
    "crimson": (160, 20, 40),
    "orange": (240, 130, 30),
    "yellow": (240, 220, 60),
    "blonde": (240, 210, 120),
    "golden": (220, 180, 60),
    "green": (50, 160, 60),
    "aqua": (60, 200, 200),
    "cyan": (40, 200, 220),
    "blue": (40, 80, 200),
    "navy": (30, 40, 110),
    "purple": (130, 60, 170),
    "violet": (140, 90, 200),
    "pink": (240, 140, 180),
    "magenta": (220, 40, 200),
    "brown": (110, 70, 40),
    "black": (20, 20, 25),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "silver": (190, 190, 200),
    "white": (245, 245, 245),
}
# Every character has skin: it always counts among the colours to avoid.
SKIN: RGB = (240, 200, 170)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """'Redmean' colour distance: cheap, and closer to perception than plain RGB distance."""
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    rmean = (a[..., 0] + b[..., 0]) / 2
    d = a - b
    squared = (2 + rmean / 256) * d[..., 0] ** 2 + 4 * d[..., 1] ** 2 + (2 + (255 - rmean) / 256) * d[..., 2] ** 2
    result: np.ndarray = np.sqrt(squared)
    return result


def dominant_colours(img: Image.Image, k: int = 6) -> list[tuple[RGB, float]]:
    """The image's k main colours with their share of pixels (transparent pixels ignored)."""
    small = img.convert("RGBA").resize((64, 64))
    pixels = np.asarray(small).reshape(-1, 4)
    opaque = pixels[pixels[:, 3] > 128][:, :3]
    if len(opaque) == 0:
        return []
    strip = Image.fromarray(opaque.reshape(1, -1, 3).astype(np.uint8), "RGB")
    quantized = strip.quantize(colors=k, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts = [(n, int(i)) for n, i in quantized.getcolors() or [] if isinstance(i, int)]
    total = sum(n for n, _ in counts)
    found = [((palette[3 * i], palette[3 * i + 1], palette[3 * i + 2]), n / total) for n, i in counts]
    return sorted(found, key=lambda c: -c[1])


def colours_from_tags(tags: Iterable[str]) -> list[tuple[RGB, float]]:
    words = [w for tag in tags for w in re.findall(r"[a-z]+", tag.lower())]
    found = [TAG_COLOURS[w] for w in words if w in TAG_COLOURS]
    colours = [*found, SKIN]
    return [(c, 1 / len(colours)) for c in colours]


def contrasting_key(colours: list[tuple[RGB, float]], *, min_share: float = 0.02) -> KeyColour:
    """The key colour farthest from every colour that matters (share >= min_share)."""
    relevant = np.array([c for c, share in colours if share >= min_share] or [SKIN], dtype=np.float32)
    best, best_gap = KEY_COLOURS[0], -1.0
    for key in KEY_COLOURS:
        gap = float(distance(relevant, np.array(key.rgb, dtype=np.float32)).min())
        if gap > best_gap:
            best, best_gap = key, gap
    return best


def border_colour(img: Image.Image) -> RGB:
    """The background as rendered: the median of the outermost pixels, which may differ from the key asked."""
    arr = np.asarray(img.convert("RGB"))
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    median = np.median(border, axis=0)
    return (int(median[0]), int(median[1]), int(median[2]))


def _box3(a: np.ndarray) -> np.ndarray:
    """Sum over each pixel's 3x3 neighbourhood (zero outside the image), in two separable passes."""
    padded = np.pad(a, ((1, 1), (1, 1)) + ((0, 0),) * (a.ndim - 2))
    rows = padded[:-2] + padded[1:-1] + padded[2:]
    out: np.ndarray = rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]
    return out


def _spread(values: np.ndarray, known: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Fill unknown pixels with the mean of known neighbours, growing `steps` pixels outward."""
    known_f = known.astype(np.float32)
    values = values * known_f[..., None]  # unknown pixels hold 0, so sums count known ones only
    for _ in range(steps):
        total = _box3(values)
        count = _box3(known_f)
        grow = (known_f == 0) & (count > 0)
        values = np.where(grow[..., None], total / np.maximum(count, 1)[..., None], values)
        known_f = np.where(grow, np.float32(1.0), known_f)
    return values, known_f > 0


def remove_background(
    img: Image.Image, key: RGB | None = None, *, inner: float = 60.0, outer: float = 220.0, band: int = 6
) -> Image.Image:
    """RGBA with the key cut away and soft edges unmixed.

    Pixels near the key are background, far ones foreground. In the band between, the foreground
    colour is taken from the nearest foreground pixels, and alpha is how far the pixel lies from
    the key towards that colour. The result keeps the edge's softness but not the key's tint.
    """
    rgb = np.asarray(img.convert("RGB")).astype(np.float32)
    key_rgb = np.array(key or border_colour(img), dtype=np.float32)
    d = distance(rgb, key_rgb)
    solid = d >= outer
    clear = d <= inner
    alpha = np.clip((d - inner) / (outer - inner), 0.0, 1.0)  # the ramp; solid and clear come out 1 and 0
    colour = rgb
    # Only the edge (neither solid nor clear) needs a foreground colour: spread within its bounding box.
    edge_rows, edge_cols = np.nonzero(~solid & ~clear)
    if edge_rows.size:
        pad = band + 1
        y0, y1 = max(edge_rows.min() - pad, 0), edge_rows.max() + pad + 1
        x0, x1 = max(edge_cols.min() - pad, 0), edge_cols.max() + pad + 1
        box = np.s_[y0:y1, x0:x1]
        fg, found = _spread(rgb[box], solid[box], band)
        towards = fg - key_rgb
        projected = ((rgb[box] - key_rgb) * towards).sum(axis=-1) / np.maximum((towards**2).sum(axis=-1), 1.0)
        unmixed = found & ~solid[box] & ~clear[box]
        alpha[box] = np.where(unmixed, np.clip(projected, 0.0, 1.0), alpha[box])
        colour = rgb.copy()
        colour[box] = np.where(unmixed[..., None], fg, rgb[box])
    out = np.empty((*alpha.shape, 4), dtype=np.uint8)
    out[..., :3] = np.where(alpha[..., None] > 0, np.clip(colour, 0, 255), 0.0).round()
    out[..., 3] = (alpha * 255).round()
    return Image.fromarray(out, "RGBA")
