"""Story covers end to end: described inline (and saved as a story) or of a stored story; the cover lands under
the story's key, the story points at it, and its provenance is listed with the story, not with the characters."""

from __future__ import annotations

import io
import re
import uuid

import asyncpg
import httpx
import pytest
from PIL import Image
from temporalio.client import Client

from comfyloom.db import characters
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from tests.helpers.auth import as_user
from tests.helpers.gpu import staging_left
from tests.helpers.history import record
from tests.helpers.jobs import create_character, done, post, wait_for

USER = as_user("user-1")
STORY = {
    "title": "A Lua de Cristal",
    "genre": "fantasia",
    "synopsis": "Duas irmãs oni atravessam uma floresta encantada em busca da lua perdida.",
}


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_cover_of_a_described_story_is_saved_with_a_new_story(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    sisters = [(await create_character(api))["id"], (await create_character(api))["id"]]
    response = await post(api, "/api/v1/image-generation/cover", {**STORY, "characterIds": sisters, "seed": 7})
    assert response.status_code == 202, response.text
    accepted = response.json()
    story_id = accepted["storyId"]
    assert accepted["workflowId"] == f"cover-{accepted['jobId']}"

    status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "ready", status
    assert status["storyId"] == story_id
    await record(client, accepted["workflowId"], "cover_ready")
    key = status["resultUrl"].removeprefix(settings.public_url(""))
    assert re.fullmatch(rf"stories/{story_id}/cover/cover_\d{{13}}_{accepted['jobId']}\.webp", key), key
    async with httpx.AsyncClient() as http:
        published = await http.get(status["resultUrl"])
    with Image.open(io.BytesIO(published.content)) as img:
        assert (img.format, img.size, img.mode) == ("WEBP", (1024, 1024), "RGB")
        assert f"<comfyloom:story>{story_id}</comfyloom:story>".encode() in img.info["xmp"]

    story = (await api.get(f"/api/v1/stories/{story_id}", headers=USER)).json()
    assert story["title"] == STORY["title"] and story["characterIds"] == sisters
    assert story["coverUrl"] == status["resultUrl"]
    [image] = (await api.get(f"/api/v1/stories/{story_id}/images", headers=USER)).json()
    assert image["kind"] == "cover" and image["template"] == "cover" and image["seed"] == 7
    assert "(key visual:1.2)" in image["positivePrompt"] and "2girls" in image["positivePrompt"]
    assert "fantasy" in image["positivePrompt"]  # the genre, given in Portuguese
    assert "A Lua de Cristal\nfantasia\nDuas irmãs" in image["sourceText"]
    assert await pool.fetchval("select url from story_covers where story_id = $1", uuid.UUID(story_id)) == image["url"]
    # A cover is the story's, not one of its characters' images.
    assert (await api.get(f"/api/v1/characters/{sisters[0]}/images", headers=USER)).json() == []
    assert await staging_left(store, accepted["workflowId"]) == []
    history = await client.get_workflow_handle(accepted["workflowId"]).fetch_history()
    raw = b"".join(event.SerializeToString() for event in history.events)
    print(f"\ncover workflow history: {len(history.events)} events, {len(raw)} bytes")
    assert len(raw) < 64 * 1024


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_a_stored_story_gets_a_new_cover_by_the_design_documents_route(api: httpx.AsyncClient) -> None:
    created = await post(api, "/api/v1/stories", {"title": "Sem Personagens", "genre": "terror"})
    assert created.status_code == 201, created.text
    story = created.json()
    assert story["coverUrl"] is None and story["characterIds"] == []

    first = (await post(api, "/api/v1/image-generation/cover", {"storyId": story["id"]})).json()
    second = await post(api, f"/api/v1/stories/{story['id']}/generate-cover", {"seed": 3})
    assert second.status_code == 202, second.text
    statuses = [await wait_for(api, job["jobId"], done) for job in (first, second.json())]
    assert [s["status"] for s in statuses] == ["ready", "ready"]
    assert (await api.get(f"/api/v1/stories/{story['id']}", headers=USER)).json()["coverUrl"] in {
        s["resultUrl"] for s in statuses
    }
    covers = (await api.get(f"/api/v1/stories/{story['id']}/images", headers=USER)).json()
    assert len(covers) == 2 and all("no humans" in c["positivePrompt"] for c in covers)


async def test_cover_requests_name_the_field_that_is_wrong(api: httpx.AsyncClient) -> None:
    character = await create_character(api)
    story = (await post(api, "/api/v1/stories", {"title": "T"})).json()

    def fields(response: httpx.Response) -> list[str]:
        return [f["field"] for f in response.json()["error"]["fields"]]

    both = await post(api, "/api/v1/image-generation/cover", {"storyId": story["id"], "title": "T", "genre": "x"})
    assert both.status_code == 422 and fields(both) == ["title", "genre"]
    neither = await post(api, "/api/v1/image-generation/cover", {"genre": "fantasy"})
    assert neither.status_code == 422 and fields(neither) == ["title"]
    missing = await post(
        api, "/api/v1/image-generation/cover", {"title": "T", "characterIds": [character["id"], str(uuid.uuid4())]}
    )
    assert missing.status_code == 404 and fields(missing) == ["characterIds[1]"]
    twice = await post(api, "/api/v1/image-generation/cover", {"title": "T", "characterIds": [character["id"]] * 2})
    assert twice.status_code == 422 and fields(twice) == ["characterIds"]
    theirs = await post(api, "/api/v1/image-generation/cover", {"storyId": story["id"]}, user="user-2")
    assert theirs.status_code == 404 and fields(theirs) == ["storyId"]
    assert (await api.get(f"/api/v1/stories/{story['id']}", headers=as_user("user-2"))).status_code == 404
    too_many = await post(api, "/api/v1/stories", {"title": "T", "characterIds": [str(uuid.uuid4()) for _ in range(5)]})
    assert too_many.status_code == 422 and fields(too_many) == ["characterIds"]


async def test_unsafe_stories_are_refused_before_any_job(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    user = f"user-{uuid.uuid4().hex[:8]}"
    unsafe = {"title": "Noite", "synopsis": "Uma criança em cenas de sexo."}
    for path in ("/api/v1/stories", "/api/v1/image-generation/cover"):
        response = await post(api, path, unsafe, user=user)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["type"] == "content_refused" and [f["field"] for f in error["fields"]] == ["synopsis"]
    assert await pool.fetchval("select count(*) from stories where user_id = $1", user) == 0
    assert await pool.fetchval("select count(*) from generation_jobs where user_id = $1", user) == 0

    # A stored story whose character became unsafe is refused by the story's id.
    row = await characters.create_character(
        pool, user_id=user, name="Yui", description="criança nua", visual_features={}
    )
    story = await pool.fetchval(
        "insert into stories (id, user_id, title, character_ids) values ($1, $2, 'T', $3) returning id",
        uuid.uuid4(),
        user,
        [row.id],
    )
    response = await post(api, f"/api/v1/stories/{story}/generate-cover", {}, user=user)
    assert response.status_code == 422 and response.json()["error"]["fields"][0]["field"] == "storyId"
