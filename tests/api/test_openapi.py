"""The OpenAPI docs at /docs describe every endpoint, its errors and the API-key scheme."""

from __future__ import annotations

from typing import Any

import httpx

from api.pages import CURSOR
from api.spec import NUL_FREE
from devstack import openapi

PUBLIC = {"/api/v1/image-generation/health"}


async def test_every_endpoint_is_described_with_its_errors_and_auth(api: httpx.AsyncClient) -> None:
    spec: dict[str, Any] = (await api.get("/openapi.json")).json()
    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert (
        scheme["type"] == "http" and scheme["scheme"] == "bearer" and "comfyloom keys create" in scheme["description"]
    )
    assert "ErrorOut" in spec["components"]["schemas"]
    undescribed, unsecured, unerrored = [], [], []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            name = f"{method.upper()} {path}"
            if not operation.get("description"):
                undescribed.append(name)
            if path in PUBLIC:
                assert "security" not in operation
                continue
            if operation.get("security") != [{"ApiKey": []}]:
                unsecured.append(name)
            for code in ("401", "422"):
                ref = operation["responses"].get(code, {}).get("content", {}).get("application/json", {})
                if ref.get("schema", {}).get("$ref") != "#/components/schemas/ErrorOut":
                    unerrored.append(f"{name} {code}")
    assert undescribed == [] and unsecured == [] and unerrored == []
    starts = spec["paths"]["/api/v1/image-generation/avatar"]["post"]
    assert {"401", "402", "404", "422", "429"} <= set(starts["responses"])
    assert "503" not in starts["responses"], "a start is admitted whether or not Temporal answers now"
    assert any(p["name"] == "Idempotency-Key" for p in starts["parameters"])
    assert (await api.get("/docs")).status_code == 200
    # Generated clients name each call by its operationId: the route's own name, once each.
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)) and "generate_avatar" in ids and "upsert_character" in ids


def test_the_spec_states_the_rules_the_api_enforces_outside_its_models() -> None:
    """What a client generated from the spec (and a fuzzer) must know: api/spec.py."""
    document = openapi.spec()
    schemas = document["components"]["schemas"]
    assert schemas["CharacterCreate"]["properties"]["name"]["pattern"] == NUL_FREE
    assert schemas["SceneCreate"]["properties"]["size"]["enum"][0] == "1024x1024"
    assert [form["required"] for form in schemas["CoverCreate"]["oneOf"]] == [["storyId"], ["title"]]
    characters = document["paths"]["/api/v1/characters"]
    assert characters["get"]["parameters"][1]["name"] == "cursor"
    assert characters["get"]["parameters"][1]["schema"]["anyOf"][0]["pattern"] == CURSOR
    created = characters["post"]["responses"]["201"]["links"]
    assert created["stickerSet"] == {
        "operationId": "generate_sticker_set",
        "requestBody": {"characterId": "$response.body#/id"},
    }
    avatar = document["paths"]["/api/v1/image-generation/avatar"]["post"]["responses"]["422"]["description"]
    assert "`webhook_refused`" in avatar and "`idempotency_key_reused`" in avatar
