"""convert_webp: the staged PNG becomes a WebP with its provenance in XMP, off the event loop."""

from __future__ import annotations

import asyncio

from temporalio import activity

from comfyloom.contracts import ConvertedImage, ConvertRequest
from comfyloom.imaging.webp import png_to_webp
from comfyloom.storage import ObjectStore


class ImageActivities:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @activity.defn(name="convert_webp")
    async def convert_webp(self, request: ConvertRequest) -> ConvertedImage:
        png = await self._store.get(request.source_key)
        webp, width, height = await asyncio.to_thread(png_to_webp, png, request.metadata)
        await self._store.put(request.target_key, webp, "image/webp")
        activity.logger.info("WebP %dx%d: %d -> %d bytes", width, height, len(png), len(webp))
        return ConvertedImage(key=request.target_key, width=width, height=height, size_bytes=len(webp))
