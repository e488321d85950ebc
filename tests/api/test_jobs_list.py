"""GET /jobs: a user's own jobs, newest first, filtered and paged, so a client can rebuild its view."""

from __future__ import annotations

import uuid

import asyncpg
import httpx

from comfyloom.db import jobs
from tests.helpers.auth import as_user

JOBS = "/api/v1/image-generation/jobs"


async def test_jobs_are_listed_newest_first_a_page_at_a_time(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    user = f"lister-{uuid.uuid4().hex[:8]}"
    made = []
    for i, kind in enumerate(["avatar", "sticker_set", "cover", "scene", "avatar"]):
        job = await jobs.create_job(
            pool,
            job_id=uuid.uuid4(),
            user_id=user,
            kind=kind,
            character_id=None,
            workflow_id=f"w-{user}-{i}",
            request={},
        )
        made.append(job)
    # A set's sticker is listed in its set's status, not here.
    await jobs.create_job(
        pool,
        job_id=uuid.uuid4(),
        user_id=user,
        kind="sticker",
        character_id=None,
        workflow_id=f"w-{user}-child",
        request={},
        set_id=made[1].id,
        emotion="happy",
    )
    await jobs.mark_failed(pool, made[0].id, "boom")
    headers = as_user(user)

    first = (await api.get(JOBS, params={"limit": 2}, headers=headers)).json()
    second = (await api.get(JOBS, params={"limit": 2, "cursor": first["nextCursor"]}, headers=headers)).json()
    third = (await api.get(JOBS, params={"limit": 2, "cursor": second["nextCursor"]}, headers=headers)).json()
    pages = [first, second, third]
    listed = [item["jobId"] for page in pages for item in page["items"]]
    assert listed == [str(job.id) for job in reversed(made)]
    assert third["nextCursor"] is None
    assert first["items"][0]["statusUrl"].endswith(f"/status/{made[-1].id}")

    avatars = (await api.get(JOBS, params={"kind": "avatar"}, headers=headers)).json()["items"]
    assert [a["jobId"] for a in avatars] == [str(made[4].id), str(made[0].id)]
    failed = (await api.get(JOBS, params={"status": "failed"}, headers=headers)).json()["items"]
    assert [(f["jobId"], f["error"]) for f in failed] == [(str(made[0].id), "boom")]

    assert (await api.get(JOBS, headers=as_user("someone-else"))).json()["items"] == []
    bad = await api.get(JOBS, params={"cursor": "nonsense"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "cursor"
    # Any cursor of the spec's form is a place: after the newest time, every job; before the first, none.
    latest = await api.get(JOBS, params={"cursor": "9" * 16 + "_" + "f" * 32, "limit": 100}, headers=headers)
    assert latest.status_code == 200 and len(latest.json()["items"]) == len(made)
    earliest = await api.get(JOBS, params={"cursor": "0_" + "0" * 32}, headers=headers)
    assert earliest.status_code == 200 and earliest.json()["items"] == []
    wrong_kind = await api.get(JOBS, params={"kind": "poster"}, headers=headers)
    assert wrong_kind.status_code == 422
