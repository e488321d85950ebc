"""`python -m devstack demo`: what a client app does: create a character, then ask for every kind of image and
follow each to its WebP: avatar, sticker, a set of eight stickers, a story cover and a chat scene."""

from __future__ import annotations

import io
import json
import sys
import time
from typing import Any

import httpx
from PIL import Image
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from devstack import api_errors

DEMO_CHARACTER = {
    "name": "Rem Dragneel",
    "description": "Uma jovem oni gentil de cabelo azul curto, olhos azuis, baixinha (154cm), com um chifre.",
    "visualFeatures": {
        "gender": "female",
        "species": "oni, horn",
        "hair": "blue hair, bang covering eye",
        "eyes": "blue eyes, heterochromia",
        "body": "slender, 154cm",
    },
}

DEMO_STORY = {
    "title": "A Lua de Cristal",
    "genre": "fantasia",
    "synopsis": "Uma jovem oni atravessa uma floresta encantada em busca da lua perdida.",
}
DEMO_SCENE = {"context": "Rem: que tal um café na praia ao pôr do sol?", "size": "1216x832", "chatId": "demo-chat"}


# How far along each stage is, for the progress bar; rendering fills the span by its steps.
STAGE_PERCENT = {
    "queued": 0,
    "building_prompt": 5,
    "waiting_for_translation": 5,
    "waiting_for_gpu": 10,
    "rendering": 10,
    "converting": 92,
    "uploading": 96,
    "saving": 98,
    "done": 100,
}
BAR_WIDTH = 30


def stickers_ended(status: dict[str, Any]) -> tuple[int, int]:
    """A set's stickers that have ended, and how many it has (0, 0 for any other job)."""
    stickers = status.get("stickers") or []
    return sum(s["status"] in ("ready", "failed", "cancelled") for s in stickers), len(stickers)


def percent(status: dict[str, Any]) -> int:
    ended, count = stickers_ended(status)
    if count:
        return 100 * ended // count
    progress = status.get("progress") or {}
    if status["stage"] == "rendering" and progress.get("total"):
        return 10 + 80 * int(progress["step"]) // int(progress["total"])
    return STAGE_PERCENT.get(status["stage"], 100)


def bar(status: dict[str, Any], elapsed: float) -> str:
    done = percent(status)
    filled = BAR_WIDTH * done // 100
    progress = status.get("progress") or {}
    ended, count = stickers_ended(status)
    if count:
        step = f" {ended}/{count} stickers"
    elif status["stage"] == "rendering" and progress.get("total"):
        step = f" {progress['step']}/{progress['total']}"
    else:
        step = ""
    return f"  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:3d}%  {status['stage']}{step}  {elapsed:.2f}s"


def follow(api_url: str, api_key: str, job: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """Draw a job's progress bar from its live WebSocket stream until it ends; its last status, or None.

    On a terminal the bar redraws in place; otherwise (a log, a pipe) each stage gets a line of its own.
    """
    started = time.monotonic()
    url = f"{api_url.replace('http', 'ws', 1)}/api/v1/image-generation/ws/{job['jobId']}"
    live = sys.stdout.isatty()
    status: dict[str, Any] | None = None
    shown: tuple[str, int] | None = None
    with connect(url, additional_headers={"Authorization": f"Bearer {api_key}"}, open_timeout=10) as socket:
        while True:
            left = timeout - (time.monotonic() - started)
            try:
                frame = socket.recv(timeout=max(left, 0.1))
            except TimeoutError:
                print(f"\ngave up after {timeout:.0f}s", file=sys.stderr)
                return None
            except ConnectionClosed:
                break
            status = json.loads(frame)
            assert status is not None
            line = bar(status, time.monotonic() - started)
            if live:
                print(f"\r{line}", end="", flush=True)
            # Off a terminal: a line per stage, and per finished sticker of a set, not per render step.
            mark = (status["stage"], percent(status) if status.get("stickers") else 0)
            if not live and mark != shown:
                print(line, flush=True)
            shown = mark
    if live:
        print()
    return status


def describe(url: str) -> str:
    webp = httpx.get(url)
    webp.raise_for_status()
    with Image.open(io.BytesIO(webp.content)) as img:
        return f"{img.format} {img.width}x{img.height} {img.mode}, {len(webp.content)} bytes"


def generate(
    http: httpx.Client, api_key: str, kind: str, body: dict[str, Any], timeout: float
) -> dict[str, Any] | None:
    """Ask for one image (or a sticker set), follow it, print where it landed; its final status, or None."""
    started = time.monotonic()
    accepted = http.post(f"/api/v1/image-generation/{kind}", json=body)
    accepted.raise_for_status()
    job = accepted.json()
    print(f"\n{kind:<10} job {job['jobId']}  (Temporal workflow {job['workflowId']})")
    status = follow(str(http.base_url).rstrip("/"), api_key, job, timeout)
    if status is None or status["status"] != "ready":
        print(f"{kind} failed: {status and status['error']}", file=sys.stderr)
        return None
    took = f"ready in {time.monotonic() - started:.2f}s"
    if status.get("stickers"):
        print(f"           {len(status['stickers'])} stickers, {took}")
        for sticker in status["stickers"]:
            print(f"           {sticker['emotion']:<10} {sticker['resultUrl']}")
        return status
    print(f"           {status['resultUrl']}")
    print(f"           {describe(status['resultUrl'])}, {took}")
    return status


def run_demo(api_url: str, *, api_key: str, timeout: float = 300.0) -> int:
    """Every kind, as a client does; an API refusal or an unreachable API is one sentence on stderr and exit 1."""
    try:
        return _every_kind(api_url, api_key=api_key, timeout=timeout)
    except httpx.HTTPStatusError as e:
        print(api_errors.sentence(e.response), file=sys.stderr)
    except (httpx.TransportError, OSError) as e:
        print(api_errors.unreachable(api_url, e), file=sys.stderr)
    return 1


def _every_kind(api_url: str, *, api_key: str, timeout: float) -> int:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=api_url, timeout=30, headers=headers) as http:
        character = http.post("/api/v1/characters", json=DEMO_CHARACTER)
        character.raise_for_status()
        character_id = character.json()["id"]
        print(f"character  {DEMO_CHARACTER['name']} ({character_id})")

        status = generate(http, api_key, "avatar", {"characterId": character_id}, timeout)
        if status is None:
            return 1
        [image] = http.get(f"/api/v1/characters/{character_id}/images").json()[:1]
        print(f"prompt     {image['positivePrompt']}")
        translated = f"translated by {image['translator']}" if image["translator"] else "untranslated"
        print(f"           seed {image['seed']}, template {image['template']}, {translated}")
        if checked := image.get("moderation"):
            print(f"moderation {checked['model']} scored {checked['score']:.3f}: {checked['action']}")
        for warning in status.get("warnings", []):
            print(f"warning    {warning}")

        status = generate(http, api_key, "sticker", {"characterId": character_id, "emotion": "feliz"}, timeout)
        if status is None:
            return 1
        messenger = status["resultUrl"].removesuffix(".webp") + "_512.webp"
        print(f"           messenger sticker {describe(messenger)}")

        others: list[tuple[str, dict[str, Any]]] = [
            ("stickers/bulk", {"characterId": character_id}),
            ("cover", {**DEMO_STORY, "characterIds": [character_id]}),
            ("scene", {**DEMO_SCENE, "characterIds": [character_id]}),
        ]
        for kind, body in others:
            if generate(http, api_key, kind, body, timeout) is None:
                return 1
    return 0
