"""StickerWorkflow: one emotion sticker, background cut away, plus a messenger-ready 512x512 WebP."""

from __future__ import annotations

from temporalio import workflow

from workflows.generation import GenerationWorkflow

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts.requests import GenerationRequest, GenerationResult


@workflow.defn
class StickerWorkflow(GenerationWorkflow):
    @workflow.run
    async def run(self, request: GenerationRequest) -> GenerationResult:
        return await self.generate(request)
