"""API → JudgeChatMoment: the end of a chat to judge, and the verdict on it (draw it, and as what; or why not)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from comfyloom.contracts.prompt import PromptRequest
from comfyloom.tag_schemas import SceneTags


class ChatLine(BaseModel):
    speaker: str
    text: str


class MomentSource(BaseModel):
    """What Gemini judges a moment from: content only (no ids, no times), so the same end of a chat with the same
    last scene is asked once."""

    character_names: list[str] = []
    messages: list[ChatLine]
    # What the chat's last scene showed (its tags, or the words it was asked with); None: no scene yet.
    last_scene: str | None = None


class MomentQuestion(BaseModel):
    """A chat's moment to judge, with the scene it would start: its prompt request (the messages as its context)
    is screened with Gemini's reading, as a scene's prompt is."""

    chat_id: str
    prompt: PromptRequest
    source: MomentSource


# drawn: a new moment, with its tags. The rest are not drawn, and say why.
Outcome = Literal["drawn", "small_talk", "same_moment", "content_refused", "judge_unavailable"]


class MomentVerdict(BaseModel):
    outcome: Outcome
    # Why, in words a user reads.
    reason: str
    scene: SceneTags | None = None
