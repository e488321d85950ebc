"""publish_image (upload to R2): staged WebPs go to their public keys; then clear_staging, in a step of its own.

Convert and publish are local activities of one workflow task: a CPU worker killed before that task is
recorded runs both again, and convert needs the staged render. clear_staging, an ordinary activity,
runs only once that task is recorded.
"""

from __future__ import annotations

from temporalio import activity

from comfyloom.contracts import ClearStaging, PublishedImage, PublishRequest
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
        if request.staging_prefix:  # a run recorded before staging was kept until the record
            await self._store.delete_prefix(request.staging_prefix)
        activity.logger.info("published %s", [p.key for p in published])
        return published

    @activity.defn(name="clear_staging")
    async def clear_staging(self, request: ClearStaging) -> None:
        removed = await self._store.delete_prefix(request.staging_prefix)
        activity.logger.info("%d staged objects removed", removed)
