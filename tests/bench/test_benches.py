"""Every bench runs as docs/BENCHMARKS.md shows it, on a fresh clone, at its smallest setting: a bench that
crashes after minutes of measuring (bench/images.py once did) is found here first. Numbers are not checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.servers  # most start the whole dev stack

BENCH = Path(__file__).parents[2] / "bench"
SMALLEST = {
    "images.py": "--repeats 1".split(),
    "burst.py": "--posts 5 --users 2 --rounds 1 --lone 2 --render-seconds 0.05 --settle 0".split(),
    "avatar_e2e.py": "--render-seconds 0.05 --jobs 1".split(),
    "throughput.py": "--render-seconds 0.05 --avatars 2 --sets 1 --lone-sets 1 --lone-avatars 1 --users 2".split(),
    # The GPU worker's group alone, offline from the wheels scripts/setup keeps (the others need the index).
    "gpu_install.py": f"--only gpu --find-links {BENCH.parent / '.cache' / 'wheels'} --imports 1".split(),
    "fairness.py": "--render-seconds 0.05 --sets 1 --warmup 1".split(),
    "auto_scenes.py": "--turns 6 --turn-seconds 0.05 --cooldown 1 --new-place-every 3".split(),
    "fleet.py": "--render-seconds 0.05 --gpus 1,2 --per-gpu 10 --users 3 --faster 0.02 --lone 1".split(),
    "latency.py": "--render-seconds 0.1 --lone 2 --backlog 2 --users 1".split(),
}


def test_every_bench_has_a_smallest_setting() -> None:
    assert sorted(SMALLEST) == sorted(p.name for p in BENCH.glob("*.py"))


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_the_bench_runs_to_its_table(name: str) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / name), *SMALLEST[name]], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Traceback" not in run.stderr
