"""scripts/gpu-worker: one command takes a fresh machine to a GPU worker that polls and renders (installed offline
from the wheels scripts/setup keeps, in a copy of the checkout); a setup that cannot reach Temporal says so in one
sentence; `--help` installs nothing; the worker it runs stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from comfyloom.settings import Settings
from devstack import localstack
from tests.helpers.jobs import done, start_avatar, wait_for

ROOT = Path(__file__).parents[2]
SCRIPT = Path("scripts") / "gpu-worker"
WHEELHOUSE = ROOT / ".cache" / "wheels"  # scripts/setup downloads the GPU group's wheels and setuptools here
# What `pip install '.[gpu]'` builds comfyloom from, and what the script itself reads.
CHECKOUT = (
    *("cli", "comfyloom", "workflows", "activities", "api", "comfy_templates", "worker_cpu", "worker_gpu"),
    *("scripts", "deploy", "pyproject.toml", "README.md", "gpu-worker.env.example"),
)
MODES = ("--check", "--run", "--print-unit", "--help", "--no-service", "--yes", "--env-file", "--upgrade")
SETTING_FLAGS = (
    *("--temporal", "--namespace", "--ca", "--cert", "--key", "--api-key", "--comfyui", "--checkpoint"),
    *("--cover-face-detail", "--sticker-background"),
)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh checkout: pip builds comfyloom in its tree (build/, *.egg-info), so not in this one."""
    copy = tmp_path_factory.mktemp("checkout")
    for name in CHECKOUT:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "certs"))
        else:
            shutil.copy2(ROOT / name, copy / name)
    return copy


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv the script installs into: the module's first set-up run installs, later ones find it there."""
    return tmp_path_factory.mktemp("venv") / "gpu"


def fresh_user(home: Path, venv: Path) -> dict[str, str]:
    """A user with nothing but Python, installing offline: no pip configuration of this machine's."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "PYTHON": sys.executable,
        "COMFYLOOM_VENV": str(venv),
        "COMFYLOOM_PIP_ARGS": f"--no-index --find-links {WHEELHOUSE}",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


async def set_up(checkout: Path, env: dict[str, str], *args: str | Path) -> tuple[int, str]:
    """The script's set-up, as a person runs it in the checkout: its exit status and its output."""
    assert WHEELHOUSE.is_dir(), "scripts/setup downloads the GPU group's wheels into .cache/wheels"
    process = await asyncio.create_subprocess_exec(
        SCRIPT,
        *args,
        cwd=checkout,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return process.returncode, out.decode()


def test_help_names_every_mode_and_flag_and_installs_nothing(tmp_path: Path) -> None:
    for flag in ("--help", "-h"):
        run = subprocess.run(
            [ROOT / SCRIPT, flag],
            env=fresh_user(tmp_path, tmp_path / "venv"),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert run.returncode == 0, run.stderr
        assert [word for word in (*MODES, *SETTING_FLAGS) if word not in run.stdout] == [], run.stdout
    assert not (tmp_path / "venv").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--bogus"], "unknown argument '--bogus'"),
        (["--yes", "--no-service"], "--temporal HOST:PORT is missing"),
        (["--yes", "--temporal", "temporal.example.com:7443"], "needs this machine's certificate"),
        (["--yes", "--temporal", "127.0.0.1:7233", "--cover-face-detail", "maybe"], "takes true or false"),
        (["--check", "--temporal", "127.0.0.1:7233"], "--temporal changes settings"),
    ],
)
def test_a_wrong_or_missing_flag_is_one_line_and_exit_2_before_anything_is_installed(
    tmp_path: Path, args: list[str], says: str
) -> None:
    env = fresh_user(tmp_path, tmp_path / "venv")
    run = subprocess.run(
        [ROOT / SCRIPT, *args, "--env-file", tmp_path / "gpu-worker.env"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert len(run.stderr.splitlines()) == 1 and says in run.stderr, run.stderr
    assert not (tmp_path / "venv").exists() and not (tmp_path / "gpu-worker.env").exists()


@pytest.mark.usefixtures("cpu_worker")
async def test_one_command_takes_a_fresh_machine_to_a_worker_that_renders_and_stops_on_sigterm(
    api: httpx.AsyncClient, settings: Settings, checkout: Path, venv: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"  # a fresh user: nothing in HOME
    env_file = tmp_path / "pc" / "gpu-worker.env"
    code, out = await set_up(
        checkout,
        fresh_user(home, venv),
        *("--yes", "--no-service", "--env-file", env_file),
        *("--temporal", settings.temporal_address, "--comfyui", settings.comfyui_url, "--cover-face-detail", "false"),
    )
    assert code == 0, out
    assert f"ready: run `scripts/gpu-worker --run --env-file {env_file}`" in out, out
    assert "Traceback" not in out, out
    written = env_file.read_text().splitlines()
    for line in (
        f"TEMPORAL_ADDRESS={settings.temporal_address}",
        f"COMFYUI_URL={settings.comfyui_url}",
        "COVER_FACE_DETAIL=false",
        f"COMFYLOOM_VENV={venv}",  # so that `--run`, or the service, finds the install
    ):
        assert line in written, written
    assert [line for line in written if line.startswith("S3_")] == [], "the GPU machine holds no storage credential"
    assert env_file.stat().st_mode & 0o077 == 0, "the settings file is the user's alone (it may hold an API key)"

    # The worker as the service runs it: only the settings file says where Temporal and ComfyUI are.
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = await asyncio.create_subprocess_exec(
            checkout / SCRIPT,
            *("--run", "--env-file", env_file),
            env={"PATH": os.environ["PATH"], "HOME": str(home)},
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        accepted = await start_avatar(api)
        status = await wait_for(api, accepted["jobId"], done, within=90)
        assert status["status"] == "ready", (status, log.read_text())
    finally:
        started = asyncio.get_running_loop().time()
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)  # as systemd stops it: the script exec'd the worker, so it gets it
        try:
            exit_code = await asyncio.wait_for(worker.wait(), 30)
        except TimeoutError:
            worker.kill()
            await worker.wait()
            raise
    logged = log.read_text()
    assert exit_code == 0, logged
    assert asyncio.get_running_loop().time() - started < 10, logged
    assert "rendered; 1 image(s) uploaded" in logged, logged  # this worker drew it, none of the suite's
    assert "stopping: running activities may finish first" in logged, logged  # a graceful stop, not a kill


@pytest.mark.servers  # slow: installs comfyloom into a venv (no server started)
async def test_a_setup_that_cannot_reach_temporal_says_which_setting_to_fix(
    checkout: Path, venv: Path, tmp_path: Path
) -> None:
    nowhere = f"127.0.0.1:{localstack.free_port()}"
    code, out = await set_up(
        checkout,
        fresh_user(tmp_path / "home", venv),
        *("--yes", "--no-service", "--env-file", tmp_path / "gpu-worker.env"),
        *("--temporal", nowhere, "--comfyui", f"http://{nowhere}"),
    )
    assert code == 1, out
    assert len([line for line in out.splitlines() if "check TEMPORAL_ADDRESS" in line]) == 1, out
    assert f"FAIL  Temporal at {nowhere} refused or did not answer" in out, out
    assert "run the same command again" in out, out
    assert "Traceback" not in out and "tonic" not in out, out


def test_the_script_parses_in_bash() -> None:
    run = subprocess.run(["bash", "-n", ROOT / SCRIPT], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr


def test_the_windows_script_parses() -> None:
    pwsh = shutil.which("pwsh") or shutil.which("powershell")
    if pwsh is None:
        pytest.skip("no PowerShell (pwsh) on PATH: scripts/gpu-worker.ps1 is not parsed here")
    path = str(ROOT / "scripts" / "gpu-worker.ps1").replace("'", "''")
    parse = (
        "$errors = $null; "
        f"[System.Management.Automation.Language.Parser]::ParseFile('{path}', [ref]$null, [ref]$errors) | Out-Null; "
        "$errors | ForEach-Object { $_.ToString() }; exit $errors.Count"
    )
    run = subprocess.run(
        [pwsh, "-NoProfile", "-NonInteractive", "-Command", parse],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_unit_runs_the_worker_from_this_checkout_and_outlasts_its_grace_period(tmp_path: Path) -> None:
    """systemd's SIGTERM reaches the worker (the script execs it), and systemd waits longer than its grace."""
    env_file = tmp_path / "gpu-worker.env"
    env_file.write_text("SHUTDOWN_GRACE_SECONDS=100\n")
    run = subprocess.run(
        [ROOT / SCRIPT, "--print-unit", "--env-file", env_file],
        env=fresh_user(tmp_path, tmp_path / "venv"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    unit = run.stdout.splitlines()
    for line in (
        f'ExecStart="{ROOT}/scripts/gpu-worker" --run --env-file "{env_file}"',
        f"WorkingDirectory={tmp_path}",
        "Restart=always",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=115",
    ):
        assert line in unit, run.stdout
    assert "@" not in run.stdout, "every name of the template is filled in"
    assert 'exec "$venv/bin/comfyloom" worker-gpu' in (ROOT / SCRIPT).read_text()
