"""A workflow per kind of image, each the one pipeline (workflows/generation.py) under its kind's name, so the
Temporal Web UI shows what ran. A new kind adds its class here and to `KIND_WORKFLOWS`."""

from __future__ import annotations

from temporalio import workflow

from workflows.generation import GenerationWorkflow

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts.requests import AvatarRequest, CoverRequest, GenerationResult, SceneRequest, StickerRequest


@workflow.defn
class AvatarWorkflow(GenerationWorkflow):
    """One character portrait, 768x768, from prompt to a public WebP and a ready DB row."""

    @workflow.run
    async def run(self, request: AvatarRequest) -> GenerationResult:
        return await self.generate(request)


@workflow.defn
class StickerWorkflow(GenerationWorkflow):
    """One emotion sticker, background cut away, plus a messenger-ready 512x512 WebP."""

    @workflow.run
    async def run(self, request: StickerRequest) -> GenerationResult:
        return await self.generate(request)


@workflow.defn
class CoverWorkflow(GenerationWorkflow):
    """A story's 1024x1024 cover, face-detailed unless COVER_FACE_DETAIL is off."""

    @workflow.run
    async def run(self, request: CoverRequest) -> GenerationResult:
        return await self.generate(request)


@workflow.defn
class SceneWorkflow(GenerationWorkflow):
    """A chat scene of any number of characters, at one of the scene template's sizes."""

    @workflow.run
    async def run(self, request: SceneRequest) -> GenerationResult:
        return await self.generate(request)


KIND_WORKFLOWS = [AvatarWorkflow, StickerWorkflow, CoverWorkflow, SceneWorkflow]
