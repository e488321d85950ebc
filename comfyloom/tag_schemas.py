"""What Gemini extracts, as pydantic schemas it must answer in (structured output).

Each field is a list of English Danbooru tags for one visual aspect, so only visual features reach
the prompt. The safety fields are a second opinion that does not depend on our word lists.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

TagList = list[str]


class CharacterTags(BaseModel):
    """A character's look as English tags, in the order they appear in a prompt."""

    gender: Literal["female", "male", "other", "unknown"] = Field(
        default="unknown", description="The character's gender as drawn."
    )
    apparent_age: Literal["child", "teen", "adult", "elderly", "unknown"] = Field(
        default="unknown", description="How old the character looks or is stated to be; under 18 is child or teen."
    )
    hair: TagList = Field(default=[], description="Hair colour, length, style, e.g. 'blue hair', 'short hair'.")
    eyes: TagList = Field(default=[], description="Eye colour and eye details, e.g. 'blue eyes', 'heterochromia'.")
    skin: TagList = Field(default=[], description="Skin tone and markings, e.g. 'pale skin', 'freckles'.")
    body: TagList = Field(default=[], description="Build and height, e.g. 'slender', '154cm'.")
    clothing: TagList = Field(default=[], description="Garments, e.g. 'maid outfit', 'black hoodie'.")
    accessories: TagList = Field(default=[], description="Worn or held items, e.g. 'hair ribbon', 'glasses'.")
    species: TagList = Field(default=[], description="Non-human species, e.g. 'oni', 'elf', 'catgirl'.")
    species_traits: TagList = Field(default=[], description="Species features, e.g. 'horn', 'cat ears', 'tail'.")
    sexual_content: bool = Field(default=False, description="True when the description is sexual or explicit.")


# The order tags follow in a prompt: the seed's example reads hair, eyes, body, then species.
CHARACTER_TAG_FIELDS = ("hair", "eyes", "skin", "body", "clothing", "accessories", "species", "species_traits")


class SceneTags(BaseModel):
    """A story or chat moment as English tags: where, when, what happens; never who looks how."""

    setting: TagList = Field(default=[], description="Place and background, e.g. 'forest', 'classroom', 'night city'.")
    lighting: TagList = Field(default=[], description="Light and time of day, e.g. 'sunset', 'candlelight'.")
    mood: TagList = Field(default=[], description="Atmosphere, e.g. 'melancholic', 'cheerful'.")
    action: TagList = Field(default=[], description="What the characters do, e.g. 'sitting', 'holding sword'.")
    objects: TagList = Field(default=[], description="Notable objects, e.g. 'old book', 'coffee cup'.")
    composition: TagList = Field(default=[], description="Framing, e.g. 'wide shot', 'from above'.")
    depicts_minor: bool = Field(default=False, description="True when anyone in the scene is under 18.")
    sexual_content: bool = Field(default=False, description="True when the text is sexual or explicit.")


SCENE_TAG_FIELDS = ("setting", "lighting", "mood", "action", "objects", "composition")


class MomentJudgement(BaseModel):
    """Whether a chat's latest messages show a moment worth a picture, and that moment as scene tags."""

    worth_drawing: bool = Field(
        default=False,
        description="True when the latest messages show something a picture would show: a new place, an action,"
        " a change of mood. False for small talk, greetings, questions, plans or talk of what is not happening now.",
    )
    same_as_last_scene: bool = Field(
        default=False,
        description="True when the moment is the one the chat's last scene already shows (last_scene), only"
        " talked about further.",
    )
    reason: str = Field(default="", description="One short English sentence saying why.")
    scene: SceneTags = Field(default_factory=SceneTags, description="The moment as tags; empty when not drawn.")
