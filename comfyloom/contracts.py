"""Pydantic models that cross Temporal boundaries: workflow and activity inputs and outputs.

They carry object keys, never image bytes, so workflow history stays small (claim check).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from comfyloom.prompts.features import CharacterTags, SceneTags


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
    waiting_for_gpu = "waiting_for_gpu"
    rendering = "rendering"
    converting = "converting"
    uploading = "uploading"
    saving = "saving"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


class Lora(BaseModel):
    """One LoRA of a render, applied with ComfyUI's built-in LoraLoader."""

    name: str = Field(min_length=1, max_length=200)
    strength_model: float = Field(default=1.0, ge=-10, le=10)
    strength_clip: float = Field(default=1.0, ge=-10, le=10)
    trigger_words: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default=[], max_length=5, description="Words the LoRA was trained on; they go into the prompt."
    )


class AvatarRequest(BaseModel):
    job_id: UUID
    user_id: str
    character_id: UUID
    seed: int | None = Field(default=None, ge=0, le=2**53)
    loras: list[Lora] = []
    # Read from settings by the API: workflow code must not read the environment.
    gpu_wait_deadline_seconds: int = 3600


class VisualFeatures(BaseModel):
    """What a character looks like, field by field; only these become image tags."""

    model_config = ConfigDict(extra="forbid")

    gender: Literal["female", "male", "other"] | None = None
    age: int | None = Field(default=None, ge=0, le=100_000)
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


class PromptRequest(BaseModel):
    job_id: UUID
    user_id: str
    kind: ImageKind
    # Avatars and stickers draw one character; covers and scenes any number, in this order.
    character_ids: list[UUID] = []
    emotion: Emotion | None = None
    story: StoryBrief | None = None
    scene_context: str | None = Field(default=None, max_length=4000)
    loras: list[Lora] = []


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


class RenderRequest(BaseModel):
    workflow_id: str
    # Names this render attempt; with the workflow id it derives the ComfyUI prompt id.
    step: str
    # Prompts of earlier attempts whose GPU worker vanished: re-attach to them rather than render again.
    reattach_prompt_ids: list[str] = []
    template: str
    positive: str
    negative: str
    seed: int
    width: int
    height: int
    loras: list[Lora] = []


class QueuedPrompt(BaseModel):
    prompt_id: str
    # The queue of the one GPU worker whose ComfyUI holds this prompt (worker-specific task queue).
    worker_task_queue: str
    reattached: bool = False


class AwaitRequest(BaseModel):
    prompt_id: str
    template: str
    staging_prefix: str


class StagedImage(BaseModel):
    key: str
    node_id: str
    width: int
    height: int


class RenderResult(BaseModel):
    prompt_id: str
    images: list[StagedImage]
    # Read back from the graph ComfyUI ran, so provenance records what rendered, not what was asked.
    checkpoint: str
    template_sha256: str


class RenderProgress(BaseModel):
    """Heartbeat details of the render activity: what the API shows while the GPU works."""

    prompt_id: str
    node: str | None = None
    step: int = 0
    total: int = 0


class ConvertRequest(BaseModel):
    source_key: str
    target_key: str
    metadata: dict[str, str] = {}


class ConvertedImage(BaseModel):
    key: str
    width: int
    height: int
    size_bytes: int


class PublishRequest(BaseModel):
    staged_key: str
    public_key: str
    staging_prefix: str


class PublishedImage(BaseModel):
    key: str
    url: str


class JobRef(BaseModel):
    job_id: UUID


class FinishJob(BaseModel):
    job_id: UUID
    character_id: UUID
    kind: ImageKind
    image: PublishedImage
    converted: ConvertedImage
    prompt: PromptSpec
    seed: int
    template: str
    template_sha256: str
    checkpoint: str


class FailJob(BaseModel):
    job_id: UUID
    staging_prefix: str
    error: str
    cancelled: bool = False
    # A public object written before the failure: deleted, since no record will point at it.
    published_key: str | None = None


class Progress(BaseModel):
    stage: Stage
    result_url: str | None = None
    error: str | None = None


class GenerationResult(BaseModel):
    job_id: UUID
    url: str
    key: str
    width: int
    height: int
    size_bytes: int


class TemplateCheck(BaseModel):
    template: str
    missing_nodes: list[str] = []
    missing_models: list[str] = []


class GpuWorkerReport(BaseModel):
    """What a GPU worker found in its ComfyUI, published for the API's health (the API cannot reach it)."""

    worker_id: str
    comfyui_url: str
    reachable: bool
    comfyui_version: str | None = None
    devices: list[str] = []
    templates: list[TemplateCheck] = []
    problems: list[str] = []
    checked_at: datetime
