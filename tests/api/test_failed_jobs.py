"""Failed jobs an operator can act on: listed with why they failed, retried as a new job of the same request for
the same user (its credits held once more, one render), and refused when a retry would make no sense."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from activities.comfy import prompt_id_for
from comfyloom.db import jobs
from tests.helpers.auth import as_user
from tests.helpers.jobs import done, wait_for
from tests.helpers.parts import LocalParts
from tests.workflows.test_credits import account, failed_avatar, funded_user

OPERATOR = as_user("failed-jobs-operator", admin=True)
SEED = 7_310_000


@pytest.mark.usefixtures("cpu_worker", "gpu_worker")
async def test_an_operator_retries_a_failed_job_which_ends_ready_with_one_render_and_one_hold(
    api: httpx.AsyncClient, pool: asyncpg.Pool, local_parts: LocalParts
) -> None:
    user, headers, failed = await failed_avatar(api, pool, local_parts, amount=5, seed=SEED)

    listed = await api.get("/api/v1/admin/jobs", params={"reason": "ComfyExecutionFailed"}, headers=OPERATOR)
    assert listed.status_code == 200, listed.text
    [mine] = [item for item in listed.json()["items"] if item["jobId"] == failed["jobId"]]
    assert (mine["userId"], mine["reason"], mine["retriedAs"]) == (user, "ComfyExecutionFailed", None)

    retried = await api.post(f"/api/v1/admin/jobs/{failed['jobId']}/retry", headers=OPERATOR)
    assert retried.status_code == 202, retried.text
    again = retried.json()
    assert again["retryOf"] == failed["jobId"] and again["jobId"] != failed["jobId"]
    # The user's job, seen with the user's key; the fault was used up by the first render.
    status = await wait_for(api, again["jobId"], done, headers=headers)
    assert status["status"] == "ready", status
    after = await account(api, headers)
    assert (after["balance"], after["reserved"]) == (0, 0)
    assert [(e["entry"], e["amount"]) for e in after["ledger"][:3]] == [("hold", -5), ("release", 5), ("hold", -5)]
    assert (
        await pool.fetchval("select count(*) from generation_jobs where retry_of = $1", uuid.UUID(failed["jobId"])) == 1
    )
    async with httpx.AsyncClient() as http:
        ran = (await http.get(f"{local_parts.comfyui_url}/sim/stats")).json()["executions"]
    assert [e["prompt_id"] for e in ran].count(prompt_id_for(again["workflowId"], "render-1")) == 1  # one render
    # Asked again: the same new job, nothing started or held.
    twice = await api.post(f"/api/v1/admin/jobs/{failed['jobId']}/retry", headers=OPERATOR)
    assert twice.status_code == 202 and twice.json()["jobId"] == again["jobId"] and twice.json()["replayed"]
    assert (await account(api, headers))["balance"] == 0
    listed = (await api.get("/api/v1/admin/jobs", headers=OPERATOR)).json()["items"]
    assert next(i for i in listed if i["jobId"] == failed["jobId"])["retriedAs"] == again["jobId"]


async def failed_job(pool: asyncpg.Pool, user: str, *, reason: str, cancelled: bool = False) -> uuid.UUID:
    """A job row closed as the workflow closes one, without running one."""
    job_id = uuid.uuid4()
    key_id = await pool.fetchval("select id from api_keys where user_id = $1 limit 1", user)
    await jobs.create_job(
        pool,
        job_id=job_id,
        user_id=user,
        kind="avatar",
        character_id=None,
        workflow_id=f"avatar-{job_id}",
        request={"characterId": str(uuid.uuid4())},
        key_id=key_id,
    )
    await jobs.mark_failed(pool, job_id, "no", cancelled=cancelled, reason=reason)
    return job_id


async def test_cancelled_refused_unfinished_and_unknown_jobs_are_not_retried(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    user = "retry-refusals"
    assert (await api.get("/api/v1/credits", headers=as_user(user))).status_code == 200  # the user's key exists
    cases = {
        "job_cancelled": await failed_job(pool, user, reason="cancelled", cancelled=True),
        "refused_for_content": await failed_job(pool, user, reason="ContentBlocked"),
    }
    for expected, job_id in cases.items():
        answer = await api.post(f"/api/v1/admin/jobs/{job_id}/retry", headers=OPERATOR)
        assert answer.status_code == 409, answer.text
        error = answer.json()["error"]
        assert error["type"] == expected and error["fields"][0]["field"] == "jobId", error
    missing = await api.post(f"/api/v1/admin/jobs/{uuid.uuid4()}/retry", headers=OPERATOR)
    assert missing.status_code == 404
    not_an_operator = await api.post(f"/api/v1/admin/jobs/{cases['refused_for_content']}/retry", headers=as_user(user))
    assert not_an_operator.status_code == 403
    wrong_status = await api.get("/api/v1/admin/jobs", params={"status": "ready"}, headers=OPERATOR)
    assert wrong_status.status_code == 422 and "status" in wrong_status.text


async def test_a_retry_for_a_user_without_the_credits_is_a_402_and_starts_nothing(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    user, _, character = await funded_user(api, pool, 4)
    job_id = await failed_job(pool, user, reason="ComfyExecutionFailed")
    await pool.execute("update generation_jobs set request = $2 where id = $1", job_id, {"characterId": character})
    answer = await api.post(f"/api/v1/admin/jobs/{job_id}/retry", headers=OPERATOR)
    assert answer.status_code == 402, answer.text
    assert answer.json()["error"]["type"] == "insufficient_credits"
    assert await pool.fetchval("select count(*) from generation_jobs where user_id = $1", user) == 1
