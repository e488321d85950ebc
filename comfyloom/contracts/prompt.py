"""Workflow ↔ build_prompt: the request's words in, the prompt ComfyUI renders out."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from comfyloom.contracts.domain import Emotion, ImageKind, Lora, StoryBrief
from comfyloom.tag_schemas import CharacterTags, SceneTags


class PromptRequest(BaseModel):
    job_id: UUID
    user_id: str
    kind: ImageKind
    # Avatars and stickers draw one character; covers and scenes any number, in this order.
    character_ids: list[UUID] = []
    emotion: Emotion | None = None
    story: StoryBrief | None = None
    scene_context: str | None = Field(default=None, max_length=4000)
    # An automatic scene's moment, as Gemini read it when judging the chat: not translated again.
    scene_tags: SceneTags | None = None
    loras: list[Lora] = []
    # Ask for a plain background in a colour the characters do not wear, to be keyed out later.
    chroma_key: bool = False


class PromptTags(BaseModel):
    """The English tags a prompt was built from: per character, and for the scene of a cover or scene."""

    characters: list[CharacterTags] = []
    scene: SceneTags | None = None


class PromptSpec(BaseModel):
    positive: str
    negative: str
    loras: list[Lora] = []
    warnings: list[str] = []
    # Provenance: the words the user wrote, what they became, and who translated them.
    source_text: str = ""
    tags: PromptTags = PromptTags()
    translator: str | None = None
    key_colour: str | None = None
    # Every sign the request shows a minor (an age under 18, a child word, Gemini's reading): its images are
    # moderated with the stricter threshold.
    minor_signals: list[str] = []
