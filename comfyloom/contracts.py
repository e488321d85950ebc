"""Pydantic models that cross Temporal boundaries: workflow and activity inputs and outputs.

They carry object keys, never image bytes, so workflow history stays small (claim check).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from comfyloom.features import CharacterTags, SceneTags


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
    converting = "converting"
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


class Webhook(BaseModel):
    """Where a job's end is told, and the key whose secret signs it (the secret itself never enters a history)."""

    url: str
    key_id: UUID


class WebhookDelivery(BaseModel):
    job_id: UUID
    url: str
    key_id: UUID
    # The Standard Webhooks `webhook-id`: one per job run's end, the same on every attempt.
    event_id: str


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


# What a GPU activity waits for when it cannot go on: a free slot in a busy ComfyUI, a ComfyUI that does not
# answer (the GPU machine asleep, rebooting or offline), or object storage refusing the rendered image.
WaitingFor = Literal["gpu_slot", "comfyui", "storage"]


class RenderProgress(BaseModel):
    """Heartbeat details of the GPU activities: what the API shows while the GPU works or waits.

    A retried attempt reads its predecessor's details, so `waiting_since` spans attempts.
    """

    prompt_id: str | None = None
    node: str | None = None
    step: int = 0
    total: int = 0
    waiting_for: WaitingFor | None = None
    waiting_since: datetime | None = None


class ConvertRequest(BaseModel):
    source_key: str
    target_key: str
    metadata: dict[str, str] = {}
    background: Background = "opaque"
    expected_width: int
    expected_height: int
    # Stickers: also a messenger-ready 512x512 WebP (transparent, at most 100 KB) at this key.
    messenger_key: str | None = None


class Moderation(BaseModel):
    """What the output classifier made of an image, and what this deployment did about it (its provenance)."""

    model: str
    # P(unsafe), 0 to 1: for a sticker, the higher of the image and its messenger variant.
    score: float
    label: Literal["safe", "unsafe"]
    action: Literal["pass", "flag", "block"]
    # The threshold that decided: the stricter one when the request showed a minor.
    threshold: float
    minor: bool = False

    def reason(self) -> str:
        """Why a blocked image was not published, in words a user can read."""
        why = "the request shows a minor, so a stricter limit applies" if self.minor else "above this service's limit"
        return (
            f"the generated image was blocked by output moderation: {self.model} scored it "
            f"{self.score:.2f} as unsafe ({why}, {self.threshold:.2f}); no credits were charged"
        )


class ModerateRequest(BaseModel):
    job_id: UUID
    user_id: str
    kind: ImageKind
    # The staged WebPs, exactly what would be published: the image, and a sticker's messenger variant.
    keys: list[str]
    minor_signals: list[str] = []


class ConvertedImage(BaseModel):
    key: str
    width: int
    height: int
    size_bytes: int
    messenger_key: str | None = None
    messenger_bytes: int | None = None


class PublishItem(BaseModel):
    staged_key: str
    public_key: str


class PublishRequest(BaseModel):
    items: list[PublishItem]
    # The job the objects are published for: written on each, and a key another job's object holds is refused.
    job_id: UUID | None = None


class ClearStaging(BaseModel):
    staging_prefix: str


class PublishedImage(BaseModel):
    key: str
    url: str


class JobRef(BaseModel):
    job_id: UUID


class OpenJob(BaseModel):
    job_id: UUID
    user_id: str
    price: int = 0


class FinishJob(BaseModel):
    """Everything an image's record holds: what was asked, what was drawn, and where it landed."""

    request: GenerationRequest
    image: PublishedImage
    messenger: PublishedImage | None = None
    converted: ConvertedImage
    prompt: PromptSpec
    seed: int
    template_sha256: str
    checkpoint: str
    # None when moderation is off (and the request showed no minor), or for runs from before it existed.
    moderation: Moderation | None = None


class FailJob(BaseModel):
    job_id: UUID
    staging_prefix: str
    error: str
    cancelled: bool = False
    # Public objects written before the failure: deleted, since no record will point at them.
    published_keys: list[str] = []


class Progress(BaseModel):
    stage: Stage
    result_url: str | None = None
    error: str | None = None
    # Every stage so far, in order, the current one last: a stream polling now and then misses none.
    passed: list[Stage] = []


class GenerationResult(BaseModel):
    job_id: UUID
    url: str
    key: str
    width: int
    height: int
    size_bytes: int
    messenger_url: str | None = None


class TemplateCheck(BaseModel):
    template: str
    missing_nodes: list[str] = []
    missing_models: list[str] = []
    # Why this ComfyUI cannot render the template, in plain words: the node, the input, the pack or model file.
    reasons: list[str] = []
    # This ComfyUI answers, has every node and model the template needs, and accepts its graph.
    renders: bool = True


class Renderable(BaseModel):
    """Whether any GPU worker can render a template, by the reports they publish (comfyloom/gpu_fleet.py)."""

    verdict: Literal["yes", "no", "unknown"]
    # For `no`: each reporting worker's reason, prefixed with its id.
    reasons: list[str] = []


class RenderableQuery(BaseModel):
    template: str


class GpuWorkerReport(BaseModel):
    """What a GPU worker found in its ComfyUI, published for the API's health (the API cannot reach it)."""

    worker_id: str
    comfyui_url: str
    reachable: bool
    comfyui_version: str | None = None
    devices: list[str] = []
    # The custom node packs ComfyUI loaded (from `/object_info`'s python_module), with their node classes' count.
    packs: dict[str, int] = {}
    templates: list[TemplateCheck] = []
    problems: list[str] = []
    # What to know that does not stop rendering, e.g. an untested ComfyUI version.
    notes: list[str] = []
    checked_at: datetime
    # Published by a worker as it stops: health stops counting it at once, not when Temporal forgets its polls.
    stopped: bool = False
