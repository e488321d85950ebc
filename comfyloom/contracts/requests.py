"""API → workflow: what a job's run is started with (a kind's request, a sticker set) and what it returns."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from comfyloom.contracts.domain import Background, Emotion, ImageKind, Lora, StoryBrief
from comfyloom.contracts.prompt import PromptRequest
from comfyloom.contracts.webhooks import Webhook


class GenerationRequest(BaseModel):
    """What every kind's workflow takes: who asked, what to draw, and how (template, size, background)."""

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
            loras=self.loras,
            chroma_key=self.background == "chroma",
        )


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
