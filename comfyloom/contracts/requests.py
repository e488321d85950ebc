"""API → workflow: what a job's run is started with (a kind's request, a sticker set) and what it returns."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, TypeAdapter

from comfyloom.contracts.domain import Background, Emotion, ImageKind, Lora, StoryBrief
from comfyloom.contracts.prompt import PromptRequest
from comfyloom.contracts.webhooks import Webhook
from comfyloom.tag_schemas import SceneTags


class _Generation(BaseModel):
    """What every kind's workflow takes: who asked, what to draw, and how (template, size, background). Each
    kind's own type below says which of the optional fields it needs and which it may not have, so a request
    that mixes kinds cannot be built. Every field is on every kind, so the JSON is the one all releases read."""

    job_id: UUID
    user_id: str
    kind: ImageKind
    character_ids: list[UUID] = []
    emotion: Emotion | None = None
    story: StoryBrief | None = None
    # Covers: the story the cover is for. Scenes: optionally, the story and the client's chat they belong to.
    story_id: UUID | None = None
    chat_id: str | None = Field(default=None, max_length=200)
    scene_context: str | None = Field(default=None, max_length=4000)
    # An automatic scene: its moment as Gemini read it when judging the chat (the context is its messages).
    scene_tags: SceneTags | None = None
    template: str
    width: int
    height: int
    # How the template's output background is: kept, a key colour to cut out, or transparent already.
    background: Background = "opaque"
    seed: int | None = Field(default=None, ge=0, le=2**53)
    loras: list[Lora] = []
    # Read from settings by the API: workflow code must not read the environment.
    gpu_wait_deadline_seconds: int = 3600
    # Credits the API held for this job at admission; the workflow holds them again (a no-op) when it opens.
    price: int = Field(default=0, ge=0)
    webhook: Webhook | None = None

    @property
    def character_id(self) -> UUID | None:
        return self.character_ids[0] if self.character_ids else None

    def prompt_request(self) -> PromptRequest:
        """What build_prompt needs of it; the API screens the same request before starting anything."""
        return PromptRequest(
            job_id=self.job_id,
            user_id=self.user_id,
            kind=self.kind,
            character_ids=self.character_ids,
            emotion=self.emotion,
            story=self.story,
            scene_context=self.scene_context,
            scene_tags=self.scene_tags,
            loras=self.loras,
            chroma_key=self.background == "chroma",
        )


class _OfOneCharacter(_Generation):
    """An image of exactly one character, with no story or chat."""

    character_ids: list[UUID] = Field(min_length=1, max_length=1)
    story: None = None
    story_id: None = None
    chat_id: None = None
    scene_context: None = None
    scene_tags: None = None

    @property
    def character(self) -> UUID:
        return self.character_ids[0]


class AvatarRequest(_OfOneCharacter):
    """A character's portrait."""

    kind: Literal[ImageKind.avatar] = ImageKind.avatar
    emotion: None = None


class StickerRequest(_OfOneCharacter):
    """One emotion of one character."""

    kind: Literal[ImageKind.sticker] = ImageKind.sticker
    emotion: Emotion


class CoverRequest(_Generation):
    """A story's cover: the story's id, and its words as they were when the cover was asked for."""

    kind: Literal[ImageKind.cover] = ImageKind.cover
    story: StoryBrief
    story_id: UUID
    emotion: None = None
    chat_id: None = None
    scene_context: None = None
    scene_tags: None = None


class SceneRequest(_Generation):
    """A chat scene: the moment's words, and any number of characters."""

    kind: Literal[ImageKind.scene] = ImageKind.scene
    scene_context: str = Field(max_length=4000)
    emotion: None = None
    story: None = None


# What a kind's workflow is started with, read by its `kind`.
GenerationRequest = Annotated[AvatarRequest | StickerRequest | CoverRequest | SceneRequest, Field(discriminator="kind")]
_GENERATION: TypeAdapter[GenerationRequest] = TypeAdapter(GenerationRequest)


def generation_request(**fields: Any) -> GenerationRequest:
    """The request of the kind `fields` name.

    Raises:
        ValidationError: the fields do not make a request of that kind (a sticker without an emotion).
    """
    return _GENERATION.validate_python(fields)


class StickerSetChild(BaseModel):
    emotion: Emotion
    job_id: UUID
    # This sticker's share of the set's price: what it refunds if it fails.
    price: int = Field(default=0, ge=0)


class StickerSetRequest(BaseModel):
    """A set of stickers of one character; each child is a StickerWorkflow with its own job row."""

    set_job_id: UUID
    user_id: str
    character_id: UUID
    children: list[StickerSetChild]
    template: str
    width: int
    height: int
    background: Background
    seed: int | None = Field(default=None, ge=0, le=2**53)
    loras: list[Lora] = []
    gpu_wait_deadline_seconds: int = 3600
    webhook: Webhook | None = None


class StickerOutcome(BaseModel):
    emotion: Emotion
    job_id: UUID
    ready: bool
    url: str | None = None
    messenger_url: str | None = None
    error: str | None = None


class StickerSetSummary(BaseModel):
    set_job_id: UUID
    stickers: list[StickerOutcome]

    @property
    def failed(self) -> list[StickerOutcome]:
        return [s for s in self.stickers if not s.ready]

    def error(self) -> str | None:
        if not self.failed:
            return None
        reasons = "; ".join(f"{s.emotion.value}: {s.error}" for s in self.failed)
        return f"{len(self.failed)} of {len(self.stickers)} stickers failed ({reasons})"


class GenerationResult(BaseModel):
    job_id: UUID
    url: str
    key: str
    width: int
    height: int
    size_bytes: int
    messenger_url: str | None = None
