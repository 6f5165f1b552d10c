"""Every chapter in ``_toc.yml`` executed and recorded its results in the book's build, and the
ones whose pages draw nothing at random give the same outputs when executed again.

``make test`` builds first, so the build's own executions are what the first test reads (from
the execution cache and ``outputs/results/``): no chapter is executed a second time to learn
that it runs. A chapter run with other parameters is the run command's business; each chapter
is run so somewhere: the city chapters with small draws on six readers' panels
(``tests/_reader_shapes.py``), the companion paper's on readers' provincial panels
(``tests/test_run_provincial.py``, ``tests/test_reader_book.py``), and the remaining ones with
small draws here.

A chapter without draw-count parameters is executed once more, with its defaults, as an
independent check of the pages' determinism: its outputs must equal the build's cached ones,
glued ``machine_`` values (timings) apart. ``python -m lib.book.build --check-determinism``
compares two whole clean builds.
"""

from __future__ import annotations

import json
import math

import nbformat
import pytest

from lib import ROOT
from lib.book.build import cached_notebook, notebook_output_differences
from lib.book.reader_book import CITY_CHAPTERS, PROVINCIAL_CHAPTERS
from lib.book.run import chapter_parameters, resolve_parameters, run_chapter, runnable_chapters

pytestmark = [pytest.mark.slow]

#: Small draw counts for parameters that only set the size of a simulation.
SMALL_DRAWS = {"n_placebo": 20, "n_bootstrap": 20, "bootstrap_reps": 20, "reps": 20}
#: Chapters whose runs with other parameters other tests make (see the module's docstring).
RUN_ELSEWHERE = set(CITY_CHAPTERS) | set(PROVINCIAL_CHAPTERS)


def _draws(chapter: str) -> set[str]:
    return set(SMALL_DRAWS) & set(chapter_parameters(chapter))


def _built(chapter: str):
    built = cached_notebook(chapter)
    if built is None:
        pytest.skip(f"{chapter}: no execution cache of the current lib/ and data/ (run `make book` or "
                    "`make test`, which builds first)")
    return built


def _check_results(chapter: str, payload: dict) -> None:
    assert payload["chapter"] == chapter
    assert payload["estimates"], f"{chapter} recorded no headline estimate"
    for est in payload["estimates"]:
        assert est["name"] and math.isfinite(est["estimate"]), est


@pytest.mark.parametrize("chapter", runnable_chapters())
def test_the_build_executed_the_chapter_and_recorded_its_results(chapter):
    built = _built(chapter)
    errors = [o.get("ename") for c in built.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{chapter}'s build execution shows errors: {errors}"
    defaults = chapter_parameters(chapter)
    assert defaults, f"{chapter} has code but no cell tagged `parameters`"
    payload = json.loads((ROOT / "outputs" / "results" / f"{chapter}.json").read_text())
    _check_results(chapter, payload)
    changed = {k: v for k, v in payload["parameters"].items() if k in defaults and v != defaults[k]}
    assert not changed, f"{chapter}'s build recorded parameters other than its defaults: {changed}"


@pytest.mark.parametrize("chapter", [c for c in runnable_chapters() if _draws(c) and c not in RUN_ELSEWHERE])
def test_a_chapter_runs_with_small_draws(chapter, tmp_path):
    overrides = resolve_parameters(chapter, {k: SMALL_DRAWS[k] for k in _draws(chapter)})
    result = run_chapter(chapter, overrides, tmp_path)
    assert result.ok, f"{chapter} failed:\n{result.error}"
    payload = json.loads(result.results.read_text())
    _check_results(chapter, payload)
    assert {k: payload["parameters"][k] for k in overrides} == overrides


@pytest.mark.parametrize("chapter", [c for c in runnable_chapters() if not _draws(c)])
def test_second_execution_matches_the_book_build(chapter, tmp_path):
    built = _built(chapter)
    result = run_chapter(chapter, {}, tmp_path)
    assert result.ok, result.error
    _check_results(chapter, json.loads(result.results.read_text()))
    again = nbformat.read(result.notebook, as_version=4)
    assert notebook_output_differences(built, again, chapter) == []
