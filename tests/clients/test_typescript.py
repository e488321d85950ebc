"""The TypeScript client in clients/typescript: generated from the API's spec as it is now, and its example, run
with `node --test`, creates a character, starts an avatar and receives the job's signed webhook, and asks for an
automatic scene after a chat turn and follows the chat's stream, dropped and resumed, until the scene is ready."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from comfyloom.prompts.translate import MOMENT_INSTRUCTION
from devstack import openapi
from devstack.gemini_endpoint import FakeGemini, Reply, SentRequest, answer
from tests.helpers.auth import as_user

CLIENT = Path(__file__).parents[2] / "clients" / "typescript"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(
    NODE is None or not (CLIENT / "node_modules").is_dir(), reason="node and `npm ci` in clients/typescript"
)


def test_the_clients_spec_is_the_apis() -> None:
    """Change the API, then run scripts/ts-client: the spec and the client generated from it go together."""
    assert (CLIENT / "openapi.json").read_text() == openapi.text(), "run scripts/ts-client"


@needs_node
def test_the_generated_client_is_the_one_the_spec_gives(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    subprocess.run(
        ["npx", "openapi-ts", "-i", "openapi.json", "-o", str(out), "-c", "@hey-api/client-fetch"],
        cwd=CLIENT,
        check=True,
        capture_output=True,
    )
    committed = CLIENT / "src" / "generated"
    files = sorted(p.relative_to(out) for p in out.rglob("*.ts"))
    assert files == sorted(p.relative_to(committed) for p in committed.rglob("*.ts"))
    drifted = [str(f) for f in files if (out / f).read_text() != (committed / f).read_text()]
    assert drifted == [], "run scripts/ts-client"


def judged_drawn(sent: SentRequest) -> Reply:
    """The local Gemini endpoint: the chat example's moment is worth a scene; characters get no tags."""
    if sent.instruction == MOMENT_INSTRUCTION:
        return answer({"worth_drawing": True, "reason": "A new place.", "scene": {"setting": ["train station"]}})
    return answer({})


@needs_node
async def test_the_node_examples_get_an_avatar_with_its_webhook_and_a_chat_scene_through_its_stream(
    api: httpx.AsyncClient, gemini_cpu_worker: FakeGemini, gpu_worker: None
) -> None:
    gemini_cpu_worker.responder = judged_drawn
    headers = as_user("ts-client")
    assert (await api.get("/api/v1/credits", headers=headers)).status_code == 200  # stores the key
    env = {
        **os.environ,
        "COMFYLOOM_API_URL": str(api.base_url).rstrip("/"),
        "COMFYLOOM_API_KEY": headers["Authorization"].removeprefix("Bearer "),
    }
    process = await asyncio.create_subprocess_exec(
        "npm", "test", cwd=CLIENT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    report = output.decode()
    print(report)
    assert process.returncode == 0, report
    assert "# pass 2" in report and "# fail 0" in report


# What the README's snippet leaves to the reader's own code: declared, so the snippet compiles as written.
README_SNIPPET_CONTEXT = """
import type { IncomingMessage } from 'node:http';
declare const SERVICE_KEY: string, WEBHOOK_SECRET: string, name: string, description: string, rawBody: Buffer;
declare const user: { id: string }, char: { id: string }, req: IncomingMessage;
export { event };
"""


@needs_node
def test_the_packed_client_installs_into_a_backend_where_the_readmes_snippet_compiles(tmp_path: Path) -> None:
    """`npm pack`, then `npm install` of the tarball into a fresh project (offline: the client has no runtime
    dependency), and the README's TypeScript, as written, type-checks against what was installed."""
    subprocess.run(
        ["npm", "pack", "--pack-destination", str(tmp_path)], cwd=CLIENT, check=True, capture_output=True, timeout=120
    )
    (tarball,) = tmp_path.glob("comfyloom-client-*.tgz")
    backend = tmp_path / "backend"
    backend.mkdir()
    (backend / "package.json").write_text('{"name": "backend", "private": true, "type": "module"}\n')
    subprocess.run(
        ["npm", "install", "--offline", "--no-audit", "--no-fund", str(tarball)],
        cwd=backend,
        check=True,
        capture_output=True,
        timeout=120,
    )
    readme = (CLIENT.parents[1] / "README.md").read_text()
    snippet = re.search(r"```ts\n(.*?)```", readme, re.S)
    assert snippet is not None, "the README has a TypeScript snippet"
    (backend / "index.ts").write_text(snippet.group(1) + README_SNIPPET_CONTEXT)
    (backend / "tsconfig.json").write_text(
        json.dumps(
            {
                "compilerOptions": {
                    "target": "ES2022",
                    "module": "NodeNext",
                    "moduleResolution": "NodeNext",
                    "strict": True,
                    "noEmit": True,
                    "types": ["node"],
                    "typeRoots": [str(CLIENT / "node_modules" / "@types")],
                },
                "files": ["index.ts"],
            }
        )
    )
    checked = subprocess.run(
        [str(CLIENT / "node_modules" / ".bin" / "tsc"), "-p", str(backend)], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
