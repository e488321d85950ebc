"""Schemathesis against the running API: generated requests, every check on (and ours, tests/api/fuzz_checks.py),
every phase, the stateful one included (it follows the spec's links: a character to its sticker set, a set to the
same request again, a job to its status), and no failure.

Bounded for the suite (fixed seeds, a few examples an operation); `st run …/openapi.json --checks all` by hand
runs it longer. The stateful run's user has credits, so its chains reach admitted jobs; no worker runs, so its
jobs never render, and every run it started is terminated after, before a later test's workers could take it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from comfyloom.db import credits
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from tests.helpers.auth import as_user
from tests.helpers.jobs import terminate_runs_of
from tests.helpers.parts import serve_api

CONFIG = Path(__file__).with_name("schemathesis.toml")
ROOT = Path(__file__).parents[2]
# (seed, phases, credits): every phase for a user with no credits, whose requests start nothing; then the
# stateful phase alone for a user with credits, against an API with a repeat window, whose chains reach
# admitted jobs and repeat them (a sticker set's repeat answered 500 there). Each seed finds what the other's
# draws miss.
RUNS: list[tuple[int, str, int, str | None]] = [
    (17, "examples,coverage,fuzzing,stateful", 0, None),
    (2, "stateful", 1000, None),
]
# The operators' endpoints an operator's key opens (the runs above get their 403): read the fleet and the failed
# jobs, and retry them, as an operator.
RUNS += [(seed, "examples,coverage,fuzzing", 0, r"^/api/v1/admin/(gpu-workers|jobs)") for seed in (5, 11)]
REPEAT_WINDOW_SECONDS = 60
EXAMPLES = int(os.environ.get("COMFYLOOM_FUZZ_EXAMPLES", "150"))
STATEFUL_EXAMPLES = int(os.environ.get("COMFYLOOM_FUZZ_STATEFUL_EXAMPLES", "100"))


# Bounded by examples, not time: on a 2-core machine alone about 50 s for the first run, 5 s for the second
# (with the 500 it found, 180 s: hypothesis shrinks what fails).
@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("seed", "phases", "balance", "operator_paths"), RUNS, ids=[f"seed-{r[0]}-{r[1]}" for r in RUNS]
)
# `store`: the bucket exists, as in production (deleting a character lists its objects).
async def test_generated_requests_find_no_server_error_and_nothing_the_spec_does_not_say(
    seed: int,
    phases: str,
    balance: int,
    operator_paths: str | None,
    api: httpx.AsyncClient,
    settings: Settings,
    pool: asyncpg.Pool,
    store: ObjectStore,
    client: Client,
    tmp_path: Path,
) -> None:
    user = f"fuzz-{seed}"
    headers = as_user(user, admin=operator_paths is not None)
    assert (await api.get("/api/v1/credits", headers=headers)).status_code == 200  # stores the key
    async with pool.acquire() as conn, conn.transaction():
        held = (await credits.balance(conn, user)).balance
        await credits.grant(conn, user, balance - held, "what the fuzzing user may spend")
    window = REPEAT_WINDOW_SECONDS if balance else 0
    try:
        # No CPU worker runs to judge a chat's moment: automatic scenes are answered "not drawn" (the daily cap)
        # at once, past validation, ownership and credits, rather than each waiting out the judgement.
        fuzzed = settings.model_copy(update={"idempotency_window_seconds": window, "auto_scene_daily_cap": 0})
        async with serve_api(fuzzed, pool) as served:
            for _ in range(2):
                code, report = await _schemathesis(
                    str(served.base_url), headers["Authorization"], seed, phases, balance > 0, tmp_path, operator_paths
                )
                # Schemathesis itself once crashed in its coverage phase (a CPython SystemError in `ast`), failing
                # no check: such a run is tried again; any failure of the API's is not.
                if code == 0 or "Failures:" in report or "Runtime Error" not in report:
                    break
    finally:
        await terminate_runs_of(pool, client, [user])
    print(report[-6000:])
    assert code == 0, report[-12000:]
    if "stateful" in phases:
        assert "Stateful" in report and "API Links" in report, "the stateful phase ran"


async def _schemathesis(
    base_url: str, authorization: str, seed: int, phases: str, as_itself: bool, cwd: Path, paths: str | None
) -> tuple[int, str]:
    """`as_itself`: the requests name no user in X-On-Behalf-Of (tests/api/fuzz_checks.py), so chains go on.
    `paths`: only the operations whose path matches."""
    st = Path(sys.executable).with_name("st")
    process = await asyncio.create_subprocess_exec(
        str(st),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(seed),
        "--phases",
        phases,
        "--max-examples",
        str(EXAMPLES if "fuzzing" in phases else STATEFUL_EXAMPLES),
        "--generation-database",
        "none",
        # One thread: hypothesis describes its filters with ast.parse, and CPython 3.11 before 3.11.8 kept
        # the AST recursion depth per process (gh-106905), so two threads parsing at once could fail the run
        # with "AST constructor recursion depth mismatch" (1 run in 6 beside a busy loop).
        "--workers",
        "1",
        "--no-color",
        "--header",
        f"Authorization: {authorization}",
        *(["--include-path-regex", paths] if paths else []),
        cwd=cwd,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.api.fuzz_checks",
            "PYTHONPATH": str(ROOT),
            "COMFYLOOM_FUZZ_AS_ITSELF": "1" if as_itself else "0",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")
