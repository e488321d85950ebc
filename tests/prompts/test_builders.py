"""Per-kind prompts: the seed's exact avatar prompt, emotions, covers, scenes, LoRA trigger words, escaping."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from comfyloom.contracts.domain import DEFAULT_EMOTIONS, Emotion, ImageKind, Lora, StoryBrief, VisualFeatures
from comfyloom.contracts.prompt import PromptRequest
from comfyloom.kinds import KINDS, PromptInputs
from comfyloom.prompts import builders
from comfyloom.prompts.builders import Cast, Prompt
from comfyloom.tag_schemas import CharacterTags, SceneTags
from tests.helpers.prompts import SEED_PROMPT

REM = Cast(
    "Rem Dragneel",
    CharacterTags(
        gender="female",
        apparent_age="adult",
        hair=["blue hair"],
        eyes=["blue eyes", "heterochromia", "left eye visible", "bang covering eye"],
        body=["slender", "154cm"],
        species=["oni"],
        species_traits=["horn"],
    ),
)


def drawn(kind: ImageKind, cast: list[Cast], scene: SceneTags | None = None, **request: Any) -> Prompt:
    """The prompt `kind`'s spec builds for this cast, as build_prompt would after translation."""
    asked = PromptRequest(job_id=uuid.uuid4(), user_id="u", kind=kind, **request)
    return KINDS[kind].prompt(PromptInputs(asked, cast, scene))


def test_avatar_prompt_is_the_seed_prompt() -> None:
    prompt = drawn(ImageKind.avatar, [REM])
    assert prompt.positive == SEED_PROMPT
    assert "multiple views" in prompt.negative and "nsfw" in prompt.negative


def test_default_sticker_set_is_eight_distinct_emotions() -> None:
    assert [e.value for e in DEFAULT_EMOTIONS] == [
        "happy",
        "sad",
        "angry",
        "surprised",
        "shy",
        "laughing",
        "crying",
        "thinking",
    ]
    prompts = {drawn(ImageKind.sticker, [REM], emotion=emotion).positive for emotion in DEFAULT_EMOTIONS}
    assert len(prompts) == 8


def test_sticker_prompt_weights_the_emotion_and_keeps_the_background_plain() -> None:
    prompt = drawn(ImageKind.sticker, [REM], emotion=Emotion.crying)
    assert "(crying:1.2)" in prompt.positive and "tears" in prompt.positive
    assert "(simple background:1.3)" in prompt.positive
    assert "complex background" in prompt.negative
    assert prompt.positive.index("(crying:1.2)") < prompt.positive.index("(Rem Dragneel:1.2)")


@pytest.mark.parametrize(
    ("given", "expected"), [("Feliz", Emotion.happy), ("chorando", Emotion.crying), ("THINKING", Emotion.thinking)]
)
def test_emotions_accept_english_and_portuguese(given: str, expected: Emotion) -> None:
    assert builders.parse_emotion(given) is expected


def test_an_unknown_emotion_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="happy, sad"):
        builders.parse_emotion("hangry")


def test_cover_prompt_has_genre_scene_and_every_character() -> None:
    kaito = Cast("Kaito", CharacterTags(gender="male", hair=["black hair"]))
    scene = SceneTags(setting=["ruined castle"], lighting=["moonlight"], action=["holding sword"])
    prompt = drawn(ImageKind.cover, [REM, kaito], scene, story=StoryBrief(title="A Lua", genre="Fantasia"))
    assert "fantasy, magic, epic" in prompt.positive
    assert "1girl, 1boy, (Rem Dragneel:1.2)" in prompt.positive
    assert "(Kaito:1.2), black hair" in prompt.positive
    assert prompt.positive.endswith("ruined castle, moonlight, holding sword")
    assert "solo" not in prompt.positive
    assert "title" in prompt.negative and "logo" in prompt.negative


def test_scene_without_characters_is_drawn_without_people() -> None:
    prompt = drawn(ImageKind.scene, [], SceneTags(setting=["rainy street"]))
    assert "no humans" in prompt.positive and "rainy street" in prompt.positive


def test_lora_trigger_words_go_in_after_the_style() -> None:
    lora = Lora(name="chibi.safetensors", trigger_words=["ChibiStyle", "sd character"])
    prompt = drawn(ImageKind.avatar, [REM], loras=[lora])
    assert "(ANIME), ChibiStyle, sd character, (close-up portrait:1.2)" in prompt.positive


def test_user_text_cannot_open_weight_syntax() -> None:
    sneaky = Cast("Eve:2.0) (nsfw", CharacterTags(hair=["red hair), (nude:1.5"]))
    prompt = drawn(ImageKind.avatar, [sneaky])
    assert r"(Eve:2.0\) \(nsfw:1.2)" in prompt.positive
    assert r"red hair\)" in prompt.positive and r"\(nude:1.5" in prompt.positive


def test_untranslated_features_become_tags_as_written() -> None:
    tags = builders.tags_from_features(
        VisualFeatures(gender="female", age=16, hair="Blue hair, long hair", species="oni", style="anime")
    )
    assert tags.gender == "female" and tags.apparent_age == "teen"
    assert tags.hair == ["blue hair", "long hair"] and tags.species == ["oni"]
