"""publish_image: a retry after a first attempt that published and cleared staging publishes the same keys."""

from __future__ import annotations

import pytest
from temporalio.testing import ActivityEnvironment

from activities.publish import PublishActivities
from comfyloom.contracts import PublishItem, PublishRequest
from comfyloom.storage import ObjectMissing, ObjectStore


async def test_a_retried_publish_finds_its_object_already_public(store: ObjectStore) -> None:
    await store.put("staging/publish-test/avatar.webp", b"RIFF....WEBP", "image/webp")
    request = PublishRequest(
        items=[PublishItem(staged_key="staging/publish-test/avatar.webp", public_key="characters/u/c/avatar/a_1.webp")],
        staging_prefix="staging/publish-test/",
    )
    publish = PublishActivities(store).publish_image
    first = await ActivityEnvironment().run(publish, request)
    assert await store.list_keys("staging/publish-test/") == []
    again = await ActivityEnvironment().run(publish, request)
    assert again == first
    assert await store.get("characters/u/c/avatar/a_1.webp") == b"RIFF....WEBP"


async def test_a_publish_with_nothing_staged_or_public_fails(store: ObjectStore) -> None:
    request = PublishRequest(
        items=[PublishItem(staged_key="staging/none/avatar.webp", public_key="characters/u/c/avatar/none.webp")],
        staging_prefix="staging/none/",
    )
    with pytest.raises(ObjectMissing):
        await ActivityEnvironment().run(PublishActivities(store).publish_image, request)
