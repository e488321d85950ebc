"""A local HTTP endpoint that speaks Gemini's `generateContent`, for the real google-genai client (tests, benches).

Gemini cannot run here, so this stands in for the network service only: the SDK, its request
encoding and its response parsing are the real ones. Tests script replies and read what was sent.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from devstack import localstack

API_KEY = "test-gemini-key"


@dataclass
class SentRequest:
    version: str
    model: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def user_text(self) -> str:
        return str(self.body["contents"][0]["parts"][0]["text"])

    @property
    def instruction(self) -> str:
        return str(self.body["systemInstruction"]["parts"][0]["text"])


Reply = tuple[int, dict[str, Any]]


def answer(obj: Any) -> Reply:
    """A successful structured answer: the JSON text in the first candidate, as Gemini sends it."""
    return text(json.dumps(obj))


def text(body: str) -> Reply:
    return 200, {
        "candidates": [{"content": {"role": "model", "parts": [{"text": body}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 40, "totalTokenCount": 160},
        "modelVersion": "gemini-2.5-flash-lite",
    }


def error(code: int, status: str, message: str, *, retry_delay: str | None = None) -> Reply:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}] if retry_delay else []
    return code, {"error": {"code": code, "message": message, "status": status, "details": details}}


def blocked(reason: str) -> Reply:
    return 200, {"promptFeedback": {"blockReason": reason}, "usageMetadata": {"promptTokenCount": 120}}


def _respond(reply: Reply) -> web.Response:
    status, payload = reply
    return web.json_response(payload, status=status)


@dataclass
class FakeGemini:
    port: int = field(default_factory=localstack.free_port)
    requests: list[SentRequest] = field(default_factory=list)
    replies: deque[Reply] = field(default_factory=deque)
    # Answers a request when no scripted reply is left (a test's stand-in for Gemini's reading); else `{}`.
    responder: Callable[[SentRequest], Reply] | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.requests.clear()
        self.replies.clear()
        self.responder = None

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def _generate(self, request: web.Request) -> web.Response:
        version, target = request.match_info["version"], request.match_info["target"]
        model, _, method = target.partition(":")
        if version not in ("v1", "v1beta") or method != "generateContent":
            return _respond(error(404, "NOT_FOUND", f"{request.path} not found"))
        if request.headers.get("x-goog-api-key") != API_KEY:
            return _respond(error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."))
        body = await request.json()
        self.requests.append(SentRequest(version, model, dict(request.headers), body))
        sent = self.requests[-1]
        if self.replies:
            return _respond(self.replies.popleft())
        return _respond(self.responder(sent) if self.responder else answer({}))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{version}/models/{target}", self._generate)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
