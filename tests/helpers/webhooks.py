"""An app's webhook endpoint on 127.0.0.1, for tests: it verifies every signature as Standard Webhooks say."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Receiver:
    """An app's endpoint: verifies each signature, answers 500 to the first `failures` deliveries, then 204."""

    secret: str
    failures: int
    url: str = ""
    seen: list[str] = field(default_factory=list)  # each delivery's webhook-id, in order
    accepted: list[dict[str, Any]] = field(default_factory=list)
    forged: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        try:
            event = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.forged += 1
            return web.Response(status=401)
        self.seen.append(request.headers["webhook-id"])
        if len(self.seen) <= self.failures:
            return web.Response(status=500, text="down for maintenance")
        self.accepted.append(event)
        return web.Response(status=204)


@asynccontextmanager
async def serving_receiver(api: httpx.AsyncClient, *, failures: int = 0) -> AsyncIterator[Receiver]:
    """A receiver for the webhooks of `api`'s key (its secret made here), refusing the first `failures`."""
    secret = (await api.post("/api/v1/webhooks/secret")).json()["webhookSecret"]
    hook = Receiver(secret=secret, failures=failures)
    app = web.Application()
    app.router.add_post("/hooks/comfyloom", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/hooks/comfyloom"
    try:
        yield hook
    finally:
        await runner.cleanup()


async def accepted_within(hook: Receiver, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not hook.accepted:
        assert time.monotonic() < deadline, f"no delivery accepted; attempts seen: {hook.seen}"
        await asyncio.sleep(0.2)
