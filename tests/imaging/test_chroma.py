"""Chroma key on crafted images: the key avoids the character's colours, and removal leaves clean soft edges."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from comfyloom.imaging import chroma
from tests.helpers.images import HAIR, figure_on


def test_the_key_avoids_the_characters_own_colours() -> None:
    key = chroma.contrasting_key(chroma.dominant_colours(figure_on((255, 255, 255))))
    assert key.name not in ("blue", "yellow"), key  # not the hair, not near the skin
    green_character = Image.new("RGB", (64, 64), (30, 220, 40))
    assert chroma.contrasting_key(chroma.dominant_colours(green_character)).name != "green"


def test_the_key_can_be_chosen_from_tags_before_any_render() -> None:
    key = chroma.contrasting_key(chroma.colours_from_tags(["green hair", "green eyes", "yellow dress"]))
    assert key.name not in ("green", "yellow")
    assert chroma.contrasting_key(chroma.colours_from_tags(["blue hair"])).name != "blue"


def test_grey_is_not_keyed_with_grey_as_the_opposite_rgb_would() -> None:
    grey = Image.new("RGB", (32, 32), (128, 128, 128))
    key = chroma.contrasting_key(chroma.dominant_colours(grey))
    assert max(key.rgb) == 255 and min(key.rgb) == 0  # a saturated key, far from any grey


@pytest.mark.parametrize("background", [(0, 255, 0), (255, 0, 255), (10, 240, 20)])
def test_removal_leaves_clean_alpha_and_unspilled_edges(background: tuple[int, int, int]) -> None:
    img = figure_on(background)
    assert chroma.border_colour(img) == background
    cut = chroma.remove_background(img)
    arr = np.asarray(cut).astype(int)
    assert cut.mode == "RGBA"
    assert arr[0, 0, 3] == 0 and arr[-1, -1, 3] == 0
    assert arr[144, 96, 3] == 255  # the face
    edge = arr[(arr[..., 3] > 40) & (arr[..., 3] < 215)]
    assert len(edge) > 50, "soft edges expected, not a hard cut"
    # Unmixed: edge pixels look like the hair, not like the key colour.
    hair_distance = np.abs(edge[:, :3] - np.array(HAIR)).max(axis=1)
    assert np.median(hair_distance) < 40
