"""The CPU worker's work on a staged render's pixels: `publish_render` (decoded once: encoded while scored,
published if allowed), and `convert_webp`, the first of the three steps runs from before it still take."""

from __future__ import annotations

import asyncio
from functools import partial

import asyncpg
from temporalio import activity

from activities import moderation as moderating
from activities.publish import publish_new
from comfyloom import moderation
from comfyloom.contracts.images import (
    ConvertedImage,
    ConvertRequest,
    PublishedImage,
    PublishRender,
    RenderPublished,
    StagedRender,
)
from comfyloom.errors import ErrorType, failure
from comfyloom.imaging import webp
from comfyloom.imaging.checks import InvalidImage
from comfyloom.imaging.process import Processed, Score, process
from comfyloom.object_keys import STAGED_RENDER_MAX_BYTES
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore


class ImageActivities:
    def __init__(self, store: ObjectStore, pool: asyncpg.Pool, settings: Settings) -> None:
        self._store = store
        self._pool = pool
        self._settings = settings

    @activity.defn(name="publish_render")
    async def publish_render(self, request: PublishRender) -> RenderPublished:
        """The render as published WebP(s), scored as they are encoded, written only if the policy allows.

        The classifier sees the very images handed to the encoder (a sticker keyed out, over white, and its
        messenger variant); what is published differs from them only by WebP's loss at the configured quality.
        """
        settings = self._settings
        model = None
        if moderating.needed(settings, request):
            model = await asyncio.to_thread(moderating.classifier, settings.moderation_model)
        out = await self._process(request, score=partial(moderation.score_shown, model) if model is not None else None)
        verdict = None
        if model is not None and out.score is not None:
            verdict = await moderating.judge(self._pool, settings, request, model.name, out.score)
        converted = _converted(out, request.image_key, request.messenger_key)
        if verdict is not None and verdict.action == "block":
            return RenderPublished(converted=converted, moderation=verdict)
        written = [(request.image_key, out.webp)]
        if converted.messenger_key and out.messenger is not None:
            written.append((converted.messenger_key, out.messenger))
        if verdict is not None and verdict.action == "flag":
            fields = moderating.flagged_fields(verdict)
            written = [(key, webp.add_xmp_fields(data, fields)) for key, data in written]
        # Both writes end before either's failure is raised: none lands after the compensation has looked.
        writes = [publish_new(self._store, key, data, request.job_id) for key, data in written]
        for outcome in await asyncio.gather(*writes, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
        images = [PublishedImage(key=key, url=self._store.public_url(key)) for key, _ in written]
        activity.logger.info("published %s", [image.key for image in images])
        return RenderPublished(converted=converted, moderation=verdict, images=images)

    @activity.defn(name="convert_webp")
    async def convert_webp(self, request: ConvertRequest) -> ConvertedImage:
        out = await self._process(request)
        await self._store.put(request.target_key, out.webp, "image/webp")
        if request.messenger_key and out.messenger is not None:
            await self._store.put(request.messenger_key, out.messenger, "image/webp")
        return _converted(out, request.target_key, request.messenger_key)

    async def _process(self, render: StagedRender, score: Score | None = None) -> Processed:
        """The staged render, checked and encoded off the event loop (a sticker's messenger variant too, when it
        has a key), and scored by `score` as it is encoded.

        Raises:
            ApplicationError: `InvalidImage` (final) for a render too large, unreadable or unusable.
        """
        png = await self._store.get(render.source_key)
        if len(png) > STAGED_RENDER_MAX_BYTES:  # the GPU machine's signed upload cannot bound it: refused here
            raise failure(
                ErrorType.invalid_image,
                f"the render is unusable: {len(png)} bytes staged, more than {STAGED_RENDER_MAX_BYTES}",
            )
        try:
            out = await asyncio.to_thread(
                process,
                png,
                background=render.background,
                expected_size=(render.expected_width, render.expected_height),
                metadata=render.metadata,
                messenger=render.messenger_key is not None,
                quality=self._settings.webp_quality,
                method=self._settings.webp_method,
                score=score,
            )
        except InvalidImage as e:
            raise failure(ErrorType.invalid_image, f"the render is unusable: {e}") from e
        activity.logger.info("WebP %dx%d: %d -> %d bytes", out.width, out.height, len(png), len(out.webp))
        return out


def _converted(out: Processed, key: str, messenger_key: str | None) -> ConvertedImage:
    """What was encoded, as the job records it: the image at `key`, and a sticker's variant at `messenger_key`."""
    return ConvertedImage(
        key=key,
        width=out.width,
        height=out.height,
        size_bytes=len(out.webp),
        messenger_key=messenger_key if out.messenger is not None else None,
        messenger_bytes=len(out.messenger) if out.messenger is not None else None,
    )
