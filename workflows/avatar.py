"""AvatarWorkflow: one character portrait, from prompt to a public WebP and a ready DB row."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.images import ImageActivities
    from activities.jobs import JobActivities
    from activities.prompt import PromptActivities
    from activities.publish import PublishActivities
    from comfyloom.contracts import (
        AvatarRequest,
        ConvertRequest,
        FailJob,
        FinishJob,
        GenerationResult,
        ImageKind,
        JobRef,
        Progress,
        PromptRequest,
        PublishRequest,
        RenderRequest,
        Stage,
    )
    from comfyloom.keys import avatar_key, staging_prefix
    from workflows.pipeline import failure_reason, is_cancellation, render, run

TEMPLATE = "avatar"
WIDTH, HEIGHT = 768, 768


@workflow.defn
class AvatarWorkflow:
    def __init__(self) -> None:
        self._progress = Progress(stage=Stage.queued)

    @workflow.query
    def progress(self) -> Progress:
        return self._progress

    def _stage(self, stage: Stage) -> None:
        self._progress = self._progress.model_copy(update={"stage": stage})

    @workflow.run
    async def run(self, request: AvatarRequest) -> GenerationResult:
        workflow_id = workflow.info().workflow_id
        staging = staging_prefix(workflow_id)
        published_key: str | None = None
        try:
            await run(JobActivities.open_job, JobRef(job_id=request.job_id))
            self._stage(Stage.building_prompt)
            prompt = await run(
                PromptActivities.build_prompt,
                PromptRequest(
                    job_id=request.job_id,
                    user_id=request.user_id,
                    kind=ImageKind.avatar,
                    character_ids=[request.character_id],
                    loras=request.loras,
                ),
            )
            seed = request.seed if request.seed is not None else workflow.random().randint(0, 2**48)
            self._stage(Stage.rendering)
            rendered = await render(
                RenderRequest(
                    workflow_id=workflow_id,
                    step="render",
                    template=TEMPLATE,
                    positive=prompt.positive,
                    negative=prompt.negative,
                    seed=seed,
                    width=WIDTH,
                    height=HEIGHT,
                    loras=prompt.loras,
                ),
                gpu_deadline=timedelta(seconds=request.gpu_wait_deadline_seconds),
            )
            self._stage(Stage.converting)
            now = workflow.now()
            converted = await run(
                ImageActivities.convert_webp,
                ConvertRequest(
                    source_key=rendered.images[0].key,
                    target_key=f"{staging}avatar.webp",
                    metadata={
                        "prompt": prompt.positive,
                        "negativePrompt": prompt.negative,
                        "seed": str(seed),
                        "character": str(request.character_id),
                        "workflowId": workflow_id,
                        "timestamp": now.isoformat(),
                    },
                ),
            )
            self._stage(Stage.uploading)
            published_key = avatar_key(request.user_id, request.character_id, int(now.timestamp() * 1000))
            published = await run(
                PublishActivities.publish_image,
                PublishRequest(staged_key=converted.key, public_key=published_key, staging_prefix=staging),
            )
            self._stage(Stage.saving)
            result = await run(
                JobActivities.finish_job,
                FinishJob(
                    job_id=request.job_id,
                    character_id=request.character_id,
                    kind=ImageKind.avatar,
                    image=published,
                    converted=converted,
                    prompt=prompt,
                    seed=seed,
                    template=TEMPLATE,
                    template_sha256=rendered.template_sha256,
                    checkpoint=rendered.checkpoint,
                ),
            )
        except (FailureError, asyncio.CancelledError) as e:
            cancelled = is_cancellation(e)
            reason = "cancelled" if cancelled else failure_reason(e)
            self._progress = Progress(stage=Stage.cancelled if cancelled else Stage.failed, error=reason)
            await run(
                JobActivities.fail_job,
                FailJob(
                    job_id=request.job_id,
                    staging_prefix=staging,
                    error=reason,
                    cancelled=cancelled,
                    published_key=published_key,
                ),
            )
            raise
        self._progress = Progress(stage=Stage.done, result_url=result.url)
        return result
