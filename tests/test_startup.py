"""A process that cannot start says why in one sentence naming the setting to fix: no traceback, exit status 1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devstack import localstack

NOWHERE = f"127.0.0.1:{localstack.free_port()}"  # a port where nothing listens
LOCAL = {"S3_ENDPOINT_URL": f"http://{NOWHERE}"}  # storage on this machine: the dev defaults are allowed


def start(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "TEMPORAL_", "S3_", "COMFYUI_"))}
    return subprocess.run(
        [sys.executable, "-m", *command], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("command", "env", "says"),
    [
        (["cli", "api"], {**LOCAL, "DATABASE_URL": f"postgresql://u:p@{NOWHERE}/x"}, "check DATABASE_URL"),
        (["cli", "worker-cpu"], {**LOCAL, "DATABASE_URL": f"postgresql://u:p@{NOWHERE}/x"}, "check DATABASE_URL"),
        (["worker_cpu"], LOCAL, "DATABASE_URL is not set"),
        (["cli", "temporal-setup"], {"TEMPORAL_ADDRESS": NOWHERE}, "check TEMPORAL_ADDRESS"),
        (["worker_gpu"], {**LOCAL, "TEMPORAL_ADDRESS": NOWHERE}, "check TEMPORAL_ADDRESS"),
        (["cli", "worker-gpu"], {**LOCAL, "CREDIT_PRICES": "{nope"}, "CREDIT_PRICES is not valid JSON"),
        (["cli", "worker-gpu"], {**LOCAL, "MODERATION_THRESHOLD": "2"}, "MODERATION_THRESHOLD is not valid"),
        (
            ["cli", "worker-gpu"],
            {**LOCAL, "TEMPORAL_TLS_CERT": "/nowhere/gpu.pem", "TEMPORAL_TLS_KEY": "/nowhere/gpu.key"},
            "TEMPORAL_TLS_CERT names /nowhere/gpu.pem, and there is no such file",
        ),
        (["cli", "keys", "list"], {"DATABASE_URL": f"postgresql://u:p@{NOWHERE}/x"}, "check DATABASE_URL"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, list) else None,
)
def test_a_process_that_cannot_start_says_why_in_one_sentence(
    command: list[str], env: dict[str, str], says: str
) -> None:
    result = start(command, **env)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("secret", ["comfyloom", "comfyloom-secret", "change-me-too"])
def test_no_process_starts_with_a_storage_secret_anyone_can_read_outside_this_machine(secret: str) -> None:
    result = start(
        ["cli", "worker-cpu"],
        S3_ENDPOINT_URL="https://account.r2.cloudflarestorage.com",
        S3_SECRET_ACCESS_KEY=secret,
        DATABASE_URL=f"postgresql://u:p@{NOWHERE}/x",
    )
    assert result.returncode == 1
    assert "S3_SECRET_ACCESS_KEY is a default anyone can read" in result.stderr, result.stderr
    assert "change-me" not in result.stderr  # the secret itself is never shown


def test_a_rule_across_settings_is_its_own_sentence_and_shows_no_other_setting() -> None:
    result = start(
        ["cli", "worker-gpu"], **LOCAL, TEMPORAL_TLS_CERT="/nowhere/gpu.pem", DATABASE_URL="postgresql://u:hunter2@db/x"
    )
    assert result.returncode == 1
    assert "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together" in result.stderr, result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr
