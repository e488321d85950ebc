"""What ships: the production wheel (and so the image) holds the `comfyloom` command and the processes it starts,
and none of the dev-only tools (the simulator, the dev stack, the demo)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
SHIPPED = ("cli", "comfyloom", "workflows", "activities", "api", "comfy_templates", "worker_cpu", "worker_gpu")


def test_the_wheel_holds_the_product_and_no_dev_tool(tmp_path: Path) -> None:
    source = tmp_path / "source"
    for name in (*SHIPPED, "devstack"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("comfyloom-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == set(SHIPPED)
    assert not [n for n in names if "simulator" in n or "devstack" in n or "catalogue" in n]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "comfyloom = cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
