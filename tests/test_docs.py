"""The docs that are written from the code say what the code does."""

from __future__ import annotations

from devstack import configdoc


def test_the_configuration_doc_lists_every_setting_as_settings_py_declares_it() -> None:
    assert configdoc.PATH.read_text() == configdoc.render(), "run `python -m devstack.configdoc`"


def test_the_readme_stays_short() -> None:
    readme = configdoc.PATH.parents[1] / "README.md"
    assert len(readme.read_bytes()) <= 10 * 1024, "the README points to docs/; details go there"
