"""Danbooru-style tag text as ComfyUI reads it: escaping, weights, cleaning."""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_TAG_LENGTH = 80


def escape_tag(text: str) -> str:
    """User text must not open ComfyUI weight syntax: parentheses are escaped, whitespace collapsed."""
    text = re.sub(r"\s+", " ", text).strip()
    return text.replace("\\", "").replace("(", r"\(").replace(")", r"\)")


def weighted(tag: str, weight: float = 1.0) -> str:
    """`(tag:1.2)` in ComfyUI's emphasis syntax; weight 1 is the bare tag."""
    return tag if weight == 1.0 else f"({tag}:{weight:g})"


def clean_tags(values: Iterable[str], *, lower: bool = True) -> list[str]:
    """Comma-split, escaped, deduplicated tags; empty or overlong ones are dropped."""
    tags: list[str] = []
    for value in values:
        for part in value.split(","):
            tag = escape_tag(part.lower() if lower else part)
            if tag and len(tag) <= MAX_TAG_LENGTH and tag not in tags:
                tags.append(tag)
    return tags


def join(*groups: Iterable[str]) -> str:
    """One prompt line from tag groups, keeping the first occurrence of each tag."""
    seen: list[str] = []
    for group in groups:
        for tag in group:
            if tag and tag not in seen:
                seen.append(tag)
    return ", ".join(seen)
