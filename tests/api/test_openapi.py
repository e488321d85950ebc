"""The OpenAPI docs at /docs describe every endpoint, its errors and the API-key scheme."""

from __future__ import annotations

from typing import Any

import httpx

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
