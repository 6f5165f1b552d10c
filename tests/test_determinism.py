"""The page rules and the output comparison behind the determinism checks (no build).

The checks themselves run on the real book in ``test_book.py`` (every page) and
``test_chapters.py`` (a second execution of each chapter against the build).
"""

from __future__ import annotations

import nbformat
import pytest

from lib import book
from lib.book.build import (TIMING_PATTERN, notebook_output_differences, page_differences, page_problems,
                       page_text)

PAGE = """<html><head><script>var t = "1.5 s";</script><style>p{}</style></head><body>
<p>The estimate is 0.0194 (N = 3,360), from 2×2s and 1,000 draws.</p>
<div class="admonition machine-dependent"><p>It took 0.130 seconds and 236 ms.</p><br></div>
<p>After.</p></body></html>"""


def test_page_text_drops_scripts_styles_and_machine_dependent_elements():
    assert page_text(PAGE) == "The estimate is 0.0194 (N = 3,360), from 2×2s and 1,000 draws. After."


@pytest.mark.parametrize("text", ["took 0.13 seconds", "236 ms", "in 5 s.", "2 minutes", "1,200 s"])
def test_durations_are_found(text):
    assert TIMING_PATTERN.search(text), text


@pytest.mark.parametrize("text", ["2×2s", "the 1990s", "s.e. 0.03 (3 s.e.)", "T4s", "5 stars"])
def test_non_durations_are_not(text):
    assert not TIMING_PATTERN.search(text), text


def test_page_problems_name_the_page_the_path_and_the_timing(tmp_path):
    site = tmp_path / "html"
    (site / "chapters").mkdir(parents=True)
    (site / "_static").mkdir()
    (site / "chapters" / "ok.html").write_text(PAGE)
    (site / "chapters" / "bad.html").write_text(
        f"<p>looked at {tmp_path}/data.csv</p><p>one run took 0.4 seconds</p>")
    (site / "_static" / "theme.html").write_text(f"<p>{tmp_path} 9 s</p>")  # not a page of the book
    problems = page_problems(site, checkout=tmp_path)
    assert len(problems) == 2, problems
    assert problems[0].startswith("chapters/bad.html: contains the checkout's absolute path")
    assert problems[1].startswith("chapters/bad.html: duration '0.4 seconds' outside a machine-dependent")


def test_page_differences_ignore_machine_dependent_text_only(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for site, seconds, estimate in ((a, "0.130", "0.0194"), (b, "0.250", "0.0194")):
        site.mkdir()
        (site / "p.html").write_text(PAGE.replace("0.130", seconds).replace("0.0194", estimate))
    assert page_differences(a, b) == []
    (b / "p.html").write_text(PAGE.replace("0.0194", "0.0195"))
    (b / "q.html").write_text(PAGE)
    out = page_differences(a, b)
    assert out[0].startswith("q.html: only in") and out[1].startswith("p.html: first difference")


def _notebook(*outputs_per_cell):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"x{i}", outputs=list(outs))
                for i, outs in enumerate(outputs_per_cell)]
    return nb


def _glue(key, value):
    return nbformat.v4.new_output("display_data", data={"text/plain": repr(value)},
                                  metadata={"scrapbook": {"name": key, "mime_prefix": ""}})


def test_notebook_outputs_compare_everything_but_machine_glue():
    text = nbformat.v4.new_output("stream", name="stdout", text="N = 3360\n")
    a = _notebook([text, _glue("t4_beta", 0.0194), _glue("machine_seconds", 0.13)])
    b = _notebook([text, _glue("t4_beta", 0.0194), _glue("machine_seconds", 0.99)])
    assert notebook_output_differences(a, b) == []
    c = _notebook([text, _glue("t4_beta", 0.0195), _glue("machine_seconds", 0.13)])
    assert notebook_output_differences(a, c, "ch") == ["ch: code cell 1 ('x0') gives different outputs"]


def test_machine_glue_keys_must_say_so():
    with pytest.raises(ValueError, match="must start with 'machine_'"):
        book.glue_machine("boot_seconds", 0.1)
    assert book.median_seconds(lambda: None, repeats=3) >= 0
