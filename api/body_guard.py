"""What every request body passes before any route sees it: a size limit, JSON, and text Postgres can store.

Checked once here rather than per field, so a new field cannot forget it: a body over API_MAX_BODY_BYTES is a
413 before it is read, a body that is not JSON is a 422 naming `body`, and a string holding NUL or a lone
UTF-16 surrogate (valid JSON escapes that no UTF-8 text column accepts) is a 422 naming its field.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

BODY_METHODS = {"POST", "PUT", "PATCH"}


def bad_text(value: str) -> str | None:
    """Why Postgres would refuse this text, or None."""
    if "\x00" in value:
        return "must not contain the NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain a lone UTF-16 surrogate (\\ud800-\\udfff)"
    return None


def find_bad_text(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first string (or object key) in a parsed JSON body that no text column can hold, with its path."""
    if isinstance(value, str):
        why = bad_text(value)
        return (path or "body", why) if why else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            if found := find_bad_text(item, f"{path}[{i}]"):
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if why := bad_text(str(key)):
                return (path or "body", f"a field name {why}")
            if found := find_bad_text(item, name):
                return found
    return None


class BodyGuard:
    """Pure ASGI, so an oversized body is refused from its Content-Length, drained but never kept or parsed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send, more=message.get("more_body", False))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body.strip():
            refusal = self._refusal(body)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, *, more: bool = True) -> None:
        """Drain what the client is still sending (kept nowhere), so it reads the 413 rather than a reset."""
        while more:
            message = await receive()
            more = message["type"] == "http.request" and message.get("more_body", False)
        text = f"the request body is over this API's limit of {self.max_bytes} bytes"
        response = JSONResponse(error_body("body_too_large", text), status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)

    @staticmethod
    def _refusal(body: bytes) -> JSONResponse | None:
        try:
            parsed = json.loads(body)
        except (UnicodeDecodeError, ValueError) as e:
            return _invalid("body", f"the body is not JSON: {e}", "json_invalid")
        if found := find_bad_text(parsed):
            field, why = found
            return _invalid(field, why, "string_invalid_text")
        return None


def _invalid(field: str, why: str, kind: str) -> JSONResponse:
    fields = [{"field": field, "in": "body", "message": why, "type": kind}]
    return JSONResponse(error_body("validation_error", f"{field}: {why}", fields), status_code=422)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read above, handed to the app as if just received; later messages (a disconnect) pass on."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
