"""`python -m devstack demo` against an API that refuses it prints one sentence saying why and what to do, not a
traceback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devstack import localstack
from devstack.demo import run_demo


class Busy(BaseHTTPRequestHandler):
    """An API at its rate limit: every request is the 429 our API gives."""

    def do_POST(self) -> None:
        body = {"error": {"type": "rate_limited", "message": "at most 10 new jobs a minute", "retryAfter": 42}}
        raw = json.dumps(body).encode()
        self.send_response(429)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "42")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def busy_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_refusal_is_one_sentence_with_what_to_do(busy_api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_demo(busy_api, api_key="cl_x") == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "The API refused POST /api/v1/characters: at most 10 new jobs a minute (429). Wait 42 s and run it again"
        " (RATE_LIMIT_PER_MINUTE and MAX_CONCURRENT_JOBS set the limits)."
    )
    assert "Traceback" not in err


def test_an_api_that_is_not_there_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{localstack.free_port()}"
    assert run_demo(url, api_key="cl_x") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Cannot reach the API at {url}") and "./scripts/dev" in err
