"""What the OpenAPI document states beyond what FastAPI reads off the models: the rules the API enforces
outside them, so a client generated from the spec (and a fuzzer) knows them.

- what each created resource opens (OpenAPI links: a character's id to its avatar, a job's id to its status),
  so a client, and the fuzzer's stateful phase, can follow one call with the next;
- every operation with a body answers 413 (api/body_guard.py refuses it before it is read);
- no string of a body holds NUL (the body guard refuses it in any field): a pattern on each;
- a scene's `size` is one of the sizes this deployment renders (the template's, within SCENE_MAX_PIXELS);
- where a 422 can answer a request the schema allows (a webhookUrl that resolves inwards, text refused as
  content, an Idempotency-Key reused), the 422's description names the error type; tests/api/fuzz_checks.py
  holds every 422 the fuzzer gets for valid data to these types.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI

from api.errors import ERROR_DESCRIPTIONS, responses
from api.generation import scene_sizes
from comfyloom.settings import Settings

# JSON Schema (ECMA-262) for "no NUL character"; the body guard's rule.
NUL_FREE = "^[^\\u0000]*$"
# Why a 422 may answer a body the schema allows: a webhook URL resolving inwards (any body with `webhookUrl`),
# text refused as content (the bodies whose text api/generation.py and the routes screen), an Idempotency-Key
# reused with another body (api/admission.py), and a priority only an operator may ask for (any with `priority`).
REFUSED_THOUGH_VALID = {
    "webhook_refused": "`webhookUrl` does not resolve, or resolves to a private or local address",
    "content_refused": "the text is refused as content (`fields` names it)",
    "idempotency_key_reused": "the `Idempotency-Key` was sent before with another request",
    "priority_refused": "`priority` is `urgent`, which only an operator key may ask for",
}
SCREENED_BODIES = {"CharacterCreate", "CharacterFields", "StoryCreate", "StoryFields", "CoverCreate", "SceneCreate"}


def _links() -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(operationId, status) -> the links of that response, by name."""
    by_id = "$response.body#/id"
    job = "$response.body#/jobId"
    character = {
        "character": {"operationId": "get_character", "parameters": {"character_id": by_id}},
        "images": {"operationId": "list_character_images", "parameters": {"character_id": by_id}},
        "delete": {"operationId": "delete_character", "parameters": {"character_id": by_id}},
        "avatar": {"operationId": "generate_avatar", "requestBody": {"characterId": by_id}},
        "sticker": {"operationId": "generate_sticker", "requestBody": {"characterId": by_id}},
        "stickerSet": {"operationId": "generate_sticker_set", "requestBody": {"characterId": by_id}},
    }
    story = {
        "story": {"operationId": "get_story", "parameters": {"story_id": by_id}},
        "images": {"operationId": "list_story_images", "parameters": {"story_id": by_id}},
        "delete": {"operationId": "delete_story", "parameters": {"story_id": by_id}},
        "cover": {"operationId": "generate_story_cover", "parameters": {"story_id": by_id}},
    }
    # Not `cancel_job`: a DELETE that cancels leaves the job answering (cancelled), which a stateful fuzzer
    # following a link to it takes for a deleted resource still served.
    accepted = {
        "status": {"operationId": "job_status", "parameters": {"job_id": job}},
        "events": {"operationId": "job_events", "parameters": {"job_id": job}},
        "deliveries": {"operationId": "job_deliveries", "parameters": {"job_id": job}},
    }
    starts = [
        "generate_avatar",
        "generate_sticker",
        "generate_cover",
        "generate_scene",
        "generate_auto_scene",
        "generate_story_cover",
    ]
    return {
        **{
            (op, status): character
            for op, status in [("create_character", "201"), ("upsert_character", "200"), ("upsert_character", "201")]
        },
        **{
            (op, status): story
            for op, status in [("create_story", "201"), ("upsert_story", "200"), ("upsert_story", "201")]
        },
        **{(op, "202"): accepted for op in starts},
        ("generate_sticker_set", "202"): {
            **accepted,
            "retry": {"operationId": "retry_sticker_set", "parameters": {"set_id": job}},
            # The same request again, as a client retrying without an Idempotency-Key sends it: the first set.
            "repeat": {
                "operationId": "generate_sticker_set",
                "requestBody": "$request.body",
                "x-schemathesis": {"merge_body": False},
            },
        },
    }


def document(app: FastAPI, settings: Settings) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            schemas = spec.get("components", {}).get("schemas", {})
            links = _links()
            for operation in _operations(spec):
                refusals = ["idempotency_key_reused"] if _has_header(operation, "Idempotency-Key") else []
                body = operation.get("requestBody")
                if body is not None:
                    operation["responses"].setdefault("413", _error_response(413))
                    schema = body["content"].get("application/json", {}).get("schema", {})
                    for found in _reachable(schema, schemas):
                        _forbid_nul(found)
                    top = next(_reachable(schema, schemas), {})
                    refusals[:0] = [
                        *(["content_refused"] if top.get("title") in SCREENED_BODIES else []),
                        *(["webhook_refused"] if "webhookUrl" in top.get("properties", {}) else []),
                        *(["priority_refused"] if "priority" in top.get("properties", {}) else []),
                    ]
                if refusals and "422" in operation["responses"]:
                    reasons = "; ".join(f"`{error}`: {REFUSED_THOUGH_VALID[error]}" for error in refusals)
                    operation["responses"]["422"]["description"] = " ".join(
                        [ERROR_DESCRIPTIONS[422], "A request the schema allows may still be refused:", reasons + "."]
                    )
                for status, response in operation["responses"].items():
                    _stream_items(response)
                    if (operation["operationId"], status) in links:
                        response["links"] = links[(operation["operationId"], status)]
            for scene in ("SceneCreate", "AutoSceneCreate"):
                size = schemas.get(scene, {}).get("properties", {}).get("size")
                if size is not None:
                    size["enum"] = [f"{w}x{h}" for w, h in scene_sizes(settings)]
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _stream_items(response: dict[str, Any]) -> None:
    """A stream declared with a `model` (each event's data) serves no JSON: its schema is of one server-sent event,
    whose `data` holds the model as JSON (as OpenAPI 3.2 describes a stream's items)."""
    content = response.get("content", {})
    if "text/event-stream" in content and "application/json" in content:
        data = content.pop("application/json")["schema"]
        content["text/event-stream"] = {
            "schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "event": {"type": "string"},
                    "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
                },
                "required": ["data"],
            }
        }


def _has_header(operation: dict[str, Any], name: str) -> bool:
    return any(
        p.get("in") == "header" and p.get("name", "").lower() == name.lower() for p in operation.get("parameters", [])
    )


def _operations(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for operations in spec["paths"].values():
        yield from operations.values()


def _error_response(code: int) -> dict[str, Any]:
    return {
        "description": responses(code)[code]["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }


def _reachable(schema: Any, components: dict[str, Any], seen: set[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every schema object inside `schema`, following `$ref`s into components once each."""
    seen = set() if seen is None else seen
    if isinstance(schema, list):
        for item in schema:
            yield from _reachable(item, components, seen)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.removeprefix("#/components/schemas/")
        if name not in seen:
            seen.add(name)
            yield from _reachable(components[name], components, seen)
        return
    yield schema
    for key, value in schema.items():
        if key in ("properties", "$defs"):
            for sub in value.values():
                yield from _reachable(sub, components, seen)
        elif key in ("items", "anyOf", "oneOf", "allOf", "not", "additionalProperties"):
            yield from _reachable(value, components, seen)


def _forbid_nul(schema: dict[str, Any]) -> None:
    """A free string gets the NUL-free pattern; patterns, formats and enums already leave NUL out."""
    if schema.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(schema):
        schema["pattern"] = NUL_FREE
