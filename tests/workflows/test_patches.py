"""Patches retire on the written rule (workflows/patches.py): a check that fails the day one outlives it."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from workflows import patches
from workflows.patches import ALL_PATCHES, Patch

WORKFLOWS = Path(patches.__file__).parent
TODAY = datetime.now(UTC).date()


def calls_in_workflows() -> list[tuple[str, str]]:
    """(`patched` or `deprecate_patch`, the patch's constant name) for every call in the workflow code."""
    found = []
    for path in sorted(WORKFLOWS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in ("patched", "deprecate_patch"):
                    arg = node.args[0]
                    assert isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name), (
                        f"{path.name}: {node.func.attr}() takes a Patch's id from workflows/patches.py"
                    )
                    found.append((node.func.attr, arg.value.id))
    return found


def name_of(patch: Patch) -> str:
    return next(name for name, value in vars(patches).items() if value is patch)


def test_no_patch_keeps_its_old_branch_past_the_rule() -> None:
    overdue = [f"{p.id} (due {p.deprecate_by})" for p in ALL_PATCHES if p.deprecated is None and TODAY > p.deprecate_by]
    assert overdue == [], "make these workflow.deprecate_patch(), drop their old branch and the histories that took it"


def test_no_deprecated_patch_is_called_past_the_rule() -> None:
    overdue = [f"{p.id} (due {p.remove_by})" for p in ALL_PATCHES if p.remove_by and TODAY > p.remove_by]
    assert overdue == [], "remove these deprecate_patch() calls (and the Patch): no run with their marker is open"


def test_each_patch_is_called_once_as_its_state_says() -> None:
    expected = sorted(("deprecate_patch" if p.deprecated else "patched", name_of(p)) for p in ALL_PATCHES)
    assert sorted(calls_in_workflows()) == expected


def test_the_rule_counts_the_longest_a_run_stays_open() -> None:
    from workflows.policies import POLICIES

    webhook_retries = POLICIES["deliver_webhook"].schedule_to_close
    assert webhook_retries is not None and patches.OPEN_RUN_BOUND >= webhook_retries + timedelta(hours=1)
    assert all(p.deprecate_by > p.introduced >= date(2026, 11, 1) for p in ALL_PATCHES)
