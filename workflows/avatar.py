"""AvatarWorkflow: one character portrait, 768x768, from prompt to a public WebP and a ready DB row."""

from __future__ import annotations

from temporalio import workflow

from workflows.generation import GenerationWorkflow

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts.requests import GenerationRequest, GenerationResult


@workflow.defn
class AvatarWorkflow(GenerationWorkflow):
    @workflow.run
    async def run(self, request: GenerationRequest) -> GenerationResult:
        return await self.generate(request)
