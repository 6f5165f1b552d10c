"""Every chapter in ``_toc.yml`` executes end to end through the run command,
and gives the same outputs as the book's own build.

Draw counts (placebo draws, bootstrap reps) are cut to small numbers where the
chapter has such parameters: the size proves nothing here, the book runs the
full ones. Each run must write a results file with at least one estimate.

A chapter run with its default parameters is a second, independent execution
of what the book build executed (``make test`` builds first): its outputs must
equal the build's cached ones, glued ``machine_`` values (timings) apart. That
is the page-determinism check on every chapter it covers at no extra cost;
``python -m lib.book.build --check-determinism`` compares two whole clean builds.
"""

from __future__ import annotations

import json
import math

import nbformat
import pytest

from lib.book.build import cached_notebook, notebook_output_differences
from lib.book.run import chapter_parameters, resolve_parameters, run_chapter, runnable_chapters

pytestmark = [pytest.mark.slow]

#: Small draw counts for parameters that only set the size of a simulation.
SMALL_DRAWS = {"n_placebo": 20, "n_bootstrap": 20, "bootstrap_reps": 20, "reps": 20}

_RUNS: dict[str, tuple] = {}


def _run(chapter: str, tmp_path_factory):
    """One execution per chapter, shared by the tests below."""
    if chapter not in _RUNS:
        defaults = chapter_parameters(chapter)
        assert defaults, f"{chapter} has code but no cell tagged `parameters`"
        overrides = resolve_parameters(chapter, {k: v for k, v in SMALL_DRAWS.items() if k in defaults})
        _RUNS[chapter] = (overrides, run_chapter(chapter, overrides, tmp_path_factory.mktemp(chapter)))
    return _RUNS[chapter]


@pytest.mark.parametrize("chapter", runnable_chapters())
def test_chapter_executes_and_records_results(chapter, tmp_path_factory):
    _, result = _run(chapter, tmp_path_factory)
    assert result.ok, f"{chapter} failed:\n{result.error}"
    payload = json.loads(result.results.read_text())
    assert payload["chapter"] == chapter
    assert payload["estimates"], f"{chapter} recorded no headline estimate"
    for est in payload["estimates"]:
        assert est["name"] and math.isfinite(est["estimate"]), est


@pytest.mark.parametrize("chapter", [c for c in runnable_chapters()
                                     if not set(SMALL_DRAWS) & set(chapter_parameters(c))])
def test_second_execution_matches_the_book_build(chapter, tmp_path_factory):
    overrides, result = _run(chapter, tmp_path_factory)
    assert not overrides and result.ok, result.error
    built = cached_notebook(chapter)
    if built is None:
        pytest.skip(f"test_second_execution_matches_the_book_build[{chapter}]: no execution cache of "
                    "the current lib/ and data/ (run `make book` or `make test`, which builds first)")
    again = nbformat.read(result.notebook, as_version=4)
    assert notebook_output_differences(built, again, chapter) == []
