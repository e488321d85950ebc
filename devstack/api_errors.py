"""The API's refusals as one sentence for a person at a terminal: what went wrong, and what to do about it."""

from __future__ import annotations

import httpx

ADVICE = {
    401: "Check the key: `comfyloom keys create --user ID` makes one (COMFYLOOM_API_KEY or --key sends it).",
    402: "Grant the user credits: `comfyloom credits grant --user ID --amount N`.",
    403: "This needs another key: an operator's for /admin, a service key to act for an app's users.",
    404: "Check the id: another user's character, story or job is not found either.",
    409: "Wait for the job to end, or cancel it, and try again.",
    413: "Send a smaller body (API_MAX_BODY_BYTES sets the limit).",
    422: "Fix the fields it names and send it again.",
    503: "A part of the stack is down: `GET /api/v1/image-generation/health` says which; nothing was charged.",
}


def sentence(response: httpx.Response) -> str:
    """`The API refused POST /api/v1/…: <its message> (429). <what to do>.`"""
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = response.text.strip()[:200] or response.reason_phrase
    status = response.status_code
    if status == 429:
        wait = response.headers.get("Retry-After", "a few")
        advice = f"Wait {wait} s and run it again (RATE_LIMIT_PER_MINUTE and MAX_CONCURRENT_JOBS set the limits)."
    else:
        advice = ADVICE.get(status, "The API's log says why." if status >= 500 else "")
    request = response.request
    return f"The API refused {request.method} {request.url.path}: {message} ({status}). {advice}".rstrip()


def unreachable(url: str, error: Exception) -> str:
    return f"Cannot reach the API at {url} ({error}). Is it running? `./scripts/dev` starts the whole stack."
