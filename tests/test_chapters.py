"""Every chapter in ``_toc.yml`` executes end to end through the run command.

Draw counts (placebo draws, bootstrap reps) are cut to small numbers where the
chapter has such parameters: the size proves nothing here, the book runs the
full ones. Each run must write a results file with at least one estimate.
"""

from __future__ import annotations

import json
import math

import pytest

from lib.run import chapter_parameters, resolve_parameters, run_chapter, runnable_chapters

pytestmark = [pytest.mark.slow]

#: Small draw counts for parameters that only set the size of a simulation.
SMALL_DRAWS = {"n_placebo": 20, "n_bootstrap": 20, "bootstrap_reps": 20, "reps": 20}


@pytest.mark.parametrize("chapter", runnable_chapters())
def test_chapter_executes_and_records_results(chapter, tmp_path):
    defaults = chapter_parameters(chapter)
    assert defaults, f"{chapter} has code but no cell tagged `parameters`"
    overrides = resolve_parameters(chapter, {k: v for k, v in SMALL_DRAWS.items() if k in defaults})
    result = run_chapter(chapter, overrides, tmp_path)
    assert result.ok, f"{chapter} failed:\n{result.error}"
    payload = json.loads(result.results.read_text())
    assert payload["chapter"] == chapter
    assert payload["estimates"], f"{chapter} recorded no headline estimate"
    for est in payload["estimates"]:
        assert est["name"] and math.isfinite(est["estimate"]), est
