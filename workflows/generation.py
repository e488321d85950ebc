"""The one pipeline every kind of image runs: prompt, render, convert, publish, record; compensate on failure.

Each kind's workflow is a thin subclass of `GenerationWorkflow`, named for the Temporal Web UI; what
differs between kinds is data in the `GenerationRequest` (template, size, background), not steps.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

from activities import steps
from workflows.pipeline import failure_reason, failure_type, is_cancellation, record_outcome, render, run_step
from workflows.progress import ReportsProgress
from workflows.webhook import announce_end

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts import (
        ClearStaging,
        ConvertRequest,
        FailJob,
        FinishJob,
        GenerationRequest,
        GenerationResult,
        ModerateRequest,
        OpenJob,
        PublishItem,
        PublishRequest,
        RenderRequest,
        Stage,
    )
    from comfyloom.errors import ErrorType, failure
    from comfyloom.kinds import KINDS
    from comfyloom.object_keys import staging_prefix


# Marks runs whose post-render steps can run again after a CPU worker dies mid-way (keys fixed from the run's
# start, staging cleared after the record); runs recorded before it replay as they were.
KEEP_STAGING_UNTIL_RECORDED = "keep-staging-until-recorded"
# Marks runs whose converted images are moderated before they are published; older runs publish unchecked.
MODERATE_OUTPUT = "moderate-output"
# Marks runs that record the job ready in the workflow task that published it, and clear staging after: the
# user waits one activity and one workflow task less. Older runs cleared staging first.
READY_BEFORE_CLEARING = "ready-before-clearing-staging"
# Marks runs whose public keys name the job as well as the run's start: two runs whose first tasks started in
# one millisecond published to one key, the later overwriting the earlier's image. Older runs keep their keys.
JOB_ID_IN_KEYS = "job-id-in-keys"


def public_keys(request: GenerationRequest, timestamp_ms: int, *, by_job: bool) -> tuple[str, str | None]:
    """Where the image (and a sticker's messenger variant) is published; workflow time makes retries agree."""
    return KINDS[request.kind].public_keys(request, timestamp_ms, request.job_id if by_job else None)


class GenerationWorkflow(ReportsProgress):
    async def generate(self, request: GenerationRequest) -> GenerationResult:
        workflow_id = workflow.info().workflow_id
        staging = staging_prefix(workflow_id)
        published: list[str] = []
        try:
            await run_step(
                steps.open_job,
                OpenJob(job_id=request.job_id, user_id=request.user_id, price=request.price),
            )
            self._stage(Stage.building_prompt)
            prompt = await run_step(steps.build_prompt, request.prompt_request(), summary=request.kind.value)
            seed = request.seed if request.seed is not None else workflow.random().randint(0, 2**48)
            self._stage(Stage.rendering)
            rendered = await render(
                RenderRequest(
                    workflow_id=workflow_id,
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
            )
            self._stage(Stage.converting)
            # Since KEEP_STAGING_UNTIL_RECORDED, keys come from the run's start, not the clock: a CPU worker killed
            # after publishing runs convert, publish and record again, and they must write the same objects.
            keep_staging = workflow.patched(KEEP_STAGING_UNTIL_RECORDED)
            now = workflow.info().start_time if keep_staging else workflow.now()
            by_job = workflow.patched(JOB_ID_IN_KEYS)
            image_key, messenger_key = public_keys(request, int(now.timestamp() * 1000), by_job=by_job)
            if keep_staging:
                published = [image_key, *([messenger_key] if messenger_key else [])]
            converted = await run_step(
                steps.convert_webp,
                ConvertRequest(
                    source_key=rendered.images[0].key,
                    target_key=f"{staging}{request.kind.value}.webp",
                    messenger_key=f"{staging}{request.kind.value}_512.webp" if messenger_key else None,
                    background=request.background,
                    expected_width=request.width,
                    expected_height=request.height,
                    metadata={
                        "prompt": prompt.positive,
                        "negativePrompt": prompt.negative,
                        "seed": str(seed),
                        "character": ",".join(str(c) for c in request.character_ids),
                        **({"story": str(request.story_id)} if request.story_id else {}),
                        "workflowId": workflow_id,
                        "timestamp": now.isoformat(),
                    },
                ),
                summary=f"{request.width}x{request.height}, {request.background} background",
            )
            moderation = None
            if workflow.patched(MODERATE_OUTPUT):
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
            self._stage(Stage.uploading)
            items = [PublishItem(staged_key=converted.key, public_key=image_key)]
            if messenger_key and converted.messenger_key:
                items.append(PublishItem(staged_key=converted.messenger_key, public_key=messenger_key))
            published = [item.public_key for item in items]
            images = await run_step(
                steps.publish_image,
                PublishRequest(items=items, staging_prefix=None if keep_staging else staging, job_id=request.job_id),
                summary=", ".join(published),
            )
            ready_first = keep_staging and workflow.patched(READY_BEFORE_CLEARING)
            if keep_staging and not ready_first:
                # An activity of its own: the workflow task that ran convert and publish is recorded before
                # their input goes, so a crash from here on never runs them again.
                await run_step(steps.clear_staging, ClearStaging(staging_prefix=staging), summary=staging)
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
                ),
            )
            if ready_first:
                # The job is ready and its images are its own: nothing below may fail it or delete them.
                published = []
                await self._clear_staging(staging)
        except (FailureError, asyncio.CancelledError) as e:
            cancelled = is_cancellation(e)
            reason = "cancelled" if cancelled else failure_reason(e)
            self._stage(Stage.cancelled if cancelled else Stage.failed, error=reason)
            record_outcome(request.kind.value, "cancelled" if cancelled else "failed", failure_type(e))
            await run_step(
                steps.fail_job,
                FailJob(
                    job_id=request.job_id,
                    staging_prefix=staging,
                    error=reason,
                    cancelled=cancelled,
                    published_keys=published,
                ),
            )
            await announce_end(request.webhook, request.job_id)
            raise
        self._stage(Stage.done, result_url=result.url)
        record_outcome(request.kind.value, "ready")
        await announce_end(request.webhook, request.job_id)
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
