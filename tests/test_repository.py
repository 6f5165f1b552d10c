"""What a reader expects to find in the repository: a licence, a citation file, a changelog and
one version, stated alike everywhere."""

from __future__ import annotations

import re
import tomllib

import yaml

from lib import ROOT


def _version_of_pyproject() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_one_version_in_pyproject_citation_changelog_and_the_book():
    version = _version_of_pyproject()
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    # the newest released section; changes not yet released sit above it under "Unreleased"
    newest = re.search(r"^## (?!Unreleased)(\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M).group(1)
    assert citation["version"] == version == config["parse"]["myst_substitutions"]["version"] == newest
    assert "{{ version }}" in (ROOT / "chapters" / "intro.md").read_text()


def test_the_citation_file_is_complete():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "date-released", "license"):
        assert citation.get(key), key
    assert "semi-synthetic" in citation["message"]
    papers = {r["title"].lower(): r for r in citation["references"]}
    assert len(papers) == 2
    main = next(r for t, r in papers.items() if t.startswith("digital trade policy"))
    assert main["year"] == 2025 and main["doi"] == "10.61784/wjebr3050"


def test_the_licence_covers_code_and_text():
    text = (ROOT / "LICENSE").read_text()
    assert "MIT License" in text and "CC BY 4.0" in text
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == {"text": "MIT"}
