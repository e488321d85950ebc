"""Refuse requests that sexualise minors, in Portuguese or English, before any GPU work.

A request is refused when it carries both a minor signal (an age under 18, or a child term) and a
sexual signal, or any blocklisted phrase. Text is folded first (case, accents, leetspeak, spaced-out
letters), so "C r i a n ç a" and "s3xy" match. Each input field is named, so the API can say which
fields to change; the words are matched whole, so "Sexta-feira" or "striped" never count as sexual.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel

ADULT_AGE = 18

MINOR_TERMS = (
    # English
    "child",
    "children",
    "kid",
    "kids",
    "toddler",
    "infant",
    "preteen",
    "pre teen",
    "tween",
    "teen",
    "teens",
    "teenager",
    "teenage",
    "underage",
    "under age",
    "loli",
    "shota",
    "little girl",
    "little boy",
    "young girl",
    "young boy",
    "schoolgirl",
    "schoolboy",
    "school girl",
    "school boy",
    "elementary school",
    "middle school",
    "junior high",
    "high school",
    "grade school",
    "kindergarten",
    # Portuguese
    "crianca",
    "criancas",
    "infantil",
    "menina",
    "meninas",
    "menino",
    "meninos",
    "menininha",
    "menininho",
    "garotinha",
    "garotinho",
    "novinha",
    "novinho",
    "menor de idade",
    "menores de idade",
    "pre adolescente",
    "adolescente",
    "adolescentes",
    "colegial",
    "ensino fundamental",
    "ensino medio",
    "jardim de infancia",
)

SEXUAL_TERMS = (
    # English
    "sex", "sexy", "sexual", "sexually", "sexualized", "sexualised", "nsfw", "nude", "nudes", "naked", "nudity",
    "porn", "porno", "pornographic", "pornography", "hentai", "erotic", "erotica", "lewd", "explicit",
    "nipple", "nipples", "genitals", "genitalia", "vagina", "penis", "pussy", "cock", "topless", "bottomless",
    "lingerie", "panties", "underwear", "orgasm", "masturbation", "masturbating", "seductive", "seducing",
    "aroused", "horny", "fetish", "bdsm", "bondage", "spread legs", "no clothes", "without clothes", "undressed",
    "undressing", "stripper", "striptease", "cum", "ahegao", "breasts", "boobs", "cleavage",
    # Portuguese
    "sexo", "sexualizada", "sexualizado", "sensual", "nua", "nuas", "nu", "nus", "pelada", "pelado", "despida",
    "despido", "nudez", "pornografia", "pornografico", "pornografica", "erotico", "erotica", "erotismo", "safada",
    "safado", "tesao", "tesuda", "seios", "peitos", "mamilo", "mamilos", "calcinha", "sutia", "roupa intima",
    "roupas intimas", "excitada", "excitado", "transando", "transar", "de quatro", "provocante", "seminua",
    "seminu", "sem roupa", "sem roupas", "orgasmo", "masturbacao", "fetiche", "sedutora", "sedutor",
    "pouca roupa",
)  # fmt: skip

# Always refused, whatever else the request says; CONTENT_BLOCKLIST adds to these.
BLOCKED_TERMS = (
    "lolicon", "shotacon", "child porn", "pornografia infantil", "csam", "pedo", "pedophile", "pedophilia",
    "pedofilo", "pedofilia", "jailbait", "underage sex", "sexo infantil",
)  # fmt: skip

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_AGE_WORD = re.compile(r"^\d+(?:yo|yrs?|y)$")
_AGE_PATTERNS = (
    re.compile(r"\b(\d{1,3})\s*(?:years?|yrs?)[\s-]*old\b"),
    re.compile(r"\b(\d{1,3})\s*(?:yo|y o)\b"),
    re.compile(r"\b(\d{1,3})\s*year\s*old\b"),
    re.compile(r"\baged?\s*(\d{1,3})\b"),
    # "tem/com/de 12 anos" is an age; "há 12 anos" (12 years ago) is not.
    re.compile(r"\b(?:tem|com|(?<!mais )de)\s*(\d{1,3})\s*anos\b"),
    re.compile(r"\b(\d{1,3})\s*anos\s*de\s*idade\b"),
    re.compile(r"\bidade\s*(?:de\s*)?(\d{1,3})\b"),
)


class Refusal(BaseModel):
    """Why a request was refused, naming the input fields that carried each signal."""

    reason: str
    fields: list[str]
    matched: list[str]


# "l o l i", "n.u.d.e": three or more single letters with one separator between them spell a word.
_SPACED = re.compile(r"(?<![a-z0-9])[a-z](?P<sep>[ .\-_*])[a-z](?:(?P=sep)[a-z])+(?![a-z0-9])")


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Lowercase ASCII words separated by single spaces: accents, leetspeak and punctuation removed. Cached: every
    request folds the blocklist and its characters' texts again, the same strings each time."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group()), text)
    # Leetspeak only in words that hold letters ("s3xy", "l0li"); "12yo" and "15 anos" keep their digits.
    words = [
        w if _AGE_WORD.match(w) or not re.search(r"[a-z]", w) else w.translate(_LEET)
        for w in re.findall(r"[a-z0-9@$]+", text)
    ]
    return " ".join(w for w in (re.sub(r"[@$]", "", w) for w in words) if w)


def _find(folded: str, terms: Iterable[str]) -> list[str]:
    padded = f" {folded} "
    return [term for term in terms if f" {term} " in padded]


def stated_ages(folded: str) -> list[int]:
    return [int(m.group(1)) for pattern in _AGE_PATTERNS for m in pattern.finditer(folded)]


# A signal found outside the text lists: a structured age, or Gemini's own judgement of the input.
Signal = tuple[str, Literal["minor", "sexual"], str]


def age_signal(field: str, age: int | None) -> list[Signal]:
    return [(field, "minor", f"age {age}")] if age is not None and age < ADULT_AGE else []


def check(
    texts: Mapping[str, str | None], *, signals: Iterable[Signal] = (), blocklist: Iterable[str] = ()
) -> Refusal | None:
    """A refusal, or None when the request may go on.

    `texts` maps a field name (as the API names it) to its text; minors and sexual content are
    judged over the whole request, since a scene can put one field's child in another's sexual text.
    """
    blocked = tuple(dict.fromkeys([*BLOCKED_TERMS, *filter(None, map(fold, blocklist))]))
    for field, text in texts.items():
        if text and (hits := _find(fold(text), blocked)):
            return Refusal(reason=f"{field} contains blocked content", fields=[field], matched=hits)
    found = _findings(texts, signals)
    minor_hits, sexual_hits = (
        list(dict.fromkeys(h for hits in found[kind].values() for h in hits)) for kind in ("minor", "sexual")
    )
    if not (minor_hits and sexual_hits):
        return None
    return Refusal(
        reason="sexual content involving a minor is not allowed "
        f"(minor: {', '.join(minor_hits)}; sexual: {', '.join(sexual_hits)})",
        fields=list(dict.fromkeys([*found["minor"], *found["sexual"]])),
        matched=[*minor_hits, *sexual_hits],
    )


def minors(texts: Mapping[str, str | None], *, signals: Iterable[Signal] = ()) -> list[str]:
    """Every sign that a request shows a minor (an age, a child word, Gemini's reading): the images it makes
    are moderated with the stricter threshold."""
    found = _findings(texts, signals)["minor"]
    return list(dict.fromkeys(hit for hits in found.values() for hit in hits))


def _findings(texts: Mapping[str, str | None], signals: Iterable[Signal]) -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, list[str]]] = {"minor": {}, "sexual": {}}
    for field, text in texts.items():
        if not text:
            continue
        folded = fold(text)
        if minor := _find(folded, MINOR_TERMS) + [f"age {a}" for a in stated_ages(folded) if a < ADULT_AGE]:
            found["minor"][field] = minor
        if sexual := _find(folded, SEXUAL_TERMS):
            found["sexual"][field] = sexual
    for field, kind, label in signals:
        found[kind].setdefault(field, []).append(label)
    return found


def character_texts(prefix: str, name: str, description: str, features: Mapping[str, object]) -> dict[str, str]:
    """A character's words keyed by field name, e.g. `character.visualFeatures.hair`."""
    texts = {f"{prefix}name": name, f"{prefix}description": description}
    texts.update({f"{prefix}visualFeatures.{k}": v for k, v in features.items() if isinstance(v, str)})
    return texts
