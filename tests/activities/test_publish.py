"""publish_image: a retry after a first attempt that published finds the same keys its own; staging is kept for
clear_staging; a key another job's image holds is refused, never overwritten."""

from __future__ import annotations

import uuid

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.publish import PublishActivities
from comfyloom.contracts.images import PublishItem, PublishRequest
from comfyloom.errors import ErrorType
from comfyloom.storage import ObjectMissing, ObjectStore


async def test_a_retried_publish_finds_its_object_already_public(store: ObjectStore) -> None:
    await store.put("staging/publish-test/avatar.webp", b"RIFF....WEBP", "image/webp")
    request = PublishRequest(
        items=[PublishItem(staged_key="staging/publish-test/avatar.webp", public_key="characters/u/c/avatar/a_1.webp")],
        job_id=uuid.uuid4(),
    )
    publish = PublishActivities(store).publish_image
    first = await ActivityEnvironment().run(publish, request)
    assert await store.list_keys("staging/publish-test/") == ["staging/publish-test/avatar.webp"]
    again = await ActivityEnvironment().run(publish, request)
    assert again == first
    assert await store.get("characters/u/c/avatar/a_1.webp") == b"RIFF....WEBP"


async def test_a_publish_with_nothing_staged_or_public_fails(store: ObjectStore) -> None:
    request = PublishRequest(
        items=[PublishItem(staged_key="staging/none/avatar.webp", public_key="characters/u/c/avatar/none.webp")],
    )
    with pytest.raises(ObjectMissing):
        await ActivityEnvironment().run(PublishActivities(store).publish_image, request)


async def test_publishing_over_another_jobs_image_fails_loudly_and_leaves_it(store: ObjectStore) -> None:
    """Two jobs, one key (as two runs started in one millisecond had before keys named their job): the second
    is refused with ObjectTaken, not retried, and the first job's image is untouched, also by the second's
    failure path, which deletes only what its job published."""
    first_job, second_job = uuid.uuid4(), uuid.uuid4()
    key = "characters/u/c/avatar/avatar_1700000000000.webp"
    await store.put("staging/first/avatar.webp", b"RIFF-first-WEBP", "image/webp")
    await store.put("staging/second/avatar.webp", b"RIFF-second-WEBP", "image/webp")
    publish = PublishActivities(store).publish_image
    await ActivityEnvironment().run(
        publish,
        PublishRequest(items=[PublishItem(staged_key="staging/first/avatar.webp", public_key=key)], job_id=first_job),
    )
    again = PublishRequest(
        items=[PublishItem(staged_key="staging/second/avatar.webp", public_key=key)], job_id=second_job
    )
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(publish, again)
    assert refused.value.type == ErrorType.object_taken and refused.value.non_retryable
    assert "another job's image already has its name" in refused.value.message
    assert await store.get(key) == b"RIFF-first-WEBP"
    held = await store.describe(key)
    assert held is not None and held.owner == str(first_job)


async def test_a_job_publishing_its_own_image_again_is_not_refused(store: ObjectStore) -> None:
    job = uuid.uuid4()
    await store.put("staging/own/avatar.webp", b"RIFF-own-WEBP", "image/webp")
    request = PublishRequest(
        items=[PublishItem(staged_key="staging/own/avatar.webp", public_key="characters/u/c/avatar/own.webp")],
        job_id=job,
    )
    publish = PublishActivities(store).publish_image
    assert await ActivityEnvironment().run(publish, request) == await ActivityEnvironment().run(publish, request)
