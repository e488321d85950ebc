"""publish_image (upload to R2): the staged WebP goes to its public key; staging is then cleared."""

from __future__ import annotations

from temporalio import activity

from comfyloom.contracts import PublishedImage, PublishRequest
from comfyloom.storage import ObjectStore


class PublishActivities:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @activity.defn(name="publish_image")
    async def publish_image(self, request: PublishRequest) -> PublishedImage:
        # A retry after the staging prefix was cleared finds the public object already there.
        if not await self._store.exists(request.public_key):
            await self._store.publish(request.staged_key, request.public_key, "image/webp")
        removed = await self._store.delete_prefix(request.staging_prefix)
        activity.logger.info("published %s; %d staged objects removed", request.public_key, removed)
        return PublishedImage(key=request.public_key, url=self._store.public_url(request.public_key))
