"""A conversation's automatic scenes: how many Gemini calls the cooldown, the new-message count and the answer
cache save over `--turns` chat turns.

    .venv/bin/python bench/auto_scenes.py [--turns 100] [--turn-seconds 0.2] [--cooldown 3] [--min-messages 4]

One user chats with Rem on a fresh dev stack: each turn is the user's message and Rem's reply, one turn every
`--turn-seconds`, and after each the app posts scene/auto with the chat's last 8 messages; `--resend` of the posts
are sent again at once (an app retrying after a lost answer). Time is scaled: a 3 s cooldown with a turn every
0.2 s is AUTO_SCENE_COOLDOWN_SECONDS=300 with a turn every 20 s. Every `--new-place-every` turns the user names a
new place. Gemini is the local endpoint (devstack/gemini_endpoint.py), reading a moment as a real one would be
asked to: a new place not yet drawn is worth a scene, the place the last scene shows is the same moment, anything
else small talk. Prints how each post was answered, and the Gemini calls made against one a post.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))  # the helpers of bench/throughput.py, run as a script
sys.path.insert(1, str(Path(__file__).parents[1]))  # devstack/ and the project, run from the checkout

from throughput import issue_users

from comfyloom.prompts.translate import MOMENT_INSTRUCTION
from devstack import localstack
from devstack.demo import DEMO_CHARACTER
from devstack.gemini_endpoint import API_KEY, FakeGemini, Reply, SentRequest, answer
from devstack.stack import DevPorts, DevStack

PLACES = ["praia", "biblioteca", "floresta", "estação de trem", "castelo", "mercado", "telhado", "lago"]
SMALL_TALK = [
    ("Ana", "Você dormiu bem?"),
    ("Ana", "Qual é a sua comida favorita?"),
    ("Ana", "Hahaha, que engraçado."),
    ("Ana", "Me conta mais sobre você."),
    ("Ana", "Hoje o dia foi longo."),
]
REPLIES = ["Rem sorri.", "Rem inclina a cabeça, pensativa.", "Rem ri baixinho.", "Rem concorda com a cabeça."]
WINDOW = 8
# What each answer's code says of Gemini: answered before asking it, or after its judgement.
BEFORE_GEMINI = {"cooldown", "too_few_messages", "daily_cap", "judging"}


def read_moment(sent: SentRequest) -> Reply:
    """A judgement as Gemini is asked for one: a new place is a moment; the last scene's place, the same one."""
    if sent.instruction != MOMENT_INSTRUCTION:
        return answer({})  # a character's translation: no tags needed here
    source = json.loads(sent.user_text)
    place = next((p for m in source["messages"][-2:] for p in PLACES if f"Chegamos a {p}" in m["text"]), None)
    if place is None:
        return answer({"worth_drawing": False, "reason": "Small talk."})
    if place in (source.get("last_scene") or ""):
        return answer({"worth_drawing": True, "same_as_last_scene": True, "reason": f"Still at the {place}."})
    return answer({"worth_drawing": True, "reason": f"They arrive at the {place}.", "scene": {"setting": [place]}})


async def chat(api: str, operator_key: str, gemini: FakeGemini, args: argparse.Namespace) -> Counter[str]:
    """Every post's answer, counted by its code (`drawn`, `replayed`, or why not)."""
    answers: Counter[str] = Counter()
    draw = random.Random(args.seed)
    async with httpx.AsyncClient(base_url=api, timeout=60) as http:
        [key] = await issue_users(http, operator_key, 1, 100_000)
        headers = {"Authorization": f"Bearer {key}"}
        character = (await http.post("/api/v1/characters", json=DEMO_CHARACTER, headers=headers)).json()["id"]
        messages: list[dict[str, str]] = []
        started = time.monotonic()
        for turn in range(args.turns):
            await asyncio.sleep(max(0.0, started + turn * args.turn_seconds - time.monotonic()))
            if turn % args.new_place_every == args.new_place_every - 1:
                said = ("Ana", f"Chegamos a {PLACES[(turn // args.new_place_every) % len(PLACES)]}!")
            else:
                said = SMALL_TALK[turn % len(SMALL_TALK)]
            for speaker, text in (said, ("Rem Dragneel", REPLIES[turn % len(REPLIES)])):
                messages.append({"id": f"m{len(messages)}", "speaker": speaker, "text": text})
            body = {"chatId": "bench-chat", "characterIds": [character], "messages": messages[-WINDOW:]}
            for _ in range(2 if draw.random() < args.resend else 1):
                response = await http.post("/api/v1/image-generation/scene/auto", json=body, headers=headers)
                response.raise_for_status()
                out = response.json()
                answers["replayed" if out.get("replayed") else out.get("code", "drawn")] += 1
    return answers


def run(args: argparse.Namespace) -> tuple[Counter[str], int, int]:
    """The answers, Gemini's judgements asked, and its other calls (the scenes' character translations)."""
    gemini = FakeGemini(responder=read_moment)
    os.environ.update(
        {
            "GEMINI_API_KEY": API_KEY,
            "GEMINI_BASE_URL": gemini.url,
            "AUTO_SCENE_COOLDOWN_SECONDS": str(args.cooldown),
            "AUTO_SCENE_MIN_MESSAGES": str(args.min_messages),
            "AUTO_SCENE_DAILY_CAP": "1000",
            "RATE_LIMIT_PER_MINUTE": "0",
            "MAX_CONCURRENT_JOBS": "0",
        }
    )
    ports = DevPorts(*(localstack.free_port() for _ in range(5)))
    with tempfile.TemporaryDirectory() as tmp:
        stack = DevStack(ports, data_dir=Path(tmp) / "stack", render_seconds=0.05)
        try:
            stack.start()

            async def measured() -> Counter[str]:
                await gemini.start()
                try:
                    return await chat(f"http://127.0.0.1:{ports.api}", stack.operator_key, gemini, args)
                finally:
                    await gemini.stop()

            answers = asyncio.run(measured())
        finally:
            stack.stop()
    judged = sum(1 for r in gemini.requests if r.instruction == MOMENT_INSTRUCTION)
    return answers, judged, len(gemini.requests) - judged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--turn-seconds", type=float, default=0.2, help="one turn (a message and a reply) this often")
    parser.add_argument("--cooldown", type=int, default=3, help="AUTO_SCENE_COOLDOWN_SECONDS, scaled as the turns")
    parser.add_argument("--min-messages", type=int, default=4, help="AUTO_SCENE_MIN_MESSAGES")
    parser.add_argument("--new-place-every", type=int, default=10, help="turns between two new places")
    parser.add_argument("--resend", type=float, default=0.1, help="share of posts an app sends twice")
    parser.add_argument("--seed", type=int, default=1, help="which posts are sent twice")
    args = parser.parse_args()
    answers, judged, translations = run(args)
    posts = sum(answers.values())
    before = sum(n for code, n in answers.items() if code in BEFORE_GEMINI)
    replayed = answers["replayed"]
    asked = posts - before - replayed
    pace = f"a turn every {args.turn_seconds} s, cooldown {args.cooldown} s, {args.min_messages} new messages"
    print(f"{args.turns} turns, {posts} posts to scene/auto ({pace})")
    for code, n in sorted(answers.items(), key=lambda item: -item[1]):
        print(f"  {code:<18} {n:>4}")
    print(f"{'Gemini judgements if every post asked':<44} {posts:>5}")
    print(f"{'  saved by the cooldown and new messages':<44} {before:>5}")
    print(f"{'  saved by the repeat window (same job back)':<44} {replayed:>5}")
    print(f"{'  saved by the answer cache':<44} {asked - judged:>5}")
    print(f"{'Gemini judgements made':<44} {judged:>5}  ({judged / posts:.2f} a post)")
    print(f"{'Gemini calls for the scenes drawn (cached)':<44} {translations:>5}")


if __name__ == "__main__":
    main()
