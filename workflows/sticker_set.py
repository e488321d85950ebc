"""StickerSetWorkflow: one child StickerWorkflow per emotion, run side by side; a failed sticker never fails the others.

Child ids are `{set workflow id}-{emotion}-{child job id prefix}`: deterministic, and distinct for a
retry, which runs this workflow again (same id, new run) for the failed emotions only.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from temporalio import workflow
from temporalio.common import TypedSearchAttributes
from temporalio.exceptions import ChildWorkflowError

from activities import steps
from workflows.failures import failure_reason
from workflows.kinds import StickerWorkflow
from workflows.progress import ReportsProgress, searchable
from workflows.runner import run_step
from workflows.webhook import announce_end

with workflow.unsafe.imports_passed_through():
    from comfyloom import search
    from comfyloom.contracts.domain import Emotion, ImageKind, Stage
    from comfyloom.contracts.jobs import JobRef, OpenJob
    from comfyloom.contracts.requests import (
        StickerOutcome,
        StickerRequest,
        StickerSetChild,
        StickerSetRequest,
        StickerSetSummary,
    )


def set_workflow_id(set_job_id: UUID) -> str:
    return f"sticker-set-{set_job_id}"


def child_workflow_id(set_workflow_id: str, emotion: Emotion, job_id: UUID) -> str:
    return f"{set_workflow_id}-{emotion.value}-{str(job_id)[:8]}"


@workflow.defn
class StickerSetWorkflow(ReportsProgress):
    async def _sticker(self, request: StickerSetRequest, index: int, child: StickerSetChild) -> StickerOutcome:
        sticker = StickerRequest(
            job_id=child.job_id,
            user_id=request.user_id,
            character_ids=[request.character_id],
            emotion=child.emotion,
            template=request.template,
            width=request.width,
            height=request.height,
            background=request.background,
            # A fixed seed reproduces the whole set; each emotion still gets its own.
            seed=request.seed + index if request.seed is not None else None,
            loras=request.loras,
            gpu_wait_deadline_seconds=request.gpu_wait_deadline_seconds,
            price=child.price,
        )
        child_id = child_workflow_id(workflow.info().workflow_id, child.emotion, child.job_id)
        try:
            result = await workflow.execute_child_workflow(
                StickerWorkflow.run,
                sticker,
                id=child_id,
                static_summary=f"Sticker: {child.emotion.value}",
                search_attributes=search.for_job(request.user_id, ImageKind.sticker.value, [request.character_id])
                if searchable()
                else TypedSearchAttributes.empty,
            )
        except ChildWorkflowError as e:
            return StickerOutcome(emotion=child.emotion, job_id=child.job_id, ready=False, error=failure_reason(e))
        return StickerOutcome(
            emotion=child.emotion,
            job_id=child.job_id,
            ready=True,
            url=result.url,
            messenger_url=result.messenger_url,
        )

    @workflow.run
    async def run(self, request: StickerSetRequest) -> StickerSetSummary:
        await run_step(steps.open_job, OpenJob(job_id=request.set_job_id, user_id=request.user_id))
        self._stage(Stage.rendering)
        try:
            # Cancelling the set cancels every child and waits until each has closed itself (and released
            # its credits); then the set closes what never started.
            outcomes = await asyncio.gather(
                *(self._sticker(request, i, child) for i, child in enumerate(request.children))
            )
        except asyncio.CancelledError:
            self._stage(Stage.cancelled, error="cancelled")
            await run_step(steps.cancel_set, JobRef(job_id=request.set_job_id))
            await announce_end(request.webhook, request.set_job_id)
            raise
        summary = StickerSetSummary(set_job_id=request.set_job_id, stickers=list(outcomes))
        await run_step(steps.finish_set, summary)
        error = summary.error()
        self._stage(Stage.failed if error else Stage.done, error=error)
        await announce_end(request.webhook, request.set_job_id)
        return summary
