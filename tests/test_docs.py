"""The docs that are written from the code say what the code does."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

from fastapi.routing import APIWebSocketRoute

from api.main import create_app
from cli import main as cli_main
from comfyloom.settings import Settings
from devstack import __main__ as devstack_main
from devstack import configdoc, simulator

ROOT = configdoc.PATH.parents[1]


def test_the_configuration_doc_lists_every_setting_as_settings_py_declares_it() -> None:
    assert configdoc.PATH.read_text() == configdoc.render(), "run `python -m devstack.configdoc`"


def test_the_readme_stays_short() -> None:
    readme = configdoc.PATH.parents[1] / "README.md"
    assert len(readme.read_bytes()) <= 10 * 1024, "the README points to docs/; details go there"


DOCS = sorted([configdoc.PATH.parents[1] / "README.md", *configdoc.PATH.parent.glob("*.md")])


def commands_in_docs() -> list[tuple[str, str, list[str]]]:
    """(doc, command, its words) for each `comfyloom …`, `python -m devstack …` and `scripts/…` in code."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        code = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S) + re.findall(r"`([^`\n]+)`", text)
        for span in code:
            for line in span.splitlines():
                for match in re.finditer(r"(comfyloom|python -m devstack|scripts/[\w.-]+)((?: +[^\s#|;&]+)*)", line):
                    words = [w.strip("[]'\"(),") for w in match.group(2).split()]
                    found.append((doc.name, match.group(1), [w for w in words if w]))
    return found


def unknown_words(parser: argparse.ArgumentParser, words: list[str]) -> list[str]:
    """The subcommands and flags in `words` that `parser` does not have."""
    unknown = []
    for word in words:
        choices = next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if word.startswith("--"):
            if word.split("=")[0] not in parser._option_string_actions:
                unknown.append(word)
        elif choices is not None and re.fullmatch(r"[a-z][a-z-]*", word):
            if word not in choices:
                unknown.append(word)
                break
            parser = simulator.build_parser() if word == "simulator" else choices[word]
    return unknown


def test_every_command_and_flag_the_docs_name_exists() -> None:
    parsers = {"comfyloom": cli_main.build_parser(), "python -m devstack": devstack_main.build_parser()}
    wrong = []
    for doc, command, words in commands_in_docs():
        if command.startswith("scripts/"):
            if not (ROOT / command).is_file():
                wrong.append(f"{doc}: {command} does not exist")
        elif words and re.fullmatch(r"[a-z][a-z-]*|--[a-z-]+", words[0]):  # `comfyloom` alone is the project
            wrong += [f"{doc}: {command} {' '.join(words)}: no {w}" for w in unknown_words(parsers[command], words)]
    assert wrong == []


def test_every_route_is_in_the_api_doc() -> None:
    def shape(path: str) -> str:
        return re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])

    documented = {shape(p) for p in re.findall(r"(/api/v1/[^\s`|),]+)", (ROOT / "docs" / "API.md").read_text())}
    app = create_app(Settings())
    routes = {shape(path) for path in app.openapi()["paths"]}
    routes |= {shape(r.path) for r in app.routes if isinstance(r, APIWebSocketRoute)}
    assert sorted(routes - documented) == [], "document these in docs/API.md"


def test_the_fast_tier_is_as_the_readme_says() -> None:
    said = re.search(r"the tests that start no server \(about (\d+), ", (ROOT / "README.md").read_text())
    assert said, "the README says how many tests the fast tier has"
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not servers", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    counted = re.search(r"(\d+)/\d+ tests collected", listed.stdout)
    assert counted, listed.stdout[-500:]
    assert abs(int(counted.group(1)) - int(said.group(1))) <= 25, f"the fast tier has {counted.group(1)} tests"
