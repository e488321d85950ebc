"""What a home PC installs to run the GPU worker: before (`pip install .` of the release before the groups,
BEFORE, from git) beside `comfyloom[all]` and the GPU worker's own group (`comfyloom[gpu]`) of this checkout,
each into an empty venv.

    .venv/bin/python bench/gpu_install.py [--before f609d82] [--only before,all,gpu] [--find-links DIR] [--imports 7]

Prints, for each: the venv's size on disk, the packages in it (comfyloom counted; pip and setuptools not), and
the median time to `import worker_gpu.__main__` in a fresh interpreter; then the ratios to before. Installs
from the package index (pip's cache makes a second run quick), or from --find-links alone.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
IMPORT = "import time; t = time.perf_counter(); import worker_gpu.__main__; print(time.perf_counter() - t)"


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def measure(label: str, requirement: str, work: Path, find_links: str | None, imports: int) -> tuple[int, int, float]:
    venv = work / label
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    where = ["--no-index", "--find-links", find_links] if find_links else []
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", *where, requirement], check=True
    )
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "list", "--format", "freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    packages = [p for p in listed if not p.startswith(("pip==", "setuptools=="))]
    times = [
        float(subprocess.run([str(python), "-c", IMPORT], cwd=work, check=True, capture_output=True, text=True).stdout)
        for _ in range(imports)
    ]
    return size_of(venv), len(packages), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="f609d82", help="the release before the groups (a git revision)")
    parser.add_argument("--only", default="before,all,gpu", help="which installs to measure (comma-separated)")
    parser.add_argument("--find-links", help="install from this folder of wheels only")
    parser.add_argument("--imports", type=int, default=7, help="fresh interpreters timed per venv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gpu-install-") as tmp:
        work = Path(tmp)
        wanted = args.only.split(",")
        now = work / "now"
        shutil.copytree(
            ROOT, now, ignore=shutil.ignore_patterns(".venv*", ".git", ".cache", "node_modules", "__pycache__")
        )
        results = {}
        if "before" in wanted:
            before = work / "before"
            before.mkdir()
            archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
            results[f"before ({args.before})"] = measure("before", str(before), work, args.find_links, args.imports)
        for extras in ("all", "gpu"):
            if extras in wanted:
                results[f"comfyloom[{extras}]"] = measure(
                    extras, f"{now}[{extras}]", work, args.find_links, args.imports
                )
    print(f"{'install':<20} {'venv MB':>9} {'packages':>9} {'import s':>9}")
    for label, (size, count, seconds) in results.items():
        print(f"{label:<20} {size / 1e6:>9.0f} {count:>9} {seconds:>9.2f}")
    if "before" in wanted and "gpu" in wanted:
        (size0, count0, time0) = next(iter(results.values()))
        size, count, seconds = results["comfyloom[gpu]"]
        print(f"{'[gpu] / before':<20} {size / size0:>9.2f} {count / count0:>9.2f} {seconds / time0:>9.2f}")


if __name__ == "__main__":
    main()
