"""Import a process's modules as if only its dependency group were installed.

    python tests/helpers/import_guard.py GROUP MODULE [MODULE ...]

The distributions `comfyloom[GROUP]` pulls in (the base dependencies, the group's, and theirs, as installed
here) may be imported; any other installed distribution is hidden, as a machine that installed the group alone
would not have it. An optional import a library tries (httpx's command line, say) then falls back as it would
there; a required one fails. Prints the distributions the modules loaded, one a line; exits 1 naming the
module that was refused.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata as md
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = "comfyloom"
ROOT = Path(__file__).resolve().parents[2]


def closure(extras: set[str]) -> set[str]:
    """The distributions `comfyloom[extras]` requires, transitively, by canonical name (comfyloom excluded)."""
    wanted: set[str] = set()
    pending: list[tuple[str, set[str]]] = [(PROJECT, extras)]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, asked = pending.pop()
        if (name, frozenset(asked)) in seen:
            continue
        seen.add((name, frozenset(asked)))
        for line in md.requires(name) or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in asked] or [{"extra": ""}]
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in environments):
                continue
            dependency = canonicalize_name(requirement.name)
            if dependency != PROJECT:
                wanted.add(dependency)
            pending.append((dependency, set(requirement.extras)))
    return wanted


def owners() -> dict[Path, str]:
    """Each installed file, by absolute path, with the distribution it belongs to."""
    found: dict[Path, str] = {}
    for dist in md.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        for file in dist.files or []:
            found[Path(str(dist.locate_file(file))).resolve()] = name
    return found


class Hide(importlib.abc.MetaPathFinder):
    """Refuses a module whose file an installed distribution outside `allowed` owns."""

    def __init__(self, allowed: set[str], owner_of: dict[Path, str]) -> None:
        self.allowed = allowed
        self.owner_of = owner_of
        self.loaded: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or spec.origin in ("built-in", "frozen"):
            return None
        owner = self.owner_of.get(Path(spec.origin).resolve())
        if owner is None or owner == PROJECT:  # the standard library, or this checkout
            return None
        if owner not in self.allowed:
            raise ModuleNotFoundError(f"No module named {fullname!r} ({owner} is not in this group)", name=fullname)
        self.loaded.add(owner)
        return None


def main(group: str, modules: list[str]) -> int:
    extras = {group} if group != "base" else set()
    guard = Hide(closure(extras), owners())
    sys.meta_path.insert(0, guard)
    for name in list(sys.modules):  # what this interpreter loaded before the guard (site, packaging) goes again
        module = sys.modules[name]
        origin = getattr(module, "__file__", None)
        stdlib = sysconfig.get_paths()["stdlib"]
        if origin and not origin.startswith(stdlib) and name != __name__ and not name.startswith("packaging"):
            del sys.modules[name]
    for wanted in modules:
        try:
            importlib.import_module(wanted)
        except ImportError as e:
            print(f"{wanted}: {e}", file=sys.stderr)
            return 1
    print("\n".join(sorted(guard.loaded)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
