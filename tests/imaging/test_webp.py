"""What the CPU worker publishes for an opaque render: a WebP of the same size, provenance in XMP, at the
configured quality."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from comfyloom.imaging import webp
from comfyloom.imaging.process import process


def png(mode: str, size: tuple[int, int] = (64, 48), *, grain: bool = False) -> bytes:
    img = Image.new(mode, size, (10, 200, 30, 128) if mode == "RGBA" else (10, 200, 30))
    if grain:  # texture, so quality makes a difference
        noise = np.random.default_rng(1).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        img = Image.blend(img, Image.fromarray(noise, "RGB"), 0.3)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def opaque(data: bytes, metadata: dict[str, str], *, quality: int = 90) -> bytes:
    return process(data, background="opaque", expected_size=(64, 48), metadata=metadata, quality=quality).webp


def test_webp_keeps_size_and_carries_provenance_as_xmp() -> None:
    data = opaque(png("RGB", grain=True), {"prompt": "1girl, (blue hair:1.2) & <tags>", "seed": "7"})
    with Image.open(io.BytesIO(data)) as img:
        assert (img.format, img.size, img.mode) == ("WEBP", (64, 48), "RGB")
        xmp = img.info["xmp"]
    assert b"<comfyloom:seed>7</comfyloom:seed>" in xmp
    assert b"(blue hair:1.2) &amp; &lt;tags&gt;" in xmp


def test_a_lower_quality_setting_gives_a_smaller_file() -> None:
    source = png("RGB", grain=True)
    assert len(opaque(source, {}, quality=60)) < 0.8 * len(opaque(source, {}, quality=90))


def test_moderation_fields_join_the_xmp_without_touching_the_pixels() -> None:
    image = Image.new("RGBA", (32, 32), (10, 200, 30, 128))
    original = webp.encode(image, {"seed": "7"})
    marked = webp.add_xmp_fields(original, {"moderationAction": "flag"})
    with Image.open(io.BytesIO(original)) as before, Image.open(io.BytesIO(marked)) as after:
        assert before.tobytes() == after.tobytes()
        xmp = after.info["xmp"].decode()
    assert "<comfyloom:seed>7</comfyloom:seed><comfyloom:moderationAction>flag</comfyloom:moderationAction>" in xmp
    assert webp.add_xmp_fields(marked, {"moderationAction": "flag"}) == marked  # the step run again
