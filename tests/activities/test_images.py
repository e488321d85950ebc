"""publish_render: run again after it published (its worker killed before the task was recorded), it finds the
objects its own and gives the same answer; a key another job's image holds is refused, never overwritten."""

from __future__ import annotations

import io
import uuid

import asyncpg
import numpy as np
import pytest
from PIL import Image
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.images import ImageActivities
from comfyloom.contracts.domain import ImageKind
from comfyloom.contracts.images import PublishRender
from comfyloom.errors import ErrorType
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore


async def staged_render(store: ObjectStore, key: str) -> None:
    noise = np.random.default_rng(3).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise, "RGB").save(out, format="PNG")
    await store.put(key, out.getvalue(), "image/png")


def render_of(job: uuid.UUID, source: str, image_key: str) -> PublishRender:
    return PublishRender(
        source_key=source,
        image_key=image_key,
        expected_width=64,
        expected_height=48,
        job_id=job,
        user_id="u",
        kind=ImageKind.avatar,
    )


@pytest.fixture
def images(store: ObjectStore, pool: asyncpg.Pool, settings: Settings) -> ImageActivities:
    return ImageActivities(store, pool, settings.model_copy(update={"moderation_policy": "off"}))


async def test_run_again_after_publishing_it_finds_its_own_image(images: ImageActivities, store: ObjectStore) -> None:
    key = f"characters/u/c/avatar/{uuid.uuid4()}.webp"
    await staged_render(store, "staging/render-again/render.png")
    request = render_of(uuid.uuid4(), "staging/render-again/render.png", key)
    first = await ActivityEnvironment().run(images.publish_render, request)
    published = await store.get(key)
    again = await ActivityEnvironment().run(images.publish_render, request)
    assert again == first and first.moderation is None
    assert [image.key for image in first.images] == [key]
    assert await store.get(key) == published
    held = await store.describe(key)
    assert held is not None and held.owner == str(request.job_id)


async def test_a_key_another_jobs_image_holds_is_refused_and_left(images: ImageActivities, store: ObjectStore) -> None:
    key = f"characters/u/c/avatar/{uuid.uuid4()}.webp"
    other = uuid.uuid4()
    assert await store.create_public(key, b"RIFF-other-WEBP", "image/webp", str(other))
    await staged_render(store, "staging/render-taken/render.png")
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(
            images.publish_render, render_of(uuid.uuid4(), "staging/render-taken/render.png", key)
        )
    assert refused.value.type == ErrorType.object_taken and refused.value.non_retryable
    assert await store.get(key) == b"RIFF-other-WEBP"
