"""Workflow code runs inside Temporal's sandbox, where it is checked (no clock, no I/O, no randomness but
the workflow's): only data and constants are passed through it, never a module with logic."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from workflows import registry

WORKFLOWS = sorted((Path(__file__).parents[2] / "workflows").glob("*.py"))
# Contracts, error types, keys, the kind table, search attributes, the policy table: data and pure functions of
# it, no clock or I/O to check. The CPU worker's sandbox passes the same list through, whoever imports it.
PASSED_THROUGH = set(registry.PASSED_THROUGH)


def passed_through(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.With) and "imports_passed_through" in ast.unparse(node.items[0].context_expr):
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    # `from comfyloom import search` passes comfyloom.search through
                    package = statement.module == "comfyloom"
                    found |= {f"comfyloom.{a.name}" for a in statement.names} if package else {statement.module}
    return found


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_modules_pass_through_only_data(path: Path) -> None:
    # As the sandbox reads its list: a package passes its modules through (comfyloom.contracts.render).
    covered = {m for m in passed_through(path) if any(m == p or m.startswith(f"{p}.") for p in PASSED_THROUGH)}
    assert passed_through(path) == covered, path.name
