"""Bad input gets a 4xx JSON body that names the field; unknown or foreign ids are 404."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.helpers.auth import as_user
from tests.helpers.jobs import CHARACTER, create_character

URL_CHARACTERS = "/api/v1/characters"
URL_AVATAR = "/api/v1/image-generation/avatar"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "x"}, "name"),
        ({**CHARACTER, "name": ""}, "name"),
        ({**CHARACTER, "name": "x" * 101}, "name"),
        ({**CHARACTER, "visualFeatures": {"gender": "robot"}}, "visualFeatures.gender"),
        ({**CHARACTER, "visualFeatures": {"hairColour": "blue"}}, "visualFeatures.hairColour"),
        ({**CHARACTER, "nickname": "Remy"}, "nickname"),
        ({**CHARACTER, "visualFeatures": {"age": False}}, "visualFeatures.age"),
        ({**CHARACTER, "visualFeatures": {"age": "16"}}, "visualFeatures.age"),
        ({**CHARACTER, "name": "Ana\u0000"}, "name"),
    ],
)
async def test_invalid_character_is_422_naming_the_field(
    api: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await api.post(URL_CHARACTERS, json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert [f["field"] for f in error["fields"]] == [field]
    assert field in error["message"]


async def test_unknown_and_malformed_character_ids_are_404(api: httpx.AsyncClient) -> None:
    for ident in (uuid.uuid4(), "not-a-uuid"):
        response = await api.get(f"{URL_CHARACTERS}/{ident}")
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found"


async def test_another_users_character_is_404(api: httpx.AsyncClient) -> None:
    character = await create_character(api, user="owner")
    response = await api.get(f"{URL_CHARACTERS}/{character['id']}", headers=as_user("intruder"))
    assert response.status_code == 404
    avatar = await api.post(URL_AVATAR, json={"characterId": character["id"]}, headers=as_user("intruder"))
    assert avatar.status_code == 404
    assert avatar.json()["error"]["fields"][0]["field"] == "characterId"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "characterId"),
        ({"characterId": "abc"}, 422, "characterId"),
        ({"characterId": str(uuid.uuid4()), "seed": -1}, 422, "seed"),
        ({"characterId": str(uuid.uuid4()), "loras": [{"name": "../../etc/passwd"}]}, 422, "loras.0.name"),
        ({"characterId": str(uuid.uuid4()), "loras": [{"name": "a", "strengthClip": 99}]}, 422, "loras.0.strengthClip"),
        ({"characterId": str(uuid.uuid4())}, 404, "characterId"),
    ],
)
async def test_invalid_avatar_requests(
    api: httpx.AsyncClient, body: dict[str, object], status: int, field: str
) -> None:
    response = await api.post(URL_AVATAR, json=body)
    assert response.status_code == status
    assert response.json()["error"]["fields"][0]["field"] == field


async def test_unknown_job_is_404(api: httpx.AsyncClient) -> None:
    for ident in (uuid.uuid4(), "nope"):
        response = await api.get(f"/api/v1/image-generation/status/{ident}")
        assert response.status_code == 404 and response.json()["error"]["fields"][0]["field"] == "jobId"


async def test_text_postgres_cannot_store_is_422_naming_the_field_wherever_it_is(api: httpx.AsyncClient) -> None:
    """NUL and lone surrogates are valid JSON escapes; they are refused before any route, at any depth."""
    character = await create_character(api)
    lora = '{"name": "ok.safetensors", "triggerWords": ["fine", "bad\\udc00"]}'
    raw = f'{{"characterId": "{character["id"]}", "loras": [{lora}]}}'
    response = await api.post(URL_AVATAR, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["loras[0].triggerWords[1]"]


async def test_a_body_that_is_not_json_is_422_naming_the_body(api: httpx.AsyncClient) -> None:
    for content in (b"name=Ana", b"\xff\xfe", b'{"name": "Ana"'):
        response = await api.post(URL_CHARACTERS, content=content, headers={"Content-Type": "application/json"})
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"] == "body"


async def test_a_body_over_the_limit_is_413_before_it_is_parsed(api: httpx.AsyncClient) -> None:
    """A 5 MB body that is not even JSON: refused from its size alone, with the one error shape."""
    response = await api.post(URL_CHARACTERS, content=b"x" * 5_000_000, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "body_too_large"

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b"x" * 1000

    response = await api.post(URL_CHARACTERS, content=chunked(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    spec = (await api.get("/openapi.json")).json()
    assert "413" in spec["paths"][URL_CHARACTERS]["post"]["responses"]
    assert "413" not in spec["paths"]["/api/v1/image-generation/jobs"]["get"]["responses"]


async def test_an_unknown_emotion_says_what_works_in_words_a_client_can_show(api: httpx.AsyncClient) -> None:
    """A validator's own sentence, without pydantic's "Value error, " in front; Portuguese names work too."""
    character = await create_character(api)
    response = await api.post(
        "/api/v1/image-generation/sticker", json={"characterId": character["id"], "emotion": "hangry"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert [f["field"] for f in error["fields"]] == ["emotion"]
    message = error["fields"][0]["message"]
    assert message.startswith("unknown emotion 'hangry'; use one of: happy, sad,"), message
    assert "Portuguese name (feliz, triste," in message and "Value error" not in error["message"]
