"""Imports go one way: api and the workers → workflows → activities → comfy_templates → the comfyloom library.
`comfyloom.dev` (the CLI, the dev stack, the simulator) sits beside the library, above the workers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
# Higher imports lower, never the reverse; packages on one level do not import each other.
LAYERS = {
    "comfyloom.dev": 6,
    "api": 5,
    "worker_cpu": 5,
    "worker_gpu": 5,
    "workflows": 4,
    "activities": 3,
    "comfy_templates": 2,
    "comfyloom": 1,
}


def layer_of(module: str) -> str | None:
    return next((name for name in LAYERS if module == name or module.startswith(f"{name}.")), None)


def upward_imports() -> list[str]:
    found = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        here = layer_of(module)
        if here is None or module == "comfyloom.__main__":  # the command's entry point, as `python -m comfyloom`
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            for target in targets:
                there = layer_of(target)
                if there is None or there == here:
                    continue
                if LAYERS[there] > LAYERS[here] or LAYERS[there] == LAYERS[here]:
                    found.append(f"{module} imports {target}")
    return found


def test_no_layer_imports_one_above_it_or_beside_it() -> None:
    assert upward_imports() == []
