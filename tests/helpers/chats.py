"""Chat excerpts, as a character app's users write them (Portuguese), and how Gemini reads each: the local Gemini
endpoint answers a moment's judgement from this table, by the excerpt's last message."""

from __future__ import annotations

import json
from typing import Any

from comfyloom.prompts.translate import CHARACTER_INSTRUCTION, MOMENT_INSTRUCTION
from devstack.gemini_endpoint import Reply, SentRequest, answer
from tests.helpers.prompts import REM_ANSWER

Excerpt = list[tuple[str, str]]

# They leave the café and run through the rain to an abandoned station: a new place, an action, a mood.
NEW_MOMENT: Excerpt = [
    ("Ana", "Não aguento mais esse café, vamos sair daqui?"),
    ("Rem Dragneel", "Vamos! Rem segura sua mão e vocês correm pela chuva."),
    ("Ana", "Paramos na velha estação de trem abandonada."),
    ("Rem Dragneel", "Rem acende uma lanterna e ilumina os trilhos enferrujados."),
]
NEW_MOMENT_SCENE = {
    "setting": ["abandoned train station", "rusty rails", "night"],
    "lighting": ["lantern light"],
    "mood": ["mysterious"],
    "action": ["holding lantern"],
    "objects": ["lantern"],
    "composition": ["wide shot"],
}
# The same station, talked about further.
SAME_MOMENT: Excerpt = [
    *NEW_MOMENT,
    ("Ana", "Que lugar enorme, né?"),
    ("Rem Dragneel", "Sim... Rem continua iluminando os trilhos com a lanterna."),
]
# Greetings and questions: nothing happens that a picture would show.
SMALL_TALK: Excerpt = [
    ("Ana", "Oi Rem, tudo bem?"),
    ("Rem Dragneel", "Tudo ótimo! E com você?"),
    ("Ana", "Também. O que você comeu hoje?"),
    ("Rem Dragneel", "Só um pão de queijo, hehe."),
]
# Words no screening list holds, which Gemini reads as sexual and showing a minor (adult sexual content is left to
# the output's moderation, for a scene as for this).
READ_AS_UNSAFE: Excerpt = [
    ("Ana", "Rem se aproxima devagar na penumbra do quarto."),
    ("Rem Dragneel", "Rem desliza as mãos pelo seu corpo, sem pressa."),
]
# Refused by the screening itself (a minor and a sexual word): Gemini is never asked.
SCREENED_OUT: Excerpt = [
    ("Ana", "A menina tira a roupa e fica nua."),
]

JUDGEMENTS: dict[str, dict[str, Any]] = {
    NEW_MOMENT[-1][1]: {"worth_drawing": True, "reason": "They arrive at a new place.", "scene": NEW_MOMENT_SCENE},
    SAME_MOMENT[-1][1]: {
        "worth_drawing": True,
        "same_as_last_scene": True,
        "reason": "Still the lantern-lit station of the last scene.",
        "scene": NEW_MOMENT_SCENE,
    },
    SMALL_TALK[-1][1]: {"worth_drawing": False, "reason": "Small talk about food; nothing to draw."},
    READ_AS_UNSAFE[-1][1]: {
        "worth_drawing": True,
        "reason": "An intimate moment.",
        "scene": {"setting": ["bedroom"], "sexual_content": True, "depicts_minor": True},
    },
}


def messages(excerpt: Excerpt, start: int = 0) -> list[dict[str, str]]:
    """The excerpt as the API takes it, each message with an id (its place in the chat)."""
    return [{"id": f"m{start + i}", "speaker": who, "text": said} for i, (who, said) in enumerate(excerpt)]


def judge(sent: SentRequest) -> Reply:
    """Gemini's reading of a request: a moment from JUDGEMENTS (by its last message), a character as Rem."""
    if sent.instruction == MOMENT_INSTRUCTION:
        last = json.loads(sent.user_text)["messages"][-1]["text"]
        return answer(JUDGEMENTS.get(last, {"worth_drawing": False, "reason": "Not in the table."}))
    if sent.instruction == CHARACTER_INSTRUCTION:
        return answer(REM_ANSWER)
    return answer({})


def moments_asked(requests: list[SentRequest]) -> list[SentRequest]:
    return [r for r in requests if r.instruction == MOMENT_INSTRUCTION]
