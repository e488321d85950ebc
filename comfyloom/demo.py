"""`comfyloom demo`: what a client app does: create a character, then ask for every kind of image and follow each
to its WebP: avatar, sticker, a set of eight stickers, a story cover and a chat scene."""

from __future__ import annotations

import io
import sys
import time
from typing import Any

import httpx
from PIL import Image

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


def follow(http: httpx.Client, job: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """Print a job's stages as they change until it ends; its last status, or None on timeout."""
    started = time.monotonic()
    last = ""
    while True:
        status: dict[str, Any] = http.get(job["statusUrl"]).json()
        progress = status.get("progress") or {}
        line = status["stage"] + (f" {progress['step']}/{progress['total']}" if progress.get("total") else "")
        if line != last:
            print(f"  {time.monotonic() - started:6.2f}s  {line}", flush=True)
            last = line
        if status["status"] in ("ready", "failed", "cancelled"):
            return status
        if time.monotonic() - started > timeout:
            print(f"gave up after {timeout:.0f}s", file=sys.stderr)
            return None
        time.sleep(0.2)


def describe(url: str) -> str:
    webp = httpx.get(url)
    webp.raise_for_status()
    with Image.open(io.BytesIO(webp.content)) as img:
        return f"{img.format} {img.width}x{img.height} {img.mode}, {len(webp.content)} bytes"


def generate(http: httpx.Client, kind: str, body: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """Ask for one image (or a sticker set), follow it, print where it landed; its final status, or None."""
    started = time.monotonic()
    accepted = http.post(f"/api/v1/image-generation/{kind}", json=body)
    accepted.raise_for_status()
    job = accepted.json()
    print(f"\n{kind:<10} job {job['jobId']}  (Temporal workflow {job['workflowId']})")
    status = follow(http, job, timeout)
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
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=api_url, timeout=30, headers=headers) as http:
        character = http.post("/api/v1/characters", json=DEMO_CHARACTER)
        character.raise_for_status()
        character_id = character.json()["id"]
        print(f"character  {DEMO_CHARACTER['name']} ({character_id})")

        status = generate(http, "avatar", {"characterId": character_id}, timeout)
        if status is None:
            return 1
        [image] = http.get(f"/api/v1/characters/{character_id}/images").json()[:1]
        print(f"prompt     {image['positivePrompt']}")
        translated = f"translated by {image['translator']}" if image["translator"] else "untranslated"
        print(f"           seed {image['seed']}, template {image['template']}, {translated}")
        for warning in status.get("warnings", []):
            print(f"warning    {warning}")

        status = generate(http, "sticker", {"characterId": character_id, "emotion": "feliz"}, timeout)
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
            if generate(http, kind, body, timeout) is None:
                return 1
    return 0
