"""``make book DATA=... COLUMNS=...``: the whole book on a real public panel (castle doctrine)."""

from __future__ import annotations

import json

import pytest

from _reader_shapes import CASTLE, CASTLE_COLUMNS, CITY_CHAPTERS, SMALL, UNSUPPORTED, check_run

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def reader_book(tmp_path_factory):
    from lib.book.reader_book import build_reader_book

    import pandas as pd

    from lib import DATA

    out = tmp_path_factory.mktemp("reader")
    small = {ch: {k: int(v) if v.isdigit() else v for k, v in params.items()} for ch, params in SMALL.items()}
    small["fdi_empirics"] = {"bootstrap_reps": 19}
    # a reader's provincial panel for the companion paper's chapters: a cut of the shipped one
    provinces = pd.read_csv(DATA / "derived" / "fdi" / "fdi_province_panel.csv")
    provincial = out / "my_provinces.csv"
    provinces[provinces["year"] <= 2020].to_csv(provincial, index=False)
    code = build_reader_book(str(CASTLE), str(CASTLE_COLUMNS), out=out, jobs=1, strict=True,
                             overrides=small, provincial=str(provincial))
    return code, out


def _page(out, name):
    from lib.book.build import page_text

    return page_text((out / "source" / "_build" / "html" / "chapters" / f"{name}.html").read_text())


def test_the_reader_book_builds_every_page_strictly(reader_book):
    code, out = reader_book
    assert code == 0
    assert (out / "source" / "_build" / "html" / "index.html").exists()
    assert "cannot run on castle.csv" in _page(out, "heterogeneity")
    assert "Tables 11-13" in _page(out, "mechanisms")
    # the reader's own grouping (census region) gets its group effects; no mediator: a note
    groups = _page(out, "groups_mediators")
    assert "census_region (F = " in groups and "names no mediator" in groups
    for name in ("policy_text", "theory", "paper_audit"):
        assert "does not read the city panel" in _page(out, name)
    # the footer and the results page say whose data these are, never "semi-synthetic"
    raw = (out / "source" / "_build" / "html" / "chapters" / "baseline_did.html").read_text()
    assert "computed on the reader's panel <code>castle.csv</code>" in raw
    assert "<b>semi-synthetic</b> panel" not in raw
    results = _page(out, "results")
    assert "no true effect is known for them" in results and "Table 4" in results and "semi-synthetic</b>" not in results
    # rows with a truth on a reader's book are the teaching simulations, and say so
    assert "teaching simulations" in results
    # chapters are named by their titles (a reader's book holds notebooks, not MyST sources)
    assert "Baseline_did" not in results and "Baseline" in results
    # the companion paper's chapters ran on the reader's provincial panel, with no printed number
    for name in ("fdi_index", "fdi_empirics"):
        assert "does not read the city panel" not in _page(out, name)
        assert "my_provinces.csv" in _page(out, name)
        estimates = json.loads((out / "runs" / name / f"{name}.json").read_text())["estimates"]
        assert not [e["name"] for e in estimates if e.get("paper") is not None]


@pytest.mark.parametrize("chapter", CITY_CHAPTERS)
def test_each_chapter_of_the_reader_book_meets_the_shape_checks(reader_book, chapter):
    """The castle panel's cell of the shape matrix (``tests/_reader_shapes.py``), on the runs the
    reader's book made: no error, no truth or paper number, the records the panel must give;
    a chapter the panel cannot support says so on its page instead."""
    _, out = reader_book
    folder = out / "runs" / chapter
    if chapter in UNSUPPORTED["castle"]:
        assert not (folder / f"{chapter}.json").exists()
        assert "cannot run on castle.csv" in _page(out, chapter)
        return
    outcome = {"code": 0, "stderr": "",
               "results": json.loads((folder / f"{chapter}.json").read_text()),
               "notebook": json.loads((folder / f"{chapter}.ipynb").read_text())}
    check_run("castle", chapter, outcome)


def test_the_reader_books_numbers_are_the_published_ones(reader_book):
    """Table 4's column (1) on the castle panel is Stata's published TWFE, to its printed digits
    (``tests/test_castle_published.py`` has the sources and the other published numbers)."""
    from test_castle_published import STATA_TWFE_UNWEIGHTED, _last_digit

    _, out = reader_book
    results = json.loads((out / "runs" / "baseline_did" / "baseline_did.json").read_text())
    col1 = next(e for e in results["estimates"] if e["name"] == "table4_col1")
    beta, se = STATA_TWFE_UNWEIGHTED
    assert col1["estimate"] == pytest.approx(beta, abs=_last_digit(beta))
    assert col1["std_error"] == pytest.approx(se, abs=_last_digit(se))
    assert col1["nobs"] == 550 and col1["paper"] is None and col1["truth"] is None
    # the staggered chapter's Goodman-Bacon decomposition is Stata's estat bdecomp
    from test_castle_published import STATA_BACON

    stag = {e["name"]: e for e in
            json.loads((out / "runs" / "did_staggered" / "did_staggered.json").read_text())["estimates"]}
    assert stag["bacon_twfe"]["estimate"] == pytest.approx(beta, abs=_last_digit(beta))
    forbidden = STATA_BACON["Later vs earlier treated (already treated)"][0]
    assert stag["bacon_weight_forbidden"]["estimate"] == pytest.approx(forbidden, abs=_last_digit(forbidden))
    page = _page(out, "baseline_did")
    assert f"{col1['estimate']:.4f}" in page and "first treated 2007" in page
    assert "Book − paper" not in page and "0.0194" not in page.split("Three remarks")[0]
