"""The words every boundary shares: kinds, emotions, stages, a LoRA, a character's and a story's features."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class ImageKind(StrEnum):
    avatar = "avatar"
    sticker = "sticker"
    cover = "cover"
    scene = "scene"


class Emotion(StrEnum):
    """A sticker's emotion; the first eight are the default set."""

    happy = "happy"
    sad = "sad"
    angry = "angry"
    surprised = "surprised"
    shy = "shy"
    laughing = "laughing"
    crying = "crying"
    thinking = "thinking"
    love = "love"
    sleepy = "sleepy"
    confused = "confused"
    scared = "scared"


DEFAULT_EMOTIONS = list(Emotion)[:8]


class Stage(StrEnum):
    """What a client sees of a job; `waiting_for_gpu` is derived by the API from Temporal."""

    queued = "queued"
    building_prompt = "building_prompt"
    # Derived by the API: TRANSLATION_POLICY=wait holds the job until Gemini translates its prompt.
    waiting_for_translation = "waiting_for_translation"
    waiting_for_gpu = "waiting_for_gpu"
    rendering = "rendering"
    # Derived by the API: a cancellation asked for, while the GPU worker takes the prompt out of ComfyUI.
    cancelling = "cancelling"
    # Converted, moderated and published, in one step since `fewer-steps`.
    converting = "converting"
    # Only runs from before `fewer-steps` pass it: their publish was a step of its own.
    uploading = "uploading"
    saving = "saving"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


def _number_only(value: object) -> object:
    """JSON's number, not Python's: `false` or `"16"` is refused where the schema says number (2.0 is 2)."""
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a JSON number, not a boolean or a string")
    return value


# Bounds go before it in `Annotated[int, Field(ge=0), JSON_NUMBER]`, or the schema shows them as `ge`, not `minimum`.
JSON_NUMBER = BeforeValidator(_number_only)


WholeNumber = Annotated[int, JSON_NUMBER]


Number = Annotated[float, JSON_NUMBER]


class Lora(BaseModel):
    """One LoRA of a render, applied with ComfyUI's built-in LoraLoader."""

    name: str = Field(min_length=1, max_length=200)
    strength_model: Number = Field(default=1.0, ge=-10, le=10)
    strength_clip: Number = Field(default=1.0, ge=-10, le=10)
    trigger_words: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default=[], max_length=5, description="Words the LoRA was trained on; they go into the prompt."
    )


class VisualFeatures(BaseModel):
    """What a character looks like, field by field; only these become image tags."""

    model_config = ConfigDict(extra="forbid")

    gender: Literal["female", "male", "other"] | None = None
    # Strict: `"age": false` or `"age": "16"` is an error, not 0 or 16.
    age: Annotated[int, Field(ge=0, le=100_000), JSON_NUMBER] | None = None
    species: str | None = Field(default=None, max_length=200)
    hair: str | None = Field(default=None, max_length=300)
    eyes: str | None = Field(default=None, max_length=300)
    skin: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=300)
    clothing: str | None = Field(default=None, max_length=500)
    accessories: str | None = Field(default=None, max_length=300)
    style: str | None = Field(default=None, max_length=100)


class StoryBrief(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    genre: str | None = Field(default=None, max_length=50)
    synopsis: str | None = Field(default=None, max_length=4000)

    @property
    def text(self) -> str:
        return "\n".join(p for p in (self.title, self.genre, self.synopsis) if p)


Background = Literal["opaque", "chroma", "transparent"]
