"""Workflow ↔ the CPU worker's post-render steps: convert, moderate, publish, clear staging."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from comfyloom.contracts.domain import Background, ImageKind


class StagedRender(BaseModel):
    """A staged render to be made into WebP: what both `publish_render` and `convert_webp` read."""

    source_key: str
    metadata: dict[str, str] = {}
    background: Background = "opaque"
    expected_width: int
    expected_height: int
    # Stickers: also a messenger-ready 512x512 WebP (transparent, at most 100 KB) at this key.
    messenger_key: str | None = None


class ConvertRequest(StagedRender):
    target_key: str


class Moderation(BaseModel):
    """What the output classifier made of an image, and what this deployment did about it (its provenance)."""

    model: str
    # P(unsafe), 0 to 1: for a sticker, the higher of the image and its messenger variant.
    score: float
    label: Literal["safe", "unsafe"]
    action: Literal["pass", "flag", "block"]
    # The threshold that decided: the stricter one when the request showed a minor.
    threshold: float
    minor: bool = False

    def reason(self) -> str:
        """Why a blocked image was not published, in words a user can read."""
        why = "the request shows a minor, so a stricter limit applies" if self.minor else "above this service's limit"
        return (
            f"the generated image was blocked by output moderation: {self.model} scored it "
            f"{self.score:.2f} as unsafe ({why}, {self.threshold:.2f}); no credits were charged"
        )


class ModerateRequest(BaseModel):
    job_id: UUID
    user_id: str
    kind: ImageKind
    # The staged WebPs, exactly what would be published: the image, and a sticker's messenger variant.
    keys: list[str]
    minor_signals: list[str] = []


class PublishRender(StagedRender):
    """A staged render made into what is published, in one step (`publish_render`): decoded once, encoded while
    its pixels are scored, and written to its public keys only if the policy allows. Its keys (`image_key`, and
    `messenger_key` for a sticker) are public ones, fixed from the run's start, so a step run again writes the
    same objects."""

    image_key: str
    job_id: UUID
    user_id: str
    kind: ImageKind
    minor_signals: list[str] = []


class ConvertedImage(BaseModel):
    key: str
    width: int
    height: int
    size_bytes: int
    messenger_key: str | None = None
    messenger_bytes: int | None = None


class PublishItem(BaseModel):
    staged_key: str
    public_key: str


class PublishRequest(BaseModel):
    items: list[PublishItem]
    # The job the objects are published for: written on each, and a key another job's object holds is refused.
    job_id: UUID | None = None


class ClearStaging(BaseModel):
    staging_prefix: str


class PublishedImage(BaseModel):
    key: str
    url: str


class RenderPublished(BaseModel):
    """What `publish_render` made: nothing published (`images` empty) when moderation blocked the image."""

    converted: ConvertedImage
    moderation: Moderation | None = None
    images: list[PublishedImage] = []
