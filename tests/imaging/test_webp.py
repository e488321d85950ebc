from __future__ import annotations

import io

from PIL import Image

from comfyloom.imaging.webp import png_to_webp


def png(mode: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (10, 200, 30, 128) if mode == "RGBA" else (10, 200, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_webp_keeps_size_and_carries_provenance_as_xmp() -> None:
    webp, width, height = png_to_webp(png("RGB"), {"prompt": "1girl, (blue hair:1.2) & <tags>", "seed": "7"})
    with Image.open(io.BytesIO(webp)) as img:
        assert (img.format, img.size, (width, height)) == ("WEBP", (64, 48), (64, 48))
        xmp = img.info["xmp"]
    assert b"<comfyloom:seed>7</comfyloom:seed>" in xmp
    assert b"(blue hair:1.2) &amp; &lt;tags&gt;" in xmp


def test_transparency_survives_conversion() -> None:
    webp, _, _ = png_to_webp(png("RGBA"), {})
    with Image.open(io.BytesIO(webp)) as img:
        assert img.mode == "RGBA"
        assert img.getpixel((0, 0))[3] < 255  # type: ignore[index]
