"""Every setting comes from the environment, read in this one place."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CPU_TASK_QUEUE = "imagegen-cpu"
GPU_TASK_QUEUE = "imagegen-gpu"
# Where GPU workers take their presence activity (workflows/fleet.py), whose heartbeats carry their reports.
GPU_FLEET_TASK_QUEUE = "imagegen-gpu-fleet"
GPU_FLEET_WORKFLOW_ID = "gpu-fleet"


class CreditPrices(BaseModel):
    """What each job costs, from the design document; `CREDIT_PRICES` takes JSON with any of these."""

    avatar: int = Field(default=5, ge=0)
    sticker: int = Field(default=3, ge=0)
    sticker_set: int = Field(default=20, ge=0, description="A set of eight; n emotions cost ceil(stickerSet * n / 8).")
    cover: int = Field(default=8, ge=0)
    scene: int = Field(default=5, ge=0)

    def set_shares(self, count: int) -> list[int]:
        """A set's price split over its stickers (20 over 8: 3, 3, 3, 3, 2, 2, 2, 2): what each refunds."""
        total = -(-self.sticker_set * count // 8)
        return [total // count + (1 if i < total % count else 0) for i in range(count)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    temporal_address: str = Field(default="127.0.0.1:7233", description="Temporal's frontend (host:port).")
    temporal_namespace: str = "default"
    temporal_api_key: SecretStr | None = Field(default=None, description="Temporal Cloud API key (implies TLS).")
    temporal_tls: bool = Field(default=False, description="TLS with the system's trust store, no client certificate.")
    temporal_tls_cert: Path | None = Field(default=None, description="Client certificate (PEM) for mTLS.")
    temporal_tls_key: Path | None = Field(default=None, description="The client certificate's private key (PEM).")
    temporal_tls_ca: Path | None = Field(
        default=None, description="CA that signed the server's certificate (PEM), if not a public one."
    )
    temporal_tls_server_name: str | None = Field(
        default=None, description="Name the server's certificate must carry, when it differs from the address."
    )
    cpu_worker_workflow_tasks: int = Field(
        default=4,
        ge=1,
        description="Workflow tasks the CPU worker runs at once. Python runs them on one core; more only "
        "interleaves a burst's tasks so that all finish late (bench/throughput.py, first request to first render).",
    )
    shutdown_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM, how long a worker lets running activities finish before handing them back.",
    )
    metrics_port: int | None = Field(
        default=None, description="Workers: serve Prometheus metrics on this port (0.0.0.0); unset: none."
    )
    log_format: Literal["text", "json"] = Field(default="text", description="json: one JSON object per line.")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL; unset, the dev stack starts an embedded one (workers and the API need it).",
    )

    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint: R2 in production, moto_server locally."
    )
    s3_region: str = "auto"
    s3_access_key_id: str = Field(default="comfyloom", description="The dev stack's default; set it in production.")
    s3_secret_access_key: SecretStr = Field(
        default=SecretStr("comfyloom"),
        description="Never logged. A process refuses to start with this default, or an example file's change-me, "
        "unless storage is on a loopback address (the dev stack, tests).",
    )
    s3_session_token: str | None = Field(
        default=None, description="With temporary credentials, e.g. R2's scoped to staging/ for the GPU machine."
    )
    s3_bucket: str = "comfyloom-media"
    s3_upload_endpoint_url: str | None = Field(
        default=None,
        description="Storage's endpoint as the GPU machines reach it, for the upload URLs the cloud side signs for "
        "them (the GPU machine holds no storage credential); defaults to S3_ENDPOINT_URL.",
    )
    staging_url_max_seconds: int = Field(
        default=7 * 86_400,
        ge=1,
        le=7 * 86_400,
        description="Longest a signed staging upload URL is valid (it is valid until the job's GPU deadline, at most "
        "this; SigV4 allows 7 days). A render whose URL expired gets a new one, not a new render.",
    )
    public_base_url: str | None = Field(
        default=None, description="Base of public image URLs; defaults to endpoint/bucket."
    )

    comfyui_url: str = Field(
        default="http://127.0.0.1:8188", description="ComfyUI, as the GPU worker beside it reaches it."
    )
    comfyui_checkpoint: str = Field(
        default="waiNSFWIllustrious_v130.safetensors", description="The checkpoint templates that load one use."
    )
    comfyui_poll_seconds: float = Field(
        default=2.0, gt=0, description="History polling interval when the WebSocket is quiet."
    )

    gemini_api_key: SecretStr | None = Field(
        default=None, description="Without it, prompts are built untranslated and each job records a warning."
    )
    gemini_model: str = Field(
        default="gemini-2.5-flash-lite", description="Part of the cache key: another model asks again."
    )
    gemini_base_url: str | None = Field(default=None, description="Another Gemini endpoint, e.g. a proxy.")
    gemini_api_version: str = Field(default="v1beta", description="`v1` works too.")
    gemini_timeout_seconds: float = Field(
        default=20.0, gt=0, description="Per call; retries belong to build_prompt's policy."
    )
    translation_policy: Literal["warn", "wait", "fail"] = Field(
        default="warn",
        description="When Gemini cannot translate a prompt (no GEMINI_API_KEY, Gemini down or refusing): warn renders "
        "it untranslated with a warning (the dev stack's choice); wait holds the job, shown as "
        "waiting_for_translation, retrying until TRANSLATION_WAIT_SECONDS, then fails it; fail refuses the job at "
        "once. A failed job renders nothing and is charged nothing.",
    )
    translation_wait_seconds: int = Field(
        default=3600, ge=1, le=86_400, description="How long `wait` holds a job for Gemini before failing it."
    )
    content_blocklist: list[str] = Field(
        default=[], description="Phrases refused outright, on top of the built-in list (JSON list in the env)."
    )
    moderation_policy: Literal["off", "flag", "block"] = Field(
        default="block",
        description="What the CPU worker does with a generated image scoring at or above MODERATION_THRESHOLD: "
        "block it (not published, credits back), flag it (published, marked in the API and the WebP's XMP), "
        "or nothing (off). A request showing a minor is held to MODERATION_MINOR_THRESHOLD whatever this says.",
    )
    moderation_threshold: float = Field(
        default=0.8, ge=0, le=1, description="The classifier's score (P(unsafe)) from which the policy acts."
    )
    moderation_minor_threshold: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="For requests with any sign of a minor (an age under 18, a child word, Gemini's apparent age): "
        "an image scoring at or above it is blocked, under every policy.",
    )
    moderation_model: str = Field(
        default="open_nsfw",
        description="The output classifier: open_nsfw (bundled, onnxruntime), or package.module:factory "
        "returning an object with `name` and `score(PIL.Image) -> float`.",
    )

    sticker_background_removal: Literal["chroma", "rmbg"] = Field(
        default="chroma",
        description="chroma: a key-colour background cut out by the CPU worker (built-in ComfyUI nodes only); "
        "rmbg: ComfyUI-Easy-Use's RMBG node removes it on the GPU.",
    )
    webp_quality: int = Field(
        default=90, ge=1, le=100, description="Lossy WebP quality of published images (bench/images.py)."
    )
    webp_method: int = Field(
        default=2,
        ge=0,
        le=6,
        description="libwebp effort (bench/images.py): at q90, 2 encodes in half the time of 4, 8% smaller for "
        "avatars and covers, 10% larger for stickers, within 0.35 dB PSNR; 6 is 3-40x slower for 4-12% less.",
    )
    cover_face_detail: bool = Field(
        default=True,
        description="Covers get a FaceDetailer pass (ComfyUI-Impact-Pack and face_yolov8m.pt); "
        "off renders them with built-in nodes only.",
    )
    scene_max_pixels: int = Field(
        default=1024 * 1024,
        gt=0,
        description="Largest scene (width x height) this GPU may render; sizes come from the scene template.",
    )

    credit_prices: CreditPrices = Field(
        default=CreditPrices(),
        description="JSON with any of avatar, sticker, sticker_set (a set of eight), cover, scene.",
    )
    rate_limit_per_minute: int = Field(
        default=30, ge=0, description="New jobs a user may start per minute, across API replicas; 0: no limit."
    )
    max_concurrent_jobs: int = Field(
        default=4, ge=0, description="Jobs a user may have queued or running at once (a set counts once); 0: no limit."
    )
    idempotency_window_seconds: int = Field(
        default=10, ge=0, description="The same request body again within this window returns the same job; 0: off."
    )
    auto_scene_cooldown_seconds: int = Field(
        default=300,
        ge=0,
        description="A chat gets at most one automatic scene this often (scene/auto); a request sooner is answered "
        "not drawn, with when the next may be, without asking Gemini.",
    )
    auto_scene_min_messages: int = Field(
        default=4,
        ge=1,
        le=20,
        description="New messages a chat needs since its last automatic scene before another is judged.",
    )
    auto_scene_daily_cap: int = Field(
        default=20,
        ge=0,
        description="Automatic scenes a user may get per UTC day, apart from the scenes asked for; 0: none.",
    )

    task_priority: bool = Field(
        default=True,
        description="Start each run with its priority (by kind: chat scenes, stickers and avatars first, covers, "
        "then sticker sets) and its fairness key (the tenant of a service key, else the user), so a backlog on the "
        "GPU is served in that order; false: first come, first served (bench/fairness.py compares the two).",
    )
    fairness_weights: dict[str, float] = Field(
        default={},
        description='Shares of the GPU within one priority, by tenant or user (JSON, e.g. {"acme": 3}); 1 for '
        "anyone not named. Needs fairness on in Temporal (docs/OPERATIONS.md).",
    )
    gpu_fleet_size: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="GPU workers whose readiness reports health can show at once: one presence activity each in "
        "the gpu-fleet workflow, which the CPU worker starts. Read when the workflow starts.",
    )
    gpu_wait_deadline_seconds: int = Field(
        default=3600, gt=0, description="How long a job waits for a GPU worker before failing."
    )
    api_public_url: str = Field(default="http://127.0.0.1:8000", description="Base of the statusUrl a job's 202 gives.")
    webhook_allowed_networks: list[str] = Field(
        default=[],
        description="Networks (CIDR, JSON list) a webhook may be sent into besides public addresses; a URL "
        "that resolves to a private, loopback or link-local address is refused otherwise. The dev stack allows "
        '["127.0.0.0/8"].',
    )
    api_max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest request body the API reads; a larger one is a 413 before any of it is parsed.",
    )

    @field_validator("gemini_api_key", "temporal_api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        """`GEMINI_API_KEY=` (compose passes every key, set or not) means no key, not an empty one."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _client_certificate_pairs(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both for mTLS, or neither")
        if self.moderation_minor_threshold > self.moderation_threshold:
            raise ValueError("MODERATION_MINOR_THRESHOLD is the stricter one: at most MODERATION_THRESHOLD")
        return self

    def public_url(self, key: str) -> str:
        base = self.public_base_url or f"{(self.s3_endpoint_url or '').rstrip('/')}/{self.s3_bucket}"
        return f"{base.rstrip('/')}/{key}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
