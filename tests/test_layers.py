"""Imports go one way: devstack (dev only) → cli (the `comfyloom` command) → api and the workers → workflows →
activities → comfy_templates → the comfyloom library. Inside the library, the kind table sits over prompts and
the database, which sit over the contracts and settings."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
# Higher imports lower, never the reverse; packages on one level do not import each other.
LAYERS = {
    "devstack": 7,
    "cli": 6,
    "api": 5,
    "worker_cpu": 5,
    "worker_gpu": 5,
    "workflows": 4,
    "activities": 3,
    "comfy_templates": 2,
    "comfyloom": 1,
}
# The same rule inside the library; the most specific name wins (prompts.translate is not prompts).
LIBRARY = {
    "comfyloom.queue_estimate": 5,
    "comfyloom.kinds": 4,
    "comfyloom.start_outbox": 3,
    "comfyloom.scheduling": 2,
    "comfyloom.prompts.translate": 3,
    "comfyloom.prompts.screening": 3,
    "comfyloom.db": 2,
    "comfyloom.prompts": 2,
    "comfyloom.imaging": 2,
    "comfyloom.comfyui": 2,
    "comfyloom.moderation": 2,
    "comfyloom.gpu_fleet": 2,
    "comfyloom.contracts": 1,
    "comfyloom.storage": 1,
    "comfyloom.temporal": 1,
    "comfyloom.metrics": 3,
    "comfyloom.lifecycle": 2,
    "comfyloom.startup": 1,
    "comfyloom.tag_schemas": 0,
    "comfyloom.settings": 0,
    "comfyloom.errors": 0,
    "comfyloom.object_keys": 0,
    "comfyloom.search": 0,
    "comfyloom.logs": 0,
    "comfyloom.webhooks": 0,
}


def layer_of(module: str, layers: dict[str, int]) -> str | None:
    names = sorted(layers, key=len, reverse=True)
    return next((name for name in names if module == name or module.startswith(f"{name}.")), None)


def imports_of(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from comfyloom import kinds` imports comfyloom.kinds
            found += [f"{node.module}.{a.name}" for a in node.names] if node.module == "comfyloom" else [node.module]
    return found


def upward_imports(layers: dict[str, int], files: list[Path]) -> list[str]:
    found = []
    for path in files:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        here = layer_of(module, layers)
        if here is None:
            continue
        for target in imports_of(path):
            there = layer_of(target, layers)
            if there is not None and there != here and layers[there] >= layers[here]:
                found.append(f"{module} imports {target}")
    return found


def test_no_layer_imports_one_above_it_or_beside_it() -> None:
    assert upward_imports(LAYERS, sorted(ROOT.glob("*/**/*.py"))) == []


def test_inside_the_library_too() -> None:
    library = sorted((ROOT / "comfyloom").rglob("*.py"))
    assert upward_imports(LIBRARY, library) == []


def test_every_library_module_has_a_level() -> None:
    library = sorted((ROOT / "comfyloom").rglob("*.py"))
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in library}
    unplaced = {m for m in modules - {"comfyloom"} if layer_of(m, LIBRARY) is None}
    assert unplaced == set(), "give each a level in LIBRARY"
