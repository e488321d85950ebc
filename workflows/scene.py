"""SceneWorkflow: a chat scene of any number of characters, at one of the scene template's sizes."""

from __future__ import annotations

from temporalio import workflow

from workflows.generation import GenerationWorkflow

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts.requests import GenerationRequest, GenerationResult


@workflow.defn
class SceneWorkflow(GenerationWorkflow):
    @workflow.run
    async def run(self, request: GenerationRequest) -> GenerationResult:
        return await self.generate(request)
