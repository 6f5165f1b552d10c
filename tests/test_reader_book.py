"""``make book DATA=... COLUMNS=...``: the whole book on a real public panel (castle doctrine)."""

from __future__ import annotations

import json

import pytest

from _reader_shapes import CASTLE, CASTLE_COLUMNS, SMALL

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def reader_book(tmp_path_factory):
    from lib.book.reader_book import build_reader_book

    out = tmp_path_factory.mktemp("reader")
    small = {ch: {k: int(v) for k, v in params.items()} for ch, params in SMALL.items()}
    code = build_reader_book(str(CASTLE), str(CASTLE_COLUMNS), out=out, jobs=1, strict=True,
                             overrides=small)
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
    assert "does not read the city panel" in _page(out, "policy_text")
    for name in ("fdi_index", "fdi_empirics", "theory"):
        assert "does not read the city panel" in _page(out, name)


def test_the_reader_books_numbers_are_the_estimators_on_the_readers_panel(reader_book):
    import pandas as pd
    import pyfixest as pf

    _, out = reader_book
    results = json.loads((out / "runs" / "baseline_did" / "baseline_did.json").read_text())
    col1 = next(e for e in results["estimates"] if e["name"] == "table4_col1")
    castle = pd.read_csv(CASTLE)
    ref = pf.feols("l_homicide ~ post | sid + year", data=castle, vcov={"CRV1": "sid"})
    assert col1["estimate"] == pytest.approx(float(ref.coef()["post"]), rel=1e-9)
    assert col1["std_error"] == pytest.approx(float(ref.se()["post"]), rel=1e-6)
    assert col1["nobs"] == 550 and col1["paper"] is None and col1["truth"] is None
    page = _page(out, "baseline_did")
    assert f"{col1['estimate']:.4f}" in page and "first treated 2007" in page
    assert "Book − paper" not in page and "0.0194" not in page.split("Three remarks")[0]
