"""publish_image (upload to R2): staged WebPs go to their public keys; staging is then cleared."""

from __future__ import annotations

from temporalio import activity

from comfyloom.contracts import PublishedImage, PublishRequest
from comfyloom.storage import ObjectMissing, ObjectStore


class PublishActivities:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @activity.defn(name="publish_image")
    async def publish_image(self, request: PublishRequest) -> list[PublishedImage]:
        published = []
        for item in request.items:
            try:
                await self._store.publish(item.staged_key, item.public_key, "image/webp")
            except ObjectMissing:
                # A retry after the staging prefix was cleared finds the public object already there.
                if not await self._store.exists(item.public_key):
                    raise
            published.append(PublishedImage(key=item.public_key, url=self._store.public_url(item.public_key)))
        removed = await self._store.delete_prefix(request.staging_prefix)
        activity.logger.info("published %s; %d staged objects removed", [p.key for p in published], removed)
        return published
