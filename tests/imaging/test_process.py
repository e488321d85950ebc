"""What the classifier scores is what is published: the very images handed to the encoder (a sticker over white,
and its messenger variant), shown at the classifier's input size, differing from the published WebPs only by
WebP's loss."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from comfyloom import moderation
from comfyloom.imaging.process import process


def cut_out(size: tuple[int, int] = (384, 576)) -> Image.Image:
    """A drawn figure on a transparent background, with soft edges and grain, as a keyed-out sticker is."""
    rng = np.random.default_rng(7)
    w, h = size
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((w * 0.3, h * 0.1, w * 0.7, h * 0.4), fill=(250, 210, 190, 255), outline=(20, 20, 20, 255), width=3)
    draw.rectangle((w * 0.25, h * 0.4, w * 0.75, h * 0.9), fill=(60, 90, 200, 255), outline=(20, 20, 20, 255))
    pixels = np.asarray(image).astype(np.int16)
    pixels[..., :3] += rng.integers(-6, 6, (h, w, 3), dtype=np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGBA")


def png_of(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_the_scored_images_are_the_encoded_ones_and_differ_from_the_published_only_by_webps_loss() -> None:
    scored: list[Image.Image] = []

    def score(images: list[Image.Image]) -> float:
        scored.extend(images)
        return 0.25

    image = cut_out()
    out = process(
        png_of(image), background="transparent", expected_size=image.size, metadata={}, messenger=True, score=score
    )
    assert out.score == 0.25 and out.messenger is not None
    assert [s.size for s in scored] == [image.size, (512, 512)]
    for encoded, published in zip(scored, (out.webp, out.messenger), strict=True):
        with Image.open(io.BytesIO(published)) as webp:
            assert (np.asarray(webp.getchannel("A")) == np.asarray(encoded.getchannel("A"))).all(), "alpha is lossless"
            as_published = np.asarray(moderation.shown(webp)).astype(np.int16)
        as_scored = np.asarray(moderation.shown(encoded)).astype(np.int16)
        assert np.abs(as_published - as_scored).mean() < 2, "as a chat shows them, within WebP's q90 loss"


def test_shown_at_the_classifiers_size_is_the_picture_composited_at_full_size() -> None:
    image = cut_out()
    small = np.asarray(moderation.shown(image, (256, 256))).astype(np.int16)
    full = np.asarray(moderation.shown(image).resize((256, 256), Image.Resampling.BILINEAR)).astype(np.int16)
    assert np.abs(small - full).max() <= 2, "only 8-bit rounding apart"


def test_open_nsfw_scores_the_small_picture_as_it_scores_the_full_one() -> None:
    model = moderation.load(moderation.OPEN_NSFW)
    image = cut_out()
    assert abs(moderation.score_shown(model, [image]) - model.score(moderation.shown(image))) < 0.01
