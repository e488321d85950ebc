"""publish_image (upload to R2): staged WebPs go to their public keys; then clear_staging, in a step of its own.

Convert and publish are local activities of one workflow task: a CPU worker killed before that task is
recorded runs both again, and convert needs the staged render. clear_staging, an ordinary activity,
runs only once that task is recorded.

A public object is its job's: each is written with the job it was published for, and a key another job's
object already holds is refused (`ObjectTaken`) rather than overwritten, so two ready jobs never share one
image. Keys name their job since `job-id-in-keys`; the check is what stops it if a key ever did not.
"""

from __future__ import annotations

from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from comfyloom.contracts.images import ClearStaging, PublishedImage, PublishItem, PublishRequest
from comfyloom.errors import ErrorType, failure
from comfyloom.storage import ObjectStore


class PublishActivities:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    @activity.defn(name="publish_image")
    async def publish_image(self, request: PublishRequest) -> list[PublishedImage]:
        """Raises:
        ApplicationError: `ObjectTaken` (not retried) when another job's object holds a public key.
        ObjectMissing: when neither the staged WebP nor its public copy is there.
        """
        published = []
        for item in request.items:
            await self._publish(item, request.job_id)
            published.append(PublishedImage(key=item.public_key, url=self._store.public_url(item.public_key)))
        activity.logger.info("published %s", [p.key for p in published])
        return published

    async def _publish(self, item: PublishItem, job_id: UUID | None) -> None:
        held = await self._store.describe(item.public_key)
        if held is not None:
            if held.owner == str(job_id):
                return  # this job's own publish, tried again
            staged = await self._store.describe(item.staged_key)
            # An object with no owner was published before owners were written: this job's own only if it holds
            # the staged bytes (or staging is gone: a retry after the first attempt cleared it).
            if held.owned_by_another(str(job_id)) or (staged is not None and staged.etag != held.etag):
                raise _taken(item.public_key, held.owner, job_id)
            if staged is None:
                return
        await self._store.publish(item.staged_key, item.public_key, "image/webp", str(job_id) if job_id else None)

    @activity.defn(name="clear_staging")
    async def clear_staging(self, request: ClearStaging) -> None:
        removed = await self._store.delete_prefix(request.staging_prefix)
        activity.logger.info("%d staged objects removed", removed)


async def publish_new(store: ObjectStore, key: str, data: bytes, job_id: UUID) -> None:
    """Write a job's image to its public key, unless an object is there: this job's own (an earlier attempt of
    the step wrote it) is left as it is, another's is refused.

    Raises:
        ApplicationError: `ObjectTaken` (not retried) when another job's object, or one with no owner, holds `key`.
    """
    for _ in range(2):  # an object deleted between the refused write and the look: written on the second try
        if await store.create_public(key, data, "image/webp", str(job_id)):
            return
        held = await store.describe(key)
        if held is not None:
            if held.owner == str(job_id):
                return
            raise _taken(key, held.owner, job_id)
    raise _taken(key, None, job_id)


def _taken(key: str, owner: str | None, job_id: UUID | None) -> ApplicationError:
    return failure(
        ErrorType.object_taken,
        "the image could not be published: another job's image already has its name and was not"
        " overwritten; no credits were charged",
        {"key": key, "owner": owner, "job": str(job_id)},
    )
