"""Each image kind is one spec: walking `ImageKind` finds anything a new kind still lacks, by name."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from api.main import create_app
from comfy_templates import load_template
from comfyloom.contracts.domain import Emotion, ImageKind, StoryBrief
from comfyloom.contracts.requests import GenerationRequest, generation_request
from comfyloom.kinds import KINDS
from comfyloom.object_keys import PUBLIC_PREFIXES
from comfyloom.settings import CreditPrices, Settings
from workflows.generation import GenerationWorkflow
from workflows.registry import ALL_WORKFLOWS

# Every template a kind's spec may choose, under each setting that changes the choice.
SETTINGS = [
    Settings(sticker_background_removal="rmbg", cover_face_detail=True),
    Settings(sticker_background_removal="chroma", cover_face_detail=False),
]


@pytest.mark.parametrize("kind", list(ImageKind))
def test_every_kind_has_a_spec(kind: ImageKind) -> None:
    assert kind in KINDS, f"add a KindSpec for {kind.value!r} to comfyloom/kinds.py"
    assert KINDS[kind].kind is kind


@pytest.mark.parametrize("kind", list(ImageKind))
def test_every_kind_runs_as_its_own_generation_workflow(kind: ImageKind) -> None:
    registered = {cls.__name__: cls for cls in ALL_WORKFLOWS}  # workflow.defn names each by its class
    name = KINDS[kind].workflow
    assert name in registered, f"define `class {name}(GenerationWorkflow)` in workflows/kinds.py, in KIND_WORKFLOWS"
    assert issubclass(registered[name], GenerationWorkflow)


@pytest.mark.parametrize("settings", SETTINGS, ids=["rmbg-facedetail", "chroma-plain"])
@pytest.mark.parametrize("kind", list(ImageKind))
def test_every_kind_has_a_template_under_every_setting(kind: ImageKind, settings: Settings) -> None:
    template = load_template(KINDS[kind].template(settings))
    assert template.manifest.size in template.manifest.allowed_sizes


@pytest.mark.parametrize("kind", list(ImageKind))
def test_every_kind_has_a_price_and_a_route(kind: ImageKind) -> None:
    assert KINDS[kind].price(CreditPrices()) > 0
    paths = create_app(Settings()).openapi()["paths"]
    assert f"/api/v1/image-generation/{kind.value}" in paths, "add a route in api/routes/image_generation.py"


# What each kind needs beyond what all share.
OWN_FIELDS: dict[ImageKind, dict[str, Any]] = {
    ImageKind.avatar: {},
    ImageKind.sticker: {"emotion": Emotion.happy},
    ImageKind.cover: {"story": StoryBrief(title="O Farol")},
    ImageKind.scene: {"scene_context": "a lighthouse at dusk"},
}


def request_of(kind: ImageKind, character: uuid.UUID, story: uuid.UUID) -> GenerationRequest:
    return generation_request(
        job_id=uuid.uuid4(),
        user_id="u1",
        kind=kind,
        character_ids=[character],
        story_id=story if kind in (ImageKind.cover, ImageKind.scene) else None,
        template=KINDS[kind].template(Settings()),
        width=768,
        height=768,
        **OWN_FIELDS[kind],
    )


@pytest.mark.parametrize("kind", list(ImageKind))
def test_every_kind_has_a_request_type_that_needs_its_own_fields(kind: ImageKind) -> None:
    assert request_of(kind, uuid.uuid4(), uuid.uuid4()).kind is kind
    for field in OWN_FIELDS[kind]:
        fields = {k: v for k, v in OWN_FIELDS[kind].items() if k != field}
        with pytest.raises(ValidationError, match=field):
            generation_request(kind=kind, job_id=uuid.uuid4(), user_id="u1", template="t", width=1, height=1, **fields)


@pytest.mark.parametrize(
    ("kind", "foreign"),
    [
        (ImageKind.avatar, {"emotion": Emotion.happy}),
        (ImageKind.sticker, {"scene_context": "a beach"}),
        (ImageKind.cover, {"emotion": Emotion.sad}),
        (ImageKind.scene, {"story": StoryBrief(title="t")}),
    ],
)
def test_a_request_that_mixes_kinds_cannot_be_built(kind: ImageKind, foreign: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        generation_request(**{**request_of(kind, uuid.uuid4(), uuid.uuid4()).model_dump(), **foreign})


@pytest.mark.parametrize("kind", list(ImageKind))
def test_every_kind_publishes_under_a_public_prefix(kind: ImageKind) -> None:
    request = request_of(kind, uuid.uuid4(), uuid.uuid4())
    image, messenger = KINDS[kind].public_keys(request, 1_700_000_000_000, request.job_id)
    for key in filter(None, (image, messenger)):
        assert key.startswith(PUBLIC_PREFIXES) and key.endswith(".webp")


@pytest.mark.parametrize("kind", list(ImageKind))
def test_two_jobs_of_one_character_started_in_one_millisecond_publish_to_two_names(kind: ImageKind) -> None:
    """The key names the job: the clock alone gave two runs whose first tasks started together one object."""
    story, character = uuid.uuid4(), uuid.uuid4()
    keys = set()
    for _ in range(2):
        request = request_of(kind, character, story)
        image, messenger = KINDS[kind].public_keys(request, 1_700_000_000_000, request.job_id)
        assert str(request.job_id) in image
        keys |= {image, messenger} - {None}
    assert len(keys) == (4 if kind is ImageKind.sticker else 2)


@pytest.mark.parametrize("kind", list(ImageKind))
def test_every_kind_has_the_rows_that_find_its_image(kind: ImageKind) -> None:
    from comfyloom.db.kind_rows import ROWS

    assert kind in ROWS, "add the rows that find its image to comfyloom/db/kind_rows.py"
