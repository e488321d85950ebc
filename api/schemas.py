"""Request and response bodies: camelCase JSON, as the product's clients expect."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic.alias_generators import to_camel

from comfyloom.contracts.domain import (
    DEFAULT_EMOTIONS,
    JSON_NUMBER,
    Emotion,
    Lora,
    Stage,
    StoryBrief,
    VisualFeatures,
    WholeNumber,
)
from comfyloom.contracts.images import Moderation
from comfyloom.db.jobs import JobStatus
from comfyloom.prompts.builders import parse_emotion
from comfyloom.scheduling import RequestedPriority
from comfyloom.settings import CreditPrices
from comfyloom.tag_schemas import CharacterTags, SceneTags

# A seed is an integer a JSON number can carry exactly.
Seed = Annotated[int, Field(ge=0, le=2**53), JSON_NUMBER]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def as_json(self) -> dict[str, Any]:
        """As a client reads it (a stream's message): camelCase, JSON values."""
        return self.model_dump(mode="json", by_alias=True)


class CamelRequest(CamelModel):
    """Request bodies refuse unknown fields, so a misspelt field is a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# Your app's own id for a character or story: letters, digits and `_ . : @ -`, so it fits in a URL path.
EXTERNAL_ID = r"^[A-Za-z0-9_.:@-]{1,200}$"
ExternalId = Annotated[str, Field(pattern=EXTERNAL_ID, description="Your app's id for it, unique per user.")]


class CharacterFields(CamelRequest):
    """A character as `PUT /characters/by-external-id/{externalId}` takes it (the id is in the path)."""

    name: str = Field(min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=4000)
    visual_features: VisualFeatures = VisualFeatures()


class CharacterCreate(CharacterFields):
    external_id: ExternalId | None = None


class CharacterOut(CamelModel):
    id: UUID
    external_id: str | None = None
    name: str
    description: str
    visual_features: VisualFeatures
    avatar_url: str | None
    created_at: datetime
    updated_at: datetime


class CharacterListOut(CamelModel):
    items: list[CharacterOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one.")


class LoraOut(CamelModel, Lora):
    pass


class CharacterTagsOut(CamelModel, CharacterTags):
    pass


class SceneTagsOut(CamelModel, SceneTags):
    pass


class PromptTagsOut(CamelModel):
    characters: list[CharacterTagsOut]
    scene: SceneTagsOut | None


class ModerationOut(CamelModel, Moderation):
    """What the output classifier made of the image: `action` is `pass` or `flag` (a blocked image is never
    published: its job fails with the reason). Null when this deployment's MODERATION_POLICY is off."""


class ImageOut(CamelModel):
    """A generated image and its provenance: with these, the same graph renders the same image."""

    id: UUID
    job_id: UUID
    kind: str
    url: str
    width: int
    height: int
    size_bytes: int
    positive_prompt: str
    negative_prompt: str
    seed: int
    template: str
    template_sha256: str
    checkpoint: str
    source_text: str = Field(description="The user's own words the prompt was built from.")
    tags: PromptTagsOut = Field(description="The English tags Gemini (or the structured fields) gave.")
    loras: list[LoraOut]
    translator: str | None = Field(description="The Gemini model that translated; null when untranslated.")
    moderation: ModerationOut | None = None
    created_at: datetime


class LoraIn(CamelRequest, Lora):
    """A contract `Lora` in camelCase, whose name must be a bare file name."""

    name: str = Field(
        min_length=1, max_length=200, pattern=r"^[^/\\\u0000]+$", description="File name in models/loras."
    )


class JobRequest(CamelRequest):
    """What every request that starts a job may carry besides its own fields."""

    priority: RequestedPriority = Field(
        default="normal",
        description="Its place on a busy GPU: `normal` is its kind's (chat scenes, stickers and avatars first, "
        "then covers, then sticker sets); `background` lowers it below every other job; `urgent`, ahead of "
        "all, only with an operator key (anyone else gets 422 `priority_refused`).",
    )

    webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://[^\u0000-\u0020\u007f]+$",
        description="Where to POST the job's final status when it ends, signed as Standard Webhooks do with your "
        "key's webhook secret; your key's default URL when not given. Must resolve to a public address.",
    )


class AvatarCreate(JobRequest):
    character_id: UUID
    seed: Seed | None = Field(default=None, description="Fix the seed to reproduce an image.")
    loras: list[LoraIn] = Field(default=[], max_length=5, description="LoRAs applied with ComfyUI's LoraLoader.")


class StickerCreate(JobRequest):
    character_id: UUID
    emotion: Emotion = Field(
        description="happy, sad, angry, surprised, shy, laughing, crying, thinking, love, "
        "sleepy, confused, scared; Portuguese names work too (feliz, triste, …)."
    )
    seed: Seed | None = Field(default=None, description="Fix the seed to reproduce an image.")
    loras: list[LoraIn] = Field(default=[], max_length=5, description="LoRAs applied with ComfyUI's LoraLoader.")

    @field_validator("emotion", mode="before")
    @classmethod
    def _emotion(cls, value: object) -> object:
        return parse_emotion(value) if isinstance(value, str) else value


class StickerSetCreate(JobRequest):
    character_id: UUID
    emotions: list[Emotion] = Field(
        default_factory=lambda: list(DEFAULT_EMOTIONS),
        min_length=1,
        max_length=len(Emotion),
        json_schema_extra={"uniqueItems": True},
        description="Defaults to the eight of the design document; Portuguese names work too.",
    )
    seed: Seed | None = Field(default=None, description="Seeds the set: emotion i gets seed + i.")
    loras: list[LoraIn] = Field(default=[], max_length=5, description="LoRAs applied with ComfyUI's LoraLoader.")

    @field_validator("emotions", mode="before")
    @classmethod
    def _emotions(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        parsed = [parse_emotion(v) if isinstance(v, str) else v for v in value]
        names = [v for v in parsed if isinstance(v, str)]  # anything else is refused by the field's type
        if len(set(names)) != len(names):
            raise ValueError("each emotion may appear once")
        return parsed


# Covers and scenes draw at most this many characters: more, and SD blends them together.
MAX_CAST = 4


def _distinct(ids: list[UUID] | None) -> list[UUID] | None:
    if ids and len(set(ids)) != len(ids):
        raise ValueError("each character may appear once")
    return ids


class StoryFields(CamelRequest):
    """A story as `PUT /stories/by-external-id/{externalId}` takes it (the id is in the path)."""

    title: str = Field(min_length=1, max_length=200)
    genre: str | None = Field(default=None, max_length=50, description="e.g. fantasy, romance, terror, sci-fi.")
    synopsis: str | None = Field(default=None, max_length=4000)
    character_ids: list[UUID] = Field(default=[], max_length=MAX_CAST, description="Who the cover shows.")

    _distinct_characters = field_validator("character_ids")(_distinct)

    @property
    def brief(self) -> StoryBrief:
        return StoryBrief(title=self.title, genre=self.genre, synopsis=self.synopsis)


class StoryCreate(StoryFields):
    external_id: ExternalId | None = None


class StoryOut(CamelModel):
    id: UUID
    external_id: str | None = None
    title: str
    genre: str | None
    synopsis: str | None
    character_ids: list[UUID]
    cover_url: str | None
    created_at: datetime
    updated_at: datetime


class StoryListOut(CamelModel):
    items: list[StoryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one.")


class CoverOptions(JobRequest):
    seed: Seed | None = Field(default=None, description="Fix the seed to reproduce an image.")
    loras: list[LoraIn] = Field(default=[], max_length=5, description="LoRAs applied with ComfyUI's LoraLoader.")


# A described story's fields: a cover takes them or a `storyId`, never both (null is as absent).
DESCRIBED_STORY = ("title", "genre", "synopsis", "characterIds")


def _one_form_of_cover(schema: dict[str, Any]) -> None:
    """The two forms as JSON Schema says them: a `storyId` and none of the story's fields, or a `title` and
    no `storyId`; the API refuses anything else with a 422 (api/covers.py)."""
    null = {"type": "null"}
    schema["oneOf"] = [
        {
            "required": ["storyId"],
            "properties": {"storyId": {"type": "string", "format": "uuid"}, **dict.fromkeys(DESCRIBED_STORY, null)},
        },
        {"required": ["title"], "properties": {"title": {"type": "string"}, "storyId": null}},
    ]


class CoverCreate(CoverOptions):
    """A cover for a stored story (`storyId`), or for a new one described here (`title`, …), which is saved."""

    model_config = ConfigDict(json_schema_extra=_one_form_of_cover)

    story_id: UUID | None = None
    title: str | None = Field(default=None, min_length=1, max_length=200)
    genre: str | None = Field(default=None, max_length=50, description="e.g. fantasy, romance, terror, sci-fi.")
    synopsis: str | None = Field(default=None, max_length=4000)
    character_ids: list[UUID] | None = Field(default=None, max_length=MAX_CAST, description="Who the cover shows.")

    _distinct_characters = field_validator("character_ids")(_distinct)


class SceneOptions(JobRequest):
    """What a scene request asked for (`scene`) and an automatic one (`scene/auto`) share."""

    character_ids: list[UUID] = Field(default=[], max_length=MAX_CAST, description="Who is in the scene, in order.")
    size: str = Field(
        default="1024x1024",
        pattern=r"^[0-9]{2,5}x[0-9]{2,5}$",
        description="WIDTHxHEIGHT, one of the scene template's sizes within SCENE_MAX_PIXELS.",
    )
    story_id: UUID | None = Field(default=None, description="The story the scene belongs to, if any.")
    seed: Seed | None = Field(default=None, description="Fix the seed to reproduce an image.")
    loras: list[LoraIn] = Field(default=[], max_length=5, description="LoRAs applied with ComfyUI's LoraLoader.")

    _distinct_characters = field_validator("character_ids")(_distinct)

    @property
    def dimensions(self) -> tuple[int, int]:
        width, height = self.size.split("x")
        return int(width), int(height)


ChatId = Annotated[str, Field(min_length=1, max_length=200, description="Your chat's id, to find its scenes again.")]


class SceneCreate(SceneOptions):
    context: str = Field(
        min_length=1, max_length=4000, description="The moment to draw: recent chat messages or a description."
    )
    chat_id: ChatId | None = None


class ChatMessageIn(CamelRequest):
    id: str = Field(min_length=1, max_length=200, description="Your id for the message, unique in its chat.")
    speaker: str = Field(min_length=1, max_length=100, description="Who said it: a character's name, or the user's.")
    text: str = Field(min_length=1, max_length=2000, description="What was said, in Portuguese or English.")


# An automatic scene's messages become its context, as lines `speaker: text`, within a context's own bound.
MAX_CHAT_MESSAGES = 20
MAX_CHAT_CONTEXT = 4000


def kept_messages(messages: list[ChatMessageIn]) -> list[ChatMessageIn]:
    """The latest messages whose `speaker: text` lines fit a scene's context (the latest one always does)."""
    kept: list[ChatMessageIn] = []
    length = -1
    for message in reversed(messages):
        length += len(message.speaker) + len(message.text) + 3
        if kept and length > MAX_CHAT_CONTEXT:
            break
        kept.insert(0, message)
    return kept


def chat_context(messages: list[ChatMessageIn]) -> str:
    return "\n".join(f"{m.speaker}: {m.text}" for m in messages)


class AutoSceneCreate(SceneOptions):
    chat_id: ChatId
    messages: list[ChatMessageIn] = Field(
        min_length=1,
        max_length=MAX_CHAT_MESSAGES,
        description="The end of the conversation, oldest first, the latest last. The latest that fit in "
        f"{MAX_CHAT_CONTEXT} characters as `speaker: text` lines are read; older ones are left out.",
    )


class StickerStatusOut(CamelModel):
    emotion: Emotion
    job_id: UUID
    status: JobStatus
    result_url: str | None
    error: str | None


class JobAccepted(CamelModel):
    job_id: UUID
    workflow_id: str
    status_url: str
    story_id: UUID | None = Field(default=None, description="A cover's story: the new one, when described inline.")
    replayed: bool = Field(
        default=False,
        description="True when this request repeated an earlier one (its Idempotency-Key, or the same body within"
        " IDEMPOTENCY_WINDOW_SECONDS): this is the job that request started; nothing new was started or charged.",
    )


# Why an automatic scene was not drawn (AutoSceneNotDrawn.code).
NotDrawnCode = Literal[
    "cooldown",
    "too_few_messages",
    "daily_cap",
    "judging",
    "content_refused",
    "small_talk",
    "same_moment",
    "judge_unavailable",
]


class AutoSceneStarted(JobAccepted):
    drawn: Literal[True] = True
    reason: str = Field(description="Why Gemini judged the moment worth a scene.")
    scene: SceneTagsOut | None = Field(
        default=None, description="The moment as Gemini read it, drawn as is; none on a replayed request."
    )


class AutoSceneNotDrawn(CamelModel):
    drawn: Literal[False] = False
    code: NotDrawnCode = Field(
        description="cooldown, too_few_messages, daily_cap and judging are answered without asking Gemini; "
        "content_refused, small_talk, same_moment and judge_unavailable after screening or Gemini's reading."
    )
    reason: str
    next_at: datetime | None = Field(
        default=None, description="cooldown, daily_cap: when the next automatic scene may be drawn."
    )
    messages_needed: int | None = Field(
        default=None, description="too_few_messages: how many more new messages the chat needs."
    )


class RenderProgressOut(CamelModel):
    step: int
    total: int
    node: str | None


class QueueOut(CamelModel):
    """Where a job waiting for a GPU stands."""

    ahead: int = Field(
        description="Renders a GPU takes before this one: every unfinished job of a higher priority, those of its "
        "own priority asked for earlier, and the prompts a GPU holds that it cannot pass (the render under way; for "
        "bulk and background jobs the next one too). Fairness may move another user's job of its priority ahead or "
        "behind."
    )
    gpus: int = Field(description="GPU workers taking this kind of job now; 0: none, and no time is estimated.")
    estimated_start_at: datetime | None = Field(
        default=None, description="When its render should start: the renders ahead at their kinds' recent median."
    )
    estimated_ready_at: datetime | None = Field(default=None, description="Its start plus its kind's median render.")
    note: str = Field(description="The same, in words; or why there is no estimate.")


class JobStatusOut(CamelModel):
    job_id: UUID
    kind: str
    status: JobStatus
    stage: Stage
    character_id: UUID | None
    story_id: UUID | None
    workflow_id: str
    result_url: str | None
    error: str | None
    warnings: list[str]
    progress: RenderProgressOut | None = None
    waiting: str | None = Field(
        default=None,
        description="Why the job is not going on, in plain words: the GPU machine busy, asleep or offline, "
        "or storage refusing the rendered image. Jobs wait until their GPU deadline, then fail saying so.",
    )
    waiting_since: datetime | None = Field(default=None, description="Since when the job has been waiting.")
    queue: QueueOut | None = Field(default=None, description="While it waits for a GPU: its place and an estimate.")
    stickers: list[StickerStatusOut] | None = Field(
        default=None, description="A sticker set's stickers: the newest attempt at each emotion."
    )
    moderation: ModerationOut | None = Field(default=None, description="A ready image's moderation.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobSummaryOut(CamelModel):
    job_id: UUID
    kind: str
    status: JobStatus
    character_id: UUID | None
    story_id: UUID | None
    workflow_id: str
    result_url: str | None
    error: str | None
    status_url: str
    created_at: datetime
    finished_at: datetime | None


class JobListOut(CamelModel):
    items: list[JobSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one.")


class FailedJobOut(JobSummaryOut):
    """A failed job as an operator sees it: whose, why, and whether it was retried."""

    user_id: str
    reason: str | None = Field(
        description="The error type (`ComfyExecutionFailed`, `GpuDeadlineExceeded`, `ContentBlocked`, `timeout`,"
        " ...); null for jobs that failed before it was recorded."
    )
    retry_of: UUID | None = Field(description="The failed job this one retried.")
    retried_as: UUID | None = Field(description="The job an operator's retry started; null until retried.")


class FailedJobListOut(CamelModel):
    items: list[FailedJobOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one.")


class RetryAccepted(JobAccepted):
    retry_of: UUID = Field(description="The failed job this new one retries.")


class ComponentHealth(CamelModel):
    ok: bool
    detail: str | None = None


class GpuWorkerOut(CamelModel):
    worker_id: str
    polling: bool = Field(description="Polling Temporal for work now; a worker that stopped shows a while longer.")
    reachable: bool = Field(description="Its ComfyUI answered at the last check.")
    comfyui_version: str | None
    devices: list[str]
    renders: list[str] = Field(description="Templates in use its ComfyUI can render (every node and model present).")
    problems: list[str] = Field(description="What the worker's ComfyUI lacks for our templates, in plain words.")
    notes: list[str] = Field(default=[], description="What does not stop rendering, e.g. an untested ComfyUI version.")
    checked_at: datetime | None


class TemplateCheckOut(CamelModel):
    template: str
    renders: bool
    reasons: list[str] = Field(description="Why its ComfyUI would refuse the template, in plain words.")


class RenderNowOut(CamelModel):
    workflow_id: str
    template: str
    queued_at: datetime
    rendering_since: datetime | None = Field(description="When ComfyUI began it; null while it waits its turn.")


class FleetWorkerOut(CamelModel):
    """One GPU worker as an operator sees it (`GET /api/v1/admin/gpu-workers`)."""

    worker_id: str
    state: Literal["polling", "stopped", "not_polling"] = Field(
        description="polling: taking jobs; stopped: it said it was stopping; not_polling: gone without a word."
    )
    last_seen_at: datetime | None = Field(description="Its last poll of Temporal or report, whichever is later.")
    queue: str = Field(description="Its own task queue, where the renders it holds are awaited.")
    reachable: bool = Field(description="Its ComfyUI answered at the last check.")
    comfyui_version: str | None
    devices: list[str]
    packs: dict[str, int] = Field(description="The custom node packs its ComfyUI loaded, with their node count.")
    templates: list[TemplateCheckOut] = Field(description="Each template in use: whether it renders, and why not.")
    renders_last_hour: int = Field(description="Renders it delivered in the last hour.")
    busy_last_hour: float = Field(description="Its GPU's share of the last hour spent on delivered renders, 0-1.")
    rendering: list[RenderNowOut] = Field(description="What it has in ComfyUI now: the one drawing, then the next.")
    problems: list[str]
    notes: list[str]


class FleetOut(CamelModel):
    workers: list[FleetWorkerOut]


class Health(CamelModel):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="ok: a polling GPU worker can render every template in use; degraded: only some templates "
        "can be rendered; unavailable: none can, or a core part is down (then HTTP 503)."
    )
    reasons: list[str] = Field(default=[], description="Why the status is not ok, in plain words.")
    templates_in_use: list[str] = Field(default=[], description="The ComfyUI templates this deployment renders with.")
    temporal: ComponentHealth
    database: ComponentHealth
    storage: ComponentHealth
    gpu_workers: int = Field(description="GPU workers polling the imagegen-gpu queue in the last minutes.")
    gpu_worker_reports: list[GpuWorkerOut] = Field(
        default=[], description="Each GPU worker seen lately: polling or not, its ComfyUI's last check, newest first."
    )


class ApiKeyCreate(CamelRequest):
    """A user's key (`userId`), or a service key for an app's backend (`tenant`): give one of the two."""

    user_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The user the key acts as.")
    tenant: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description="A service key's app: it acts for any of the app's users, named in `X-On-Behalf-Of`.",
    )
    name: str = Field(default="", max_length=200, description="What the key is for.")
    admin: StrictBool = Field(default=False, description="An operator's key: also the /api/v1/admin endpoints.")
    webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://[^\u0000-\u0020\u007f]+$",
        description="Where this key's jobs report.",
    )


class ApiKeyCreated(CamelModel):
    id: UUID
    user_id: str | None
    tenant: str | None = None
    name: str
    admin: bool
    webhook_url: str | None = None
    key: str = Field(description="The secret, shown only now: send it as `Authorization: Bearer <key>`.")
    webhook_secret: str = Field(
        description="Signs this key's webhooks (Standard Webhooks, `whsec_…`), shown only now; "
        "`POST /api/v1/webhooks/secret` makes a new one."
    )


class WebhookSecretOut(CamelModel):
    webhook_secret: str = Field(description="The key's new signing secret, shown only now; the old one stops.")


class WebhookAttemptOut(CamelModel):
    event_id: str = Field(description="The `webhook-id` header: the same on every attempt at one event.")
    url: str
    attempt: int
    status_code: int | None = Field(description="What the receiver answered; null when it did not.")
    error: str | None
    duration_ms: int
    created_at: datetime


class CreditPricesOut(CamelModel, CreditPrices):
    """This deployment's prices, one per kind (and per set of eight stickers), as `CREDIT_PRICES` sets them."""


class LedgerEntryOut(CamelModel):
    amount: int = Field(description="Positive: a grant or a released hold; negative: a hold.")
    balance_after: int
    entry: Literal["grant", "hold", "release"]
    workflow_id: str | None
    note: str
    created_at: datetime


class CreditsOut(CamelModel):
    user_id: str
    balance: int = Field(description="Credits available now.")
    reserved: int = Field(description="Credits held by running jobs: charged if they deliver, returned if not.")
    prices: CreditPricesOut
    ledger: list[LedgerEntryOut] = Field(description="The latest movements, newest first.")


class CreditChange(CamelRequest):
    amount: WholeNumber = Field(
        description="Credits to add; negative takes them away, never below zero.",
        json_schema_extra={"not": {"const": 0}},
    )
    note: str = Field(default="", max_length=500)

    @field_validator("amount")
    @classmethod
    def _nonzero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("a grant of 0 credits does nothing")
        return value


class CreditGrant(CreditChange):
    user_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,97}$", description="A user, or an app's user as `<tenant>.<id>`.")


JobEventType = Literal["started", "stage", "ready", "failed", "cancelled", "reset"]


class JobEventOut(CamelModel):
    """An event of a user's (or a chat's) stream: a job started, changed stage, or ended; or a `reset`."""

    id: str = Field(
        description="The event's id (an integer, as a string), increasing; resume after it with `Last-Event-ID`"
        " or `lastEventId`."
    )
    event: JobEventType = Field(
        description="started: the job exists (stage queued); stage: its stage changed; ready: its image is at"
        " `status.resultUrl`; failed: `status.error` says why; cancelled; reset: the stream could not replay what"
        " was missed (`reason`): rebuild your view from `GET /api/v1/image-generation/jobs`."
    )
    job_id: UUID | None = Field(description="The job; null for a reset.")
    chat_id: str | None = Field(description="The job's chat (a scene's `chatId`); for a reset, the stream's.")
    status: JobStatusOut | None = Field(
        default=None, description="The job's status as `GET /status/{jobId}` gives it, at this event; null for a reset."
    )
    reason: str | None = Field(default=None, description="A reset's reason, in words.")
