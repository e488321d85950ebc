"""How a prompt is put together: quality, style, LoRA trigger words, the kind's tags, subjects, then what the
kind's recipe adds. Each kind's tags and recipe are declared in `comfyloom.kinds`; all end in `compose`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from comfyloom.contracts.domain import Emotion, Lora, VisualFeatures
from comfyloom.prompts.safety import fold
from comfyloom.prompts.tags import clean_tags, escape_tag, join, weighted
from comfyloom.tag_schemas import CHARACTER_TAG_FIELDS, SCENE_TAG_FIELDS, CharacterTags, SceneTags

QUALITY_TAGS = [
    "(score_9, score_8_up, score_7_up)",
    "masterpiece",
    "best quality",
    "ultra-detailed",
    "cinematic lighting",
]
DEFAULT_STYLE = "anime"
NAME_WEIGHT = 1.2

# A sticker's background is cut away later: plain is what matters, in the key colour when one is chosen.
STICKER_BACKGROUND = ["(simple background:1.3)", "(white background:1.2)"]


def key_background(colour: str) -> list[str]:
    return ["(simple background:1.3)", f"({colour} background:1.3)", "solid background"]


NEGATIVE_BASE = [
    "lowres",
    "bad anatomy",
    "bad hands",
    "text",
    "error",
    "missing fingers",
    "extra digit",
    "fewer digits",
    "cropped",
    "worst quality",
    "low quality",
    "jpeg artifacts",
    "signature",
    "watermark",
    "username",
    "blurry",
]
# Never sexual, for every kind and every character: the product shows these images in chats.
NEGATIVE_SAFETY = ["nsfw", "nude", "nudity", "suggestive"]

EMOTION_TAGS: dict[Emotion, list[str]] = {
    Emotion.happy: ["(happy:1.2)", "smile", "open mouth", "sparkling eyes"],
    Emotion.sad: ["(sad:1.2)", "frown", "downcast eyes", "teary eyes"],
    Emotion.angry: ["(angry:1.2)", "clenched teeth", "furrowed brow", "anger vein"],
    Emotion.surprised: ["(surprised:1.2)", "wide-eyed", "open mouth", "exclamation mark"],
    Emotion.shy: ["(shy:1.2)", "blush", "looking away", "hands together"],
    Emotion.laughing: ["(laughing:1.2)", "closed eyes", "open mouth", "happy tears"],
    Emotion.crying: ["(crying:1.2)", "tears", "streaming tears", "sad"],
    Emotion.thinking: ["(thinking:1.2)", "hand on own chin", "looking up", "thought bubble"],
    Emotion.love: ["(in love:1.2)", "heart", "blush", "heart-shaped pupils"],
    Emotion.sleepy: ["(sleepy:1.2)", "half-closed eyes", "yawning", "zzz"],
    Emotion.confused: ["(confused:1.2)", "head tilt", "question mark", "sweatdrop"],
    Emotion.scared: ["(scared:1.2)", "trembling", "wide-eyed", "sweat"],
}
# Portuguese names a client may send for an emotion.
EMOTION_ALIASES: dict[str, Emotion] = {
    "feliz": Emotion.happy,
    "alegre": Emotion.happy,
    "triste": Emotion.sad,
    "bravo": Emotion.angry,
    "brava": Emotion.angry,
    "raiva": Emotion.angry,
    "irritado": Emotion.angry,
    "irritada": Emotion.angry,
    "surpreso": Emotion.surprised,
    "surpresa": Emotion.surprised,
    "timido": Emotion.shy,
    "timida": Emotion.shy,
    "envergonhado": Emotion.shy,
    "envergonhada": Emotion.shy,
    "rindo": Emotion.laughing,
    "chorando": Emotion.crying,
    "pensando": Emotion.thinking,
    "pensativo": Emotion.thinking,
    "pensativa": Emotion.thinking,
    "apaixonado": Emotion.love,
    "apaixonada": Emotion.love,
    "amor": Emotion.love,
    "sonolento": Emotion.sleepy,
    "sonolenta": Emotion.sleepy,
    "confuso": Emotion.confused,
    "confusa": Emotion.confused,
    "assustado": Emotion.scared,
    "assustada": Emotion.scared,
    "com medo": Emotion.scared,
}

GENRE_TAGS: dict[str, list[str]] = {
    "fantasy": ["fantasy", "magic", "epic"],
    "romance": ["romantic", "soft lighting", "pastel colors"],
    "horror": ["horror \\(theme\\)", "dark", "eerie atmosphere"],
    "sci-fi": ["science fiction", "futuristic", "neon lights"],
    "mystery": ["mystery", "fog", "low-key lighting"],
    "action": ["action", "dynamic pose", "motion blur"],
    "comedy": ["comedy", "bright colors", "cheerful"],
    "drama": ["drama", "dramatic lighting", "emotional"],
    "slice of life": ["slice of life", "daily life", "warm lighting"],
    "adventure": ["adventure", "landscape", "journey"],
}
GENRE_ALIASES = {
    "fantasia": "fantasy",
    "terror": "horror",
    "ficcao cientifica": "sci-fi",
    "science fiction": "sci-fi",
    "misterio": "mystery",
    "acao": "action",
    "comedia": "comedy",
    "cotidiano": "slice of life",
    "aventura": "adventure",
}


def parse_emotion(value: str) -> Emotion:
    """An emotion by its English name or a Portuguese alias; ValueError names the accepted ones."""
    key = fold(value)
    if key in Emotion.__members__:
        return Emotion(key)
    if key in EMOTION_ALIASES:
        return EMOTION_ALIASES[key]
    first_alias = {emotion: alias for alias, emotion in reversed(EMOTION_ALIASES.items())}
    portuguese = ", ".join(first_alias[e] for e in Emotion if e in first_alias)
    raise ValueError(
        f"unknown emotion {value!r}; use one of: {', '.join(Emotion)}, or a Portuguese name ({portuguese}, …)"
    )


def genre_tags(genre: str | None) -> list[str] | None:
    """Style tags for a story genre, or None when the genre is unknown."""
    if not genre:
        return []
    key = fold(genre).replace("sci fi", "sci-fi")
    return GENRE_TAGS.get(GENRE_ALIASES.get(key, key))


@dataclass(frozen=True)
class Cast:
    """One character as a prompt sees it: a name, English tags and an art style."""

    name: str
    tags: CharacterTags
    style: str | None = None


class Prompt(NamedTuple):
    positive: str
    negative: str


# VisualFeatures fields that hold tags; each has a CharacterTags field of the same name.
FEATURE_FIELDS = ("hair", "eyes", "skin", "body", "clothing", "accessories", "species")


def tags_from_features(features: VisualFeatures) -> CharacterTags:
    """The untranslated path: a character's structured fields, as written, become its tags."""
    age = features.age
    return CharacterTags(
        gender=features.gender or "unknown",
        apparent_age="unknown" if age is None else "child" if age < 13 else "teen" if age < 18 else "adult",
        **{name: clean_tags([getattr(features, name) or ""]) for name in FEATURE_FIELDS},
    )


def subject_tags(cast: list[Cast]) -> list[str]:
    """Danbooru's subject count: solo, 1girl / 2girls, 1boy, 1other."""
    if not cast:
        return ["no humans"]
    counts = Counter({"female": "girl", "male": "boy"}.get(member.tags.gender, "other") for member in cast)
    tags = ["solo"] if len(cast) == 1 else []
    for noun in ("girl", "boy", "other"):
        n = counts[noun]
        if n:
            plural = "s" if n > 1 and noun != "other" else ""
            tags.append(f"{'6+' if n >= 6 else n}{noun}{plural}")
    return tags


def character_tags(member: Cast) -> list[str]:
    fields = (getattr(member.tags, name) for name in CHARACTER_TAG_FIELDS)
    return [weighted(escape_tag(member.name), NAME_WEIGHT), *clean_tags(tag for values in fields for tag in values)]


def scene_tags(scene: SceneTags | None) -> list[str]:
    if scene is None:
        return []
    return clean_tags(tag for name in SCENE_TAG_FIELDS for tag in getattr(scene, name))


@dataclass
class Recipe:
    """What a kind puts into its prompt, in order, before `compose` wraps it."""

    cast: list[Cast]
    lead: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)


def compose(recipe: Recipe, loras: list[Lora], kind_tags: Sequence[str], kind_negative: Sequence[str]) -> Prompt:
    style = next((m.style for m in recipe.cast if m.style), None) or DEFAULT_STYLE
    triggers = clean_tags((word for lora in loras for word in lora.trigger_words), lower=False)
    positive = join(
        QUALITY_TAGS,
        [f"({escape_tag(style).upper()})"],
        triggers,
        kind_tags,
        recipe.lead,
        subject_tags(recipe.cast),
        *(character_tags(member) for member in recipe.cast),
        recipe.tail,
    )
    negative = join(NEGATIVE_BASE, kind_negative, recipe.negative, NEGATIVE_SAFETY)
    return Prompt(positive, negative)
