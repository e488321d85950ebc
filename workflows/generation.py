"""The one pipeline every kind of image runs: prompt, render, convert, moderate, publish, record; compensate on
failure.

Each kind's workflow is a thin subclass of `GenerationWorkflow`, named for the Temporal Web UI; what
differs between kinds is data in the `GenerationRequest` (template, size, background), not steps.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

from activities import steps
from workflows.failures import failure_reason, failure_type, is_cancellation
from workflows.outcomes import record_outcome
from workflows.progress import ReportsProgress
from workflows.render import render
from workflows.runner import run_step
from workflows.webhook import announce_end

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts.domain import Stage
    from comfyloom.contracts.images import (
        ClearStaging,
        ConvertedImage,
        ConvertRequest,
        ModerateRequest,
        Moderation,
        PublishedImage,
        PublishItem,
        PublishRender,
        PublishRequest,
    )
    from comfyloom.contracts.jobs import FailJob, FinishJob, OpenJob
    from comfyloom.contracts.prompt import PromptSpec
    from comfyloom.contracts.render import RenderRequest, RenderResult
    from comfyloom.contracts.requests import GenerationRequest, GenerationResult
    from comfyloom.errors import ErrorType, failure
    from comfyloom.kinds import KINDS
    from comfyloom.object_keys import staging_prefix
    from workflows.patches import (
        FEWER_STEPS,
        JOB_ID_IN_KEYS,
        KEEP_STAGING_UNTIL_RECORDED,
        MODERATE_OUTPUT,
        READY_BEFORE_CLEARING,
    )


class GenerationWorkflow(ReportsProgress):
    def __init__(self) -> None:
        super().__init__()
        # Public keys this run may have written, deleted by the compensation; none once the job is ready.
        self._published: list[str] = []
        self._fewer_steps = False

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        staging = staging_prefix(workflow.info().workflow_id)
        # Asked before the run's first command, not where its branches are: a patch asked right after a local
        # activity can fall in another workflow task on replay than it did when run (the activity's result came
        # after its task was completed, on a split task), and the replay then fails. Runs with it started after
        # every earlier patch, so it implies them, and they are not asked (no marker each).
        self._fewer_steps = workflow.patched(FEWER_STEPS.id)
        try:
            await run_step(steps.open_job, OpenJob(job_id=request.job_id, user_id=request.user_id, price=request.price))
            prompt = await self._prompt(request)
            seed = request.seed if request.seed is not None else workflow.random().randint(0, 2**48)
            rendered = await self._render(request, prompt, seed)
            if self._fewer_steps:
                converted, moderation, images = await self._publish_render(request, prompt, seed, rendered)
            else:
                converted = await self._convert(request, prompt, seed, rendered, staging)
                moderation = await self._moderate(request, prompt, converted)
                images = await self._publish(request, converted)
            result = await self._record(request, prompt, seed, rendered, converted, images, moderation)
            await self._clear_staging(staging)
        except (FailureError, asyncio.CancelledError) as e:
            await self._fail(request, staging, e)
            raise
        self._stage(Stage.done, result_url=result.url)
        record_outcome(request.kind.value, "ready")
        await announce_end(request.webhook, request.job_id)
        return result

    async def _prompt(self, request: GenerationRequest) -> PromptSpec:
        self._stage(Stage.building_prompt)
        if self._fewer_steps:
            cached = await run_step(steps.build_cached_prompt, request.prompt_request(), summary=request.kind.value)
            if cached is not None:
                return cached
        return await run_step(steps.build_prompt, request.prompt_request(), summary=request.kind.value)

    async def _render(self, request: GenerationRequest, prompt: PromptSpec, seed: int) -> RenderResult:
        self._stage(Stage.rendering)
        return await render(
            RenderRequest(
                workflow_id=workflow.info().workflow_id,
                step="render",
                template=request.template,
                positive=prompt.positive,
                negative=prompt.negative,
                seed=seed,
                width=request.width,
                height=request.height,
                loras=prompt.loras,
            ),
            gpu_deadline=timedelta(seconds=request.gpu_wait_deadline_seconds),
            since_fewer_steps=self._fewer_steps,
        )

    async def _publish_render(
        self, request: GenerationRequest, prompt: PromptSpec, seed: int, rendered: RenderResult
    ) -> tuple[ConvertedImage, Moderation | None, list[PublishedImage]]:
        """The render converted, moderated and published in one step (`publish_render`): decoded once, scored
        while encoded, written to its public keys only if the policy allows.

        Raises:
            ApplicationError: `ContentBlocked`, saying why; nothing was published.
        """
        self._stage(Stage.converting)
        image_key, messenger_key = self._public_keys(request)
        out = await run_step(
            steps.publish_render,
            PublishRender(
                source_key=rendered.images[0].key,
                image_key=image_key,
                messenger_key=messenger_key,
                background=request.background,
                expected_width=request.width,
                expected_height=request.height,
                metadata=self._metadata(request, prompt, seed),
                job_id=request.job_id,
                user_id=request.user_id,
                kind=request.kind,
                minor_signals=prompt.minor_signals,
            ),
            summary=f"{request.width}x{request.height}, {request.background} background -> {image_key}",
        )
        if out.moderation is not None and out.moderation.action == "block":
            raise failure(ErrorType.content_blocked, out.moderation.reason())
        return out.converted, out.moderation, out.images

    def _public_keys(self, request: GenerationRequest) -> tuple[str, str | None]:
        """The job's public keys, from the run's start, not the clock: a CPU worker killed after publishing runs
        the post-render steps again, and they must write the same objects. Kept for the compensation."""
        started = workflow.info().start_time
        by_job = request.job_id if self._fewer_steps or workflow.patched(JOB_ID_IN_KEYS.id) else None
        image_key, messenger_key = KINDS[request.kind].public_keys(request, int(started.timestamp() * 1000), by_job)
        self._published = [image_key, *([messenger_key] if messenger_key else [])]
        return image_key, messenger_key

    @staticmethod
    def _metadata(request: GenerationRequest, prompt: PromptSpec, seed: int) -> dict[str, str]:
        """The image's provenance, written in its XMP."""
        return {
            "prompt": prompt.positive,
            "negativePrompt": prompt.negative,
            "seed": str(seed),
            "character": ",".join(str(c) for c in request.character_ids),
            **({"story": str(request.story_id)} if request.story_id else {}),
            "workflowId": workflow.info().workflow_id,
            "timestamp": workflow.info().start_time.isoformat(),
        }

    async def _convert(
        self, request: GenerationRequest, prompt: PromptSpec, seed: int, rendered: RenderResult, staging: str
    ) -> ConvertedImage:
        """Runs from before `fewer-steps`: the render as WebP (and a sticker's messenger variant), staged."""
        self._stage(Stage.converting)
        workflow.deprecate_patch(KEEP_STAGING_UNTIL_RECORDED.id)
        _, messenger_key = self._public_keys(request)
        return await run_step(
            steps.convert_webp,
            ConvertRequest(
                source_key=rendered.images[0].key,
                target_key=f"{staging}{request.kind.value}.webp",
                messenger_key=f"{staging}{request.kind.value}_512.webp" if messenger_key else None,
                background=request.background,
                expected_width=request.width,
                expected_height=request.height,
                metadata=self._metadata(request, prompt, seed),
            ),
            summary=f"{request.width}x{request.height}, {request.background} background",
        )

    async def _moderate(
        self, request: GenerationRequest, prompt: PromptSpec, converted: ConvertedImage
    ) -> Moderation | None:
        """Score exactly what would be published; a block ends the job with nothing published.

        Raises:
            ApplicationError: `ContentBlocked`, saying why.
        """
        workflow.deprecate_patch(MODERATE_OUTPUT.id)
        staged = [converted.key, *([converted.messenger_key] if converted.messenger_key else [])]
        moderation = await run_step(
            steps.moderate_image,
            ModerateRequest(
                job_id=request.job_id,
                user_id=request.user_id,
                kind=request.kind,
                keys=staged,
                minor_signals=prompt.minor_signals,
            ),
            summary=", ".join(staged),
        )
        if moderation is not None and moderation.action == "block":
            raise failure(ErrorType.content_blocked, moderation.reason())
        return moderation

    async def _publish(self, request: GenerationRequest, converted: ConvertedImage) -> list[PublishedImage]:
        self._stage(Stage.uploading)
        image_key, *messenger = self._published
        items = [PublishItem(staged_key=converted.key, public_key=image_key)]
        if messenger and converted.messenger_key:
            items.append(PublishItem(staged_key=converted.messenger_key, public_key=messenger[0]))
        self._published = [item.public_key for item in items]
        return await run_step(
            steps.publish_image,
            PublishRequest(items=items, job_id=request.job_id),
            summary=", ".join(self._published),
        )

    async def _record(
        self,
        request: GenerationRequest,
        prompt: PromptSpec,
        seed: int,
        rendered: RenderResult,
        converted: ConvertedImage,
        images: list[PublishedImage],
        moderation: Moderation | None,
    ) -> GenerationResult:
        """The job ready, in the workflow task that published it: from here its images are its own, and
        nothing below may fail it or delete them."""
        if not self._fewer_steps:  # implied, like the patches it asks no more (a marker and an upsert fewer)
            workflow.deprecate_patch(READY_BEFORE_CLEARING.id)
        self._stage(Stage.saving)
        result = await run_step(
            steps.finish_job,
            FinishJob(
                request=request,
                image=images[0],
                messenger=images[1] if len(images) > 1 else None,
                converted=converted,
                prompt=prompt,
                seed=seed,
                template_sha256=rendered.template_sha256,
                checkpoint=rendered.checkpoint,
                moderation=moderation,
                render_seconds=rendered.render_seconds,
                worker=rendered.worker,
            ),
        )
        self._published = []
        return result

    @staticmethod
    async def _clear_staging(staging: str) -> None:
        """The staged render and WebP of a job already ready, in an activity of its own: the workflow task that
        ran convert, publish and record is recorded before their input goes, so a crash never runs them again.
        Tried for ten minutes (workflows/policies.py); storage down that long leaves them for the operator."""
        try:
            await run_step(steps.clear_staging, ClearStaging(staging_prefix=staging), summary=staging)
        except ActivityError as e:
            workflow.logger.error("staging %s not cleared: %s", staging, failure_reason(e))

    async def _fail(self, request: GenerationRequest, staging: str, error: BaseException) -> None:
        """The job failed or cancelled, with a reason its user can read: credits back, its objects deleted."""
        cancelled = is_cancellation(error)
        reason = "cancelled" if cancelled else failure_reason(error)
        self._stage(Stage.cancelled if cancelled else Stage.failed, error=reason)
        kind_of_failure = failure_type(error)
        record_outcome(request.kind.value, "cancelled" if cancelled else "failed", kind_of_failure)
        await run_step(
            steps.fail_job,
            FailJob(
                job_id=request.job_id,
                staging_prefix=staging,
                error=reason,
                cancelled=cancelled,
                published_keys=self._published,
                reason=kind_of_failure,
            ),
        )
        await announce_end(request.webhook, request.job_id)
