"""The policy's decisions, and the real open_nsfw model on images drawn here (no unsafe image in the repository)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw
from pydantic import ValidationError

from comfyloom import moderation
from comfyloom.settings import Settings


def decide(score: float, *, policy: moderation.Policy = "block", minor: bool = False) -> str:
    verdict = moderation.decide(score, model="m", policy=policy, threshold=0.8, minor_threshold=0.2, minor=minor)
    return verdict.action


@pytest.mark.parametrize(
    ("score", "policy", "minor", "action"),
    [
        (0.1, "block", False, "pass"),
        (0.8, "block", False, "block"),
        (0.9, "flag", False, "flag"),
        (0.99, "off", False, "pass"),
        (0.5, "flag", False, "pass"),
        # A request showing a minor: the lower threshold, and a block under every policy.
        (0.25, "flag", True, "block"),
        (0.25, "off", True, "block"),
        (0.1, "block", True, "pass"),
    ],
)
def test_the_policy_and_the_minor_rule(score: float, policy: moderation.Policy, minor: bool, action: str) -> None:
    assert decide(score, policy=policy, minor=minor) == action


def test_a_block_says_why_in_plain_words() -> None:
    verdict = moderation.decide(0.3, model="open_nsfw", policy="flag", threshold=0.8, minor_threshold=0.2, minor=True)
    assert verdict.reason() == (
        "the generated image was blocked by output moderation: open_nsfw scored it 0.30 as unsafe "
        "(the request shows a minor, so a stricter limit applies, 0.20); no credits were charged"
    )


def test_the_minor_threshold_cannot_be_the_looser_one() -> None:
    with pytest.raises(ValidationError, match="MODERATION_MINOR_THRESHOLD"):
        Settings(_env_file=None, moderation_threshold=0.5, moderation_minor_threshold=0.6)


def test_an_unknown_model_is_named() -> None:
    with pytest.raises(ValueError, match="MODERATION_MODEL='nowhere:model'"):
        moderation.load("nowhere:model")


def test_a_stickers_transparent_parts_are_judged_over_white() -> None:
    cut_out = Image.new("RGBA", (8, 8), (255, 0, 255, 0))
    out = io.BytesIO()
    cut_out.save(out, format="WEBP", lossless=True)
    assert moderation.as_shown(out.getvalue()).getpixel((0, 0)) == (255, 255, 255)


def drawn(size: tuple[int, int], background: tuple[int, int, int]) -> Image.Image:
    """A flat cartoon figure, as a sticker or avatar is drawn."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w * 0.35, h * 0.1, w * 0.65, h * 0.4), fill=(250, 220, 200), outline=(0, 0, 0), width=4)
    draw.rectangle((w * 0.3, h * 0.4, w * 0.7, h * 0.9), fill=(60, 90, 200), outline=(0, 0, 0), width=4)
    return image


@pytest.mark.parametrize("size", [(768, 768), (768, 1152), (1024, 1024)])
def test_open_nsfw_scores_drawn_images_safe(size: tuple[int, int]) -> None:
    model = moderation.load(moderation.OPEN_NSFW)
    for background in ((255, 255, 255), (0, 255, 0), (40, 40, 60)):
        assert model.score(drawn(size, background)) < 0.2
