"""CoverWorkflow: a story's 1024x1024 cover, face-detailed unless COVER_FACE_DETAIL is off."""

from __future__ import annotations

from temporalio import workflow

from workflows.generation import GenerationWorkflow

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts.requests import GenerationRequest, GenerationResult


@workflow.defn
class CoverWorkflow(GenerationWorkflow):
    @workflow.run
    async def run(self, request: GenerationRequest) -> GenerationResult:
        return await self.generate(request)
