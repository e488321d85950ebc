"""Which words of a request are screened, under which field names: one screening for the API and build_prompt."""

from __future__ import annotations

from collections.abc import Iterable

from comfyloom.contracts.prompt import PromptRequest, PromptTags
from comfyloom.db.characters import CharacterRow
from comfyloom.prompts import safety
from comfyloom.tag_schemas import CHARACTER_TAG_FIELDS, SCENE_TAG_FIELDS


def request_texts(request: PromptRequest, cast: list[CharacterRow]) -> dict[str, str | None]:
    """Every word of a request, keyed by the field the API names it by."""
    texts: dict[str, str | None] = {}
    for i, row in enumerate(cast):
        texts.update(safety.character_texts(f"characters[{i}].", row.name, row.description, row.visual_features))
    for i, lora in enumerate(request.loras):
        texts[f"loras[{i}].triggerWords"] = ", ".join(lora.trigger_words)
    if request.story:
        texts.update({"story.title": request.story.title, "story.synopsis": request.story.synopsis})
    texts["sceneContext"] = request.scene_context
    return texts


def request_signals(cast: list[CharacterRow]) -> list[safety.Signal]:
    return [
        signal
        for i, row in enumerate(cast)
        for signal in safety.age_signal(f"characters[{i}].visualFeatures.age", row.features.age)
    ]


def translated_texts(tags: PromptTags) -> tuple[dict[str, str | None], list[safety.Signal]]:
    """Gemini's answer, screened like user text, plus its own minor and sexual judgements."""
    texts: dict[str, str | None] = {}
    signals: list[safety.Signal] = []
    for i, member in enumerate(tags.characters):
        field = f"characters[{i}].translated"
        texts[field] = ", ".join(t for name in CHARACTER_TAG_FIELDS for t in getattr(member, name))
        if member.apparent_age in ("child", "teen"):
            signals.append((field, "minor", f"looks like a {member.apparent_age}"))
        if member.sexual_content:
            signals.append((field, "sexual", "judged sexual"))
    if tags.scene:
        texts["scene.translated"] = ", ".join(t for name in SCENE_TAG_FIELDS for t in getattr(tags.scene, name))
        if tags.scene.depicts_minor:
            signals.append(("scene.translated", "minor", "depicts a minor"))
        if tags.scene.sexual_content:
            signals.append(("scene.translated", "sexual", "judged sexual"))
    return texts, signals


def screen(
    request: PromptRequest, cast: list[CharacterRow], *, blocklist: Iterable[str], tags: PromptTags | None = None
) -> safety.Refusal | None:
    """Screen a request's own words; with `tags`, also Gemini's reading of them."""
    texts, signals = request_texts(request, cast), request_signals(cast)
    if tags is not None:
        translated, judged = translated_texts(tags)
        texts.update(translated)
        signals.extend(judged)
    return safety.check(texts, signals=signals, blocklist=blocklist)


def minor_signals(request: PromptRequest, cast: list[CharacterRow], tags: PromptTags) -> list[str]:
    """What in a request (its words, its characters' ages, Gemini's reading) says it shows a minor."""
    texts, signals = request_texts(request, cast), request_signals(cast)
    translated, judged = translated_texts(tags)
    return safety.minors({**texts, **translated}, signals=[*signals, *judged])
