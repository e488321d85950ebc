"""Messenger stickers and output validation on crafted images."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from comfyloom.imaging import chroma, stickers, webp
from comfyloom.imaging.checks import InvalidImage, check_image
from tests.helpers.images import figure_on


def test_a_render_becomes_a_512_square_sticker_under_100_kb() -> None:
    cut = chroma.remove_background(figure_on((0, 255, 0), size=(768, 1152)))
    sticker = stickers.fit(stickers.trim(cut))
    assert sticker.size == (512, 512) and sticker.mode == "RGBA"
    assert sticker.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert sticker.getpixel((256, 256))[3] == 255  # type: ignore[index]
    data = webp.encode_within(sticker, stickers.MESSENGER_MAX_BYTES, {"emotion": "happy"})
    assert len(data) <= 100 * 1024
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "WEBP" and img.size == (512, 512) and img.mode == "RGBA"
    check_image(sticker, expected_size=(512, 512), alpha=True)


def test_trim_refuses_an_empty_image() -> None:
    with pytest.raises(ValueError, match="fully transparent"):
        stickers.trim(Image.new("RGBA", (32, 32)))


@pytest.mark.parametrize(
    ("img", "kwargs", "message"),
    [
        (Image.new("RGB", (64, 64), (0, 0, 0)), {}, "blank or a single colour"),
        (Image.new("RGB", (64, 64), (200, 30, 30)), {}, "blank or a single colour"),
        (figure_on((0, 255, 0), size=(64, 96)), {"expected_size": (768, 1152)}, "expected 768x1152"),
        (figure_on((0, 255, 0), size=(64, 96)), {"alpha": True}, "no alpha channel"),
        (figure_on((0, 255, 0), size=(64, 96)).convert("RGBA"), {"alpha": True}, "background was not removed"),
        (Image.new("RGBA", (64, 64)), {"alpha": True}, "almost fully transparent"),
    ],
    ids=["black", "one-colour", "wrong-size", "no-alpha", "opaque", "transparent"],
)
def test_broken_outputs_are_named(img: Image.Image, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidImage, match=message):
        check_image(img, **kwargs)  # type: ignore[arg-type]


def test_a_real_looking_render_passes() -> None:
    check_image(figure_on((0, 255, 0)), expected_size=(192, 288))
