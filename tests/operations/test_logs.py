"""Logs an operator ships to a log pipeline: one JSON object per line, with no key or token in them."""

from __future__ import annotations

import io
import json
import logging

from comfyloom.logs import JsonFormatter, RedactSecrets


def capture(logger_name: str, *args: object, **extra: object) -> dict[str, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    handler.setFormatter(JsonFormatter("api"))
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        logger.warning(*args, extra=extra)
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert line.count("\n") == 1
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_an_access_log_line_keeps_the_path_but_not_the_key() -> None:
    entry = capture(
        "uvicorn.access",
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        "/api/v1/image-generation/jobs/42/events?access_token=cl_AbCdEfGhIjKlMnOp_qrs&x=1",
        "1.1",
        200,
    )
    assert (
        entry["message"]
        == '127.0.0.1:5000 - "GET /api/v1/image-generation/jobs/42/events?access_token=…&x=1 HTTP/1.1" 200'
    )
    assert entry["level"] == "warning"
    assert entry["service"] == "api"


def test_keys_and_bearer_tokens_are_masked_anywhere_in_a_message() -> None:
    entry = capture("comfyloom.api", "key %s sent as Authorization: Bearer %s", "cl_SECRETsecret123", "abc.def")
    assert "SECRET" not in json.dumps(entry)
    assert entry["message"] == "key cl_… sent as Authorization: Bearer …"


def test_temporal_context_becomes_fields() -> None:
    entry = capture("temporalio.activity", "queued", temporal_activity={"workflow_id": "avatar-1", "attempt": 2})
    assert entry["temporal_activity"] == {"workflow_id": "avatar-1", "attempt": 2}
