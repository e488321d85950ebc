"""Every image kind, declared once: what it costs, which template draws it, what its prompt says, and where its
image is published (the rows that find it are in comfyloom/db/kind_rows.py).

Adding a kind is one `KindSpec` here, its rows in comfyloom/db/kind_rows.py, a template pair in
`comfy_templates/`, a workflow subclass (its name in the Temporal Web UI) and a route; `tests/test_kinds.py`
walks `ImageKind` and names whatever is missing. Everything else (the API's start, the prompt step, the
workflow's keys, the record) reads the spec.

No I/O here: workflow code reads `public_keys` inside Temporal's sandbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from comfyloom import object_keys
from comfyloom.contracts.domain import ImageKind
from comfyloom.contracts.prompt import PromptRequest
from comfyloom.contracts.requests import AvatarRequest, CoverRequest, SceneRequest, StickerRequest
from comfyloom.errors import ErrorType, failure
from comfyloom.prompts import builders
from comfyloom.prompts.builders import Cast, Prompt, Recipe
from comfyloom.settings import CreditPrices, Settings
from comfyloom.tag_schemas import SceneTags

if TYPE_CHECKING:  # types only: workflow code reads this module, and needs no database driver
    from comfyloom.db.images import Owner


@dataclass(frozen=True)
class PromptInputs:
    """What a kind's recipe draws from: the request, its cast (tags translated), the scene read from its text."""

    request: PromptRequest
    cast: list[Cast]
    scene: SceneTags | None = None
    key_colour: str | None = None


R = TypeVar("R", AvatarRequest, StickerRequest, CoverRequest, SceneRequest)


@dataclass(frozen=True)
class KindSpec(Generic[R]):
    kind: ImageKind
    # The Temporal workflow type that runs it: a `GenerationWorkflow` subclass of this name in workflows/.
    workflow: str
    # The template this deployment draws it with; size and background come from that template's manifest.
    template: Callable[[Settings], str]
    price: Callable[[CreditPrices], int]
    # Who the image belongs to in `images`: a character's (its first), a story's, or only the user's.
    owner: Owner
    # Tags every prompt of this kind has, right after the LoRA triggers, and what its negative prompt adds.
    tags: tuple[str, ...]
    negative: tuple[str, ...]
    recipe: Callable[[PromptInputs], Recipe]
    # The request's own text Gemini reads the scene from (a cover's story, a chat's context), if any.
    scene_text: Callable[[PromptRequest], str | None]
    # Where the image (and a messenger variant, if the kind has one) is published: at the run's start time, and
    # named by the job (the third argument; None for runs recorded before keys were, which replay as they were).
    public_keys: Callable[[R, int, uuid.UUID | None], tuple[str, str | None]]

    def prompt(self, inputs: PromptInputs) -> Prompt:
        return builders.compose(self.recipe(inputs), inputs.request.loras, self.tags, self.negative)


def _sticker_recipe(inputs: PromptInputs) -> Recipe:
    emotion = inputs.request.emotion
    if emotion is None:
        raise failure(ErrorType.invalid_request, "a sticker needs an emotion")
    background = builders.key_background(inputs.key_colour) if inputs.key_colour else builders.STICKER_BACKGROUND
    return Recipe(inputs.cast[:1], lead=[*builders.EMOTION_TAGS[emotion], *background])


def _cover_recipe(inputs: PromptInputs) -> Recipe:
    story = inputs.request.story
    if story is None:
        raise failure(ErrorType.invalid_request, "a cover needs a story")
    return Recipe(inputs.cast, lead=builders.genre_tags(story.genre) or [], tail=builders.scene_tags(inputs.scene))


def _sticker_keys(request: StickerRequest, ms: int, job: uuid.UUID | None) -> tuple[str, str | None]:
    emotion = request.emotion.value
    return (
        object_keys.sticker_key(request.user_id, request.character, emotion, ms, job),
        object_keys.sticker_key(request.user_id, request.character, emotion, ms, job, messenger=True),
    )


# Keyed by kind, so a spec's request type is its kind's; read with the request of that kind.
KINDS: dict[ImageKind, KindSpec[Any]] = {
    spec.kind: spec
    for spec in (
        KindSpec[AvatarRequest](
            kind=ImageKind.avatar,
            workflow="AvatarWorkflow",
            template=lambda settings: "avatar",
            price=lambda prices: prices.avatar,
            owner="character",
            tags=("(close-up portrait:1.2)", "(detailed face:1.1)", "looking at viewer", "headshot"),
            negative=("multiple views",),
            recipe=lambda inputs: Recipe(inputs.cast[:1]),
            scene_text=lambda request: None,
            public_keys=lambda r, ms, job: (object_keys.avatar_key(r.user_id, r.character, ms, job), None),
        ),
        KindSpec[StickerRequest](
            kind=ImageKind.sticker,
            workflow="StickerWorkflow",
            template=lambda s: "sticker_rmbg" if s.sticker_background_removal == "rmbg" else "sticker",
            price=lambda prices: prices.sticker,
            owner="character",
            tags=("(sticker:1.2)", "(full body:1.1)", "chibi", "thick outline", "looking at viewer"),
            negative=("multiple views", "complex background", "detailed background", "scenery", "shadow"),
            recipe=_sticker_recipe,
            scene_text=lambda request: None,
            public_keys=_sticker_keys,
        ),
        KindSpec[CoverRequest](
            kind=ImageKind.cover,
            workflow="CoverWorkflow",
            template=lambda settings: "cover" if settings.cover_face_detail else "cover_plain",
            price=lambda prices: prices.cover,
            owner="story",
            tags=("(key visual:1.2)", "(detailed background:1.2)", "dramatic composition", "depth of field"),
            negative=("multiple views", "split screen", "border", "frame", "title", "logo"),
            recipe=_cover_recipe,
            scene_text=lambda request: request.story.text if request.story else None,
            public_keys=lambda r, ms, job: (object_keys.cover_key(r.story_id, ms, job), None),
        ),
        KindSpec[SceneRequest](
            kind=ImageKind.scene,
            workflow="SceneWorkflow",
            template=lambda settings: "scene",
            price=lambda prices: prices.scene,
            owner="user",
            tags=("(detailed background:1.2)", "scenery", "cinematic composition", "depth of field"),
            negative=("multiple views", "split screen", "border", "frame"),
            recipe=lambda inputs: Recipe(inputs.cast, tail=builders.scene_tags(inputs.scene)),
            scene_text=lambda request: request.scene_context,
            public_keys=lambda r, ms, job: (object_keys.scene_key(r.user_id, r.job_id, ms), None),
        ),
    )
}
