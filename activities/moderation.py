"""moderate_image: the output classifier scores what would be published, and the deployment's policy acts.

It runs on the CPU worker after the render, while the GPU works on its next prompt. A block is recorded
as an `output` refusal here (once per job); the workflow then fails the job, which deletes the staged
objects and releases the credits.
"""

from __future__ import annotations

import asyncio
from functools import cache

import asyncpg
from temporalio import activity

from comfyloom import moderation
from comfyloom.contracts.images import ModerateRequest, Moderation, PublishRender
from comfyloom.db import refusals
from comfyloom.imaging import webp
from comfyloom.prompts.safety import Refusal
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore


@cache
def classifier(spec: str) -> moderation.Classifier:
    """One per process: the model loads once (about 0.2 s, 100 MB) and every activity shares it."""
    return moderation.load(spec)


def _score(model: moderation.Classifier, data: bytes) -> float:
    return model.score(moderation.as_shown(data))


async def judge(
    pool: asyncpg.Pool, settings: Settings, request: ModerateRequest | PublishRender, model: str, score: float
) -> Moderation:
    """The policy's verdict on a score; a block is recorded as an `output` refusal (once per job)."""
    minor = bool(request.minor_signals)
    verdict = moderation.decide(
        score,
        model=model,
        policy=settings.moderation_policy,
        threshold=settings.moderation_threshold,
        minor_threshold=settings.moderation_minor_threshold,
        minor=minor,
    )
    activity.logger.info("job %s: %s scored %.3f, %s", request.job_id, verdict.model, verdict.score, verdict.action)
    if verdict.action == "block":
        refused = Refusal(reason=verdict.reason(), fields=[], matched=request.minor_signals)
        await refusals.record(
            pool,
            refused,
            user_id=request.user_id,
            kind=request.kind.value,
            stage="output",
            job_id=request.job_id,
            model=verdict.model,
            score=verdict.score,
        )
    return verdict


def flagged_fields(verdict: Moderation) -> dict[str, str]:
    """What a flagged image carries in its XMP: the classifier's verdict, for whoever reads the file."""
    shown = verdict.model_dump(include={"model", "score", "label", "action"})
    return {f"moderation{k.title()}": str(v) for k, v in shown.items()}


def needed(settings: Settings, request: ModerateRequest | PublishRender) -> bool:
    """Whether to classify at all: not when the policy is off and the request showed no minor."""
    return settings.moderation_policy != "off" or bool(request.minor_signals)


class ModerationActivities:
    def __init__(self, pool: asyncpg.Pool, store: ObjectStore, settings: Settings) -> None:
        self._pool = pool
        self._store = store
        self._settings = settings

    @activity.defn(name="moderate_image")
    async def moderate_image(self, request: ModerateRequest) -> Moderation | None:
        """None when the policy is off and the request showed no minor: nothing was classified."""
        if not needed(self._settings, request):
            return None
        model = await asyncio.to_thread(classifier, self._settings.moderation_model)
        images = [await self._store.get(key) for key in request.keys]
        scores = [await asyncio.to_thread(_score, model, data) for data in images]
        verdict = await judge(self._pool, self._settings, request, model.name, max(scores))
        if verdict.action == "flag":
            fields = flagged_fields(verdict)
            for key, data in zip(request.keys, images, strict=True):
                await self._store.put(key, webp.add_xmp_fields(data, fields), "image/webp")
        return verdict
