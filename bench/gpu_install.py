"""What a home PC installs to run the GPU worker: everything (`comfyloom[all]`, what `pip install .` installed
before the groups) beside the GPU worker's own group (`comfyloom[gpu]`), each into an empty venv.

    .venv/bin/python bench/gpu_install.py [--find-links DIR] [--imports 7]

Prints, for each: the venv's size on disk, the packages in it (pip and setuptools not counted), and the median
time to `import worker_gpu.__main__` in a fresh interpreter; then the ratios. Installs from the package index
(pip's cache makes a second run quick), or from --find-links alone.
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


def measure(extras: str, work: Path, find_links: str | None, imports: int) -> tuple[int, int, float]:
    venv = work / extras
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    source = work / "source"
    if not source.exists():
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv*", ".git", "node_modules", "__pycache__"))
    where = ["--no-index", "--find-links", find_links] if find_links else []
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", *where, f"{source}[{extras}]"],
        check=True,
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
    parser.add_argument("--find-links", help="install from this folder of wheels only")
    parser.add_argument("--imports", type=int, default=7, help="fresh interpreters timed per venv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gpu-install-") as tmp:
        work = Path(tmp)
        results = {extras: measure(extras, work, args.find_links, args.imports) for extras in ("all", "gpu")}
    print(f"{'install':<18} {'venv MB':>9} {'packages':>9} {'import s':>9}")
    for extras, (size, count, seconds) in results.items():
        print(f"comfyloom[{extras}]{'':<{8 - len(extras)}} {size / 1e6:>9.0f} {count:>9} {seconds:>9.2f}")
    (all_size, all_count, all_time), (gpu_size, gpu_count, gpu_time) = results["all"], results["gpu"]
    print(f"{'gpu / all':<18} {gpu_size / all_size:>9.2f} {gpu_count / all_count:>9.2f} {gpu_time / all_time:>9.2f}")


if __name__ == "__main__":
    main()
