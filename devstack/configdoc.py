"""docs/CONFIGURATION.md, written from `Settings` itself so it cannot drift: `python -m devstack.configdoc`.
`tests/test_docs.py` fails when the file differs from what this writes."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from comfyloom.settings import Settings

PATH = Path(__file__).parents[1] / "docs" / "CONFIGURATION.md"

HEADER = """# Configuration

Every setting is an environment variable (or a line of a `.env` file), read in one place,
`comfyloom/settings.py`; this table is written from it (`python -m devstack.configdoc`).
The API, the CPU worker and the GPU worker read the same names; each uses what it needs.
"""


def _default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return f"`{json.dumps(value.model_dump())}`"
    if isinstance(value, list):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def render() -> str:
    rows = [
        f"| `{name.upper()}` | {_default(field.default)} | {(field.description or '').replace('|', '/')} |"
        for name, field in Settings.model_fields.items()
    ]
    return "\n".join([HEADER, "| variable | default | meaning |", "|---|---|---|", *rows, ""])


if __name__ == "__main__":
    PATH.write_text(render())
