"""A job that names a webhook tells it how it ended: signed as Standard Webhooks are, retried until the receiver
accepts, each attempt on record, and accepted exactly once; a URL into a private network is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client

from comfyloom import webhooks
from tests.helpers.history import record
from tests.helpers.jobs import create_character, done, wait_for
from tests.helpers.webhooks import Receiver, accepted_within, serving_receiver

AVATAR = "/api/v1/image-generation/avatar"


@pytest.fixture
async def receiver(api: httpx.AsyncClient) -> AsyncIterator[Receiver]:
    async with serving_receiver(api, failures=2) as hook:
        yield hook


async def test_the_end_of_a_job_is_delivered_once_after_the_receiver_recovers(
    api: httpx.AsyncClient, client: Client, receiver: Receiver, cpu_worker: None, gpu_worker: None
) -> None:
    character = await create_character(api)
    started = await api.post(AVATAR, json={"characterId": character["id"], "webhookUrl": receiver.url})
    assert started.status_code == 202, started.text
    accepted = started.json()
    status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "ready"
    await accepted_within(receiver, 30)

    # Three deliveries of one event, the first two refused; each signature good; one accepted.
    assert len(receiver.seen) == 3 and len(set(receiver.seen)) == 1 and receiver.forged == 0
    [event] = receiver.accepted
    assert event["type"] == "job.ready"
    assert event["data"]["jobId"] == accepted["jobId"] and event["data"]["resultUrl"] == status["resultUrl"]
    # The attempt is recorded once its answer is in: a moment after the receiver sent it.
    for _ in range(50):
        attempts = (await api.get(f"/api/v1/webhooks/deliveries/{accepted['jobId']}")).json()
        if len(attempts) == 3:
            break
        await asyncio.sleep(0.1)
    assert [(a["attempt"], a["statusCode"]) for a in attempts] == [(1, 500), (2, 500), (3, 204)]
    assert attempts[0]["error"] == "down for maintenance"
    await asyncio.sleep(1)
    assert len(receiver.seen) == 3  # nothing more once accepted

    await record(client, accepted["workflowId"], "avatar_with_webhook")
    [webhook_run] = [
        w
        async for w in client.list_workflows("WorkflowType = 'WebhookWorkflow'")
        if w.parent_id == accepted["workflowId"]
    ]
    await record(client, webhook_run.id, "webhook_delivered_on_third_attempt")


async def test_a_set_reports_once_with_every_sticker(
    api: httpx.AsyncClient, receiver: Receiver, cpu_worker: None, gpu_worker: None
) -> None:
    receiver.failures = 0
    character = await create_character(api)
    body = {"characterId": character["id"], "emotions": ["happy", "sad"], "webhookUrl": receiver.url}
    started = await api.post("/api/v1/image-generation/stickers/bulk", json=body)
    assert started.status_code == 202, started.text
    assert (await wait_for(api, started.json()["jobId"], done))["status"] == "ready"
    await accepted_within(receiver, 30)
    [event] = receiver.accepted
    assert event["data"]["kind"] == "sticker_set"
    assert sorted(s["emotion"] for s in event["data"]["stickers"]) == ["happy", "sad"]
    assert all(s["status"] == "ready" for s in event["data"]["stickers"])


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3/hook", "http://169.254.169.254/latest", "http://[::1]:9/hook", "ftp://example.org/x"]
)
async def test_a_webhook_into_a_private_network_is_refused_naming_the_field(api: httpx.AsyncClient, url: str) -> None:
    character = await create_character(api)
    refused = await api.post(AVATAR, json={"characterId": character["id"], "webhookUrl": url})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "webhookUrl"


async def test_loopback_is_refused_unless_an_operator_allows_it() -> None:
    assert "private, loopback" in (await webhooks.refusal("http://127.0.0.1:8080/x", []) or "")
    assert await webhooks.refusal("http://127.0.0.1:8080/x", ["127.0.0.0/8"]) is None
    assert "does not resolve" in (await webhooks.refusal("http://no-such-host.invalid/x", []) or "")
    # What a fuzzer sent: an unclosed IPv6 bracket, a host no IDNA codec takes.
    for broken in ("http://k\u0101:[b/x", "http://\u00c7\u00e5\u00a5PY}K\U0001f60d/x", "http://a..b/x"):
        assert await webhooks.refusal(broken, []) is not None
