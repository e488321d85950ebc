"""What a workflow knows of the activities: each one's name and signature, as a stub. Workflows and the
API import this, never the implementations (which load PIL, google-genai, boto3 and the ComfyUI client);
the workers register the implementations under the same names.
`tests/activities/test_steps.py` keeps each stub's signature equal to its implementation's.
"""

from __future__ import annotations

from temporalio import activity

from comfyloom.contracts.chat import MomentQuestion, MomentVerdict
from comfyloom.contracts.health import PresenceSlot, Renderable, RenderableQuery
from comfyloom.contracts.images import (
    ClearStaging,
    ConvertedImage,
    ConvertRequest,
    ModerateRequest,
    Moderation,
    PublishedImage,
    PublishRender,
    PublishRequest,
    RenderPublished,
)
from comfyloom.contracts.jobs import FailJob, FinishJob, JobRef, OpenJob
from comfyloom.contracts.prompt import PromptRequest, PromptSpec
from comfyloom.contracts.render import (
    AwaitRequest,
    QueuedPrompt,
    RenderRequest,
    RenderResult,
    SignedUpload,
    SignStaging,
)
from comfyloom.contracts.requests import GenerationResult, StickerSetSummary
from comfyloom.contracts.webhooks import WebhookDelivery


@activity.defn(name="open_job")
async def open_job(job: OpenJob) -> None:
    raise NotImplementedError("a stub: the worker runs activities.jobs.JobActivities.open_job")


@activity.defn(name="build_cached_prompt")
async def build_cached_prompt(request: PromptRequest) -> PromptSpec | None:
    raise NotImplementedError("a stub: the worker runs activities.prompt.PromptActivities.build_cached_prompt")


@activity.defn(name="build_prompt")
async def build_prompt(request: PromptRequest) -> PromptSpec:
    raise NotImplementedError("a stub: the worker runs activities.prompt.PromptActivities.build_prompt")


@activity.defn(name="judge_moment")
async def judge_moment(question: MomentQuestion) -> MomentVerdict:
    raise NotImplementedError("a stub: the worker runs activities.chat_moments.MomentActivities.judge_moment")


@activity.defn(name="check_renderable")
async def check_renderable(query: RenderableQuery) -> Renderable:
    raise NotImplementedError("a stub: the worker runs activities.fleet.FleetActivities.check_renderable")


@activity.defn(name="queue_comfy_prompt")
async def queue_comfy_prompt(request: RenderRequest) -> QueuedPrompt:
    raise NotImplementedError("a stub: the worker runs activities.comfy.ComfyActivities.queue_comfy_prompt")


@activity.defn(name="sign_staging")
async def sign_staging(request: SignStaging) -> list[SignedUpload]:
    raise NotImplementedError("a stub: the worker runs activities.staging.StagingActivities.sign_staging")


@activity.defn(name="await_comfy_result")
async def await_comfy_result(request: AwaitRequest) -> RenderResult:
    raise NotImplementedError("a stub: the worker runs activities.comfy.ComfyActivities.await_comfy_result")


@activity.defn(name="publish_render")
async def publish_render(request: PublishRender) -> RenderPublished:
    raise NotImplementedError("a stub: the worker runs activities.images.ImageActivities.publish_render")


@activity.defn(name="convert_webp")
async def convert_webp(request: ConvertRequest) -> ConvertedImage:
    raise NotImplementedError("a stub: the worker runs activities.images.ImageActivities.convert_webp")


@activity.defn(name="moderate_image")
async def moderate_image(request: ModerateRequest) -> Moderation | None:
    raise NotImplementedError("a stub: the worker runs activities.moderation.ModerationActivities.moderate_image")


@activity.defn(name="publish_image")
async def publish_image(request: PublishRequest) -> list[PublishedImage]:
    raise NotImplementedError("a stub: the worker runs activities.publish.PublishActivities.publish_image")


@activity.defn(name="clear_staging")
async def clear_staging(request: ClearStaging) -> None:
    raise NotImplementedError("a stub: the worker runs activities.publish.PublishActivities.clear_staging")


@activity.defn(name="finish_job")
async def finish_job(finish: FinishJob) -> GenerationResult:
    raise NotImplementedError("a stub: the worker runs activities.jobs.JobActivities.finish_job")


@activity.defn(name="finish_set")
async def finish_set(summary: StickerSetSummary) -> None:
    raise NotImplementedError("a stub: the worker runs activities.jobs.JobActivities.finish_set")


@activity.defn(name="cancel_set")
async def cancel_set(ref: JobRef) -> None:
    raise NotImplementedError("a stub: the worker runs activities.jobs.JobActivities.cancel_set")


@activity.defn(name="fail_job")
async def fail_job(fail: FailJob) -> None:
    raise NotImplementedError("a stub: the worker runs activities.jobs.JobActivities.fail_job")


@activity.defn(name="gpu_worker_presence")
async def gpu_worker_presence(slot: PresenceSlot) -> None:
    raise NotImplementedError("a stub: the GPU worker runs activities.presence.PresenceActivities.gpu_worker_presence")


# The GPU worker's steps, by name (the API reads their state from Temporal).
GPU_STEPS = {queue_comfy_prompt.__name__, await_comfy_result.__name__}


@activity.defn(name="deliver_webhook")
async def deliver_webhook(delivery: WebhookDelivery) -> int:
    raise NotImplementedError("a stub: the worker runs activities.webhooks.WebhookActivities.deliver_webhook")
