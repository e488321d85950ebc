"""convert_webp: the staged render is checked, keyed out if needed, and encoded, off the event loop."""

from __future__ import annotations

import asyncio

from temporalio import activity

from comfyloom.contracts.images import ConvertedImage, ConvertRequest
from comfyloom.errors import ErrorType, failure
from comfyloom.imaging.checks import InvalidImage
from comfyloom.imaging.process import process
from comfyloom.object_keys import STAGED_RENDER_MAX_BYTES
from comfyloom.storage import ObjectStore


class ImageActivities:
    def __init__(self, store: ObjectStore, *, quality: int, method: int) -> None:
        self._store = store
        self._quality = quality
        self._method = method

    @activity.defn(name="convert_webp")
    async def convert_webp(self, request: ConvertRequest) -> ConvertedImage:
        png = await self._store.get(request.source_key)
        if len(png) > STAGED_RENDER_MAX_BYTES:  # the GPU machine's signed upload cannot bound it: refused here
            raise failure(
                ErrorType.invalid_image,
                f"the render is unusable: {len(png)} bytes staged, more than {STAGED_RENDER_MAX_BYTES}",
            )
        try:
            out = await asyncio.to_thread(
                process,
                png,
                background=request.background,
                expected_size=(request.expected_width, request.expected_height),
                metadata=request.metadata,
                messenger=request.messenger_key is not None,
                quality=self._quality,
                method=self._method,
            )
        except InvalidImage as e:
            raise failure(ErrorType.invalid_image, f"the render is unusable: {e}") from e
        await self._store.put(request.target_key, out.webp, "image/webp")
        if request.messenger_key and out.messenger is not None:
            await self._store.put(request.messenger_key, out.messenger, "image/webp")
        activity.logger.info("WebP %dx%d: %d -> %d bytes", out.width, out.height, len(png), len(out.webp))
        return ConvertedImage(
            key=request.target_key,
            width=out.width,
            height=out.height,
            size_bytes=len(out.webp),
            messenger_key=request.messenger_key if out.messenger is not None else None,
            messenger_bytes=len(out.messenger) if out.messenger is not None else None,
        )
