"""`python -m devstack.openapi`: the API's OpenAPI spec as clients are generated from it
(clients/typescript/openapi.json; scripts/ts-client regenerates the client, tests/clients checks for drift)."""

from __future__ import annotations

import json
from typing import Any


def spec() -> dict[str, Any]:
    from api.main import create_app  # the API's layer, loaded only for this tool
    from comfyloom.settings import Settings

    schema: dict[str, Any] = create_app(Settings(_env_file=None)).openapi()
    return schema


def text() -> str:
    return json.dumps(spec(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(text(), end="")
