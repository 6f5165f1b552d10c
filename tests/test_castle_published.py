"""The castle-doctrine panel's published numbers, recomputed by the book's estimators on the
shipped fixture (``tests/fixtures/castle``, from causaldata 0.1.5) to the digits printed.

Sources (each number below is copied as printed, with its digits):

* Stata 18 MP, ``xtdidregress``/``xtreg, fe vce(cluster sid)`` and ``csdid, agg(simple)``: the
  reference values in StatsPAI 1.40.2, ``tests/reference_parity/test_castle_stata_parity.py``
  and ``statspai/datasets`` (``stata_twfe_*``, ``stata_csdid_*``);
* Stata ``estat bdecomp`` after ``xtdidregress`` (the Goodman-Bacon decomposition by type), as
  printed in S. Rowe's Econ 672 notes, week 11 "goodman-bacon-decomposition"
  (rowesamuel.github.io);
* Cunningham, *Causal Inference: The Mixtape* (2021), the castle event study
  (``castle_2.do``: region-by-year dummies, nine leads and five lags with the law's first year
  omitted, population weights), its figure printing each coefficient to three decimals.

The tolerance is one unit in the last printed digit: the printed numbers are rounded, and the
fixture stores 10 significant digits (which moves a nine-digit estimate by up to a few units in
its tenth digit). The book's reader's-book test
(``tests/test_reader_book.py``) checks that the same TWFE reaches the built page.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.methods.did import event_study, twfe
from lib.methods.staggered import bacon_decomposition, callaway_santanna

from _reader_shapes import CASTLE

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

#: (coefficient on post, cluster-robust s.e.), Stata.
STATA_TWFE_UNWEIGHTED = (0.069398429, 0.055859635)
STATA_TWFE_WEIGHTED = (0.075533239, 0.033193606)
#: ``csdid`` simple ATT (s.e.) with cohorts the first year of ``post`` ("effyear + 1") and the
#: year before it ("effyear").
STATA_CSDID_FIRST_POST = (0.019402808, 0.038388647)
STATA_CSDID_YEAR_BEFORE = (0.110383035, 0.038724240)
#: ``estat bdecomp``: type -> (weight, average 2x2 estimate).
STATA_BACON = {"Treated vs never treated": (0.898809, 0.07843799),
               "Earlier vs later treated (not yet treated)": (0.077079, -0.02857716),
               "Later vs earlier treated (already treated)": (0.024112, 0.04563468)}
#: The Mixtape's event study, leads 9..1 then lags 1..5 (lag 0 is the reference).
MIXTAPE_EVENT_STUDY = {-9: -0.261, -8: -0.304, -7: -0.137, -6: 0.009, -5: 0.005, -4: -0.004,
                       -3: 0.012, -2: 0.019, -1: -0.026, 1: 0.078, 2: 0.082, 3: 0.105,
                       4: 0.079, 5: 0.172}


def _last_digit(printed: float) -> float:
    """One unit in the last printed digit of ``printed`` (as written in this file)."""
    text = repr(printed)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 10.0 ** -decimals


@pytest.fixture(scope="module")
def castle():
    c = pd.read_csv(CASTLE)
    first_post = c[c["post"] == 1].groupby("sid")["year"].min()
    c["first_post"] = c["sid"].map(first_post)
    return c


@pytest.mark.parametrize("weights, printed", [(None, STATA_TWFE_UNWEIGHTED),
                                              ("popwt", STATA_TWFE_WEIGHTED)])
def test_twfe_is_statas(castle, weights, printed):
    res = twfe(castle, yname="l_homicide", dname="post", idname="sid", tname="year",
               vcov={"CRV1": "sid"}, weights=weights)
    for got, want in zip((res.params["post"], res.std_errors["post"]), printed):
        assert got == pytest.approx(want, abs=_last_digit(want))


def test_bacon_decomposition_is_statas(castle):
    bd = bacon_decomposition(castle, yname="l_homicide", idname="sid", tname="year", gname="first_post")
    assert bd.twfe == pytest.approx(STATA_TWFE_UNWEIGHTED[0], abs=_last_digit(STATA_TWFE_UNWEIGHTED[0]))
    by_type = bd.by_type()
    for kind, (weight, estimate) in STATA_BACON.items():
        assert by_type.loc[kind, "weight"] == pytest.approx(weight, abs=_last_digit(weight))
        assert by_type.loc[kind, "estimate"] == pytest.approx(estimate, abs=_last_digit(estimate))


@pytest.mark.parametrize("shift, printed", [(0, STATA_CSDID_FIRST_POST), (1, STATA_CSDID_YEAR_BEFORE)])
def test_callaway_santanna_simple_att_is_csdids(castle, shift, printed):
    # the law's first year is coded untreated in `post` (part-year exposure): the two cohort
    # codings give the two published numbers
    d = castle.assign(g=castle["first_post"] - shift)
    overall = callaway_santanna(d, yname="l_homicide", idname="sid", tname="year", gname="g"
                                ).aggregate("simple").overall
    for got, want in zip((overall["estimate"], overall["std_error"]), printed):
        assert got == pytest.approx(want, abs=_last_digit(want))


def _with_region_year_dummies(castle):
    """Region-by-year effects as dummies; one region and one year left out, which the state and
    year effects absorb (a full set is collinear with them, and the fit says so)."""
    d = castle.copy()
    dummies = []
    for region in (2, 3, 4):
        for year in range(2001, 2011):
            name = f"r{year}_{region}"
            d[name] = ((d["census_region"] == region) & (d["year"] == year)).astype(float)
            dummies.append(name)
    return d, dummies


def test_event_study_is_the_mixtapes(castle):
    d, dummies = _with_region_year_dummies(castle)
    es = event_study(d, yname="l_homicide", idname="sid", tname="year", gname="lag0_year",
                     controls=dummies, window=(-9, 5), ref=0, bin_endpoints=False,
                     vcov={"CRV1": "sid"}, weights="popwt", band_draws=1000)
    got = es.estimates["estimate"].drop(index=0)
    for e, want in MIXTAPE_EVENT_STUDY.items():
        assert got[e] == pytest.approx(want, abs=_last_digit(want)), e
    d["r2000_2"] = ((d["census_region"] == 2) & (d["year"] == 2000)).astype(float)
    with pytest.raises(ValueError, match="collinear"):
        event_study(d, yname="l_homicide", idname="sid", tname="year", gname="lag0_year",
                    controls=[*dummies, "r2000_2"], window=(-9, 5), ref=0, bin_endpoints=False,
                    vcov={"CRV1": "sid"}, weights="popwt", band_draws=1000)


def test_collinear_columns_finds_the_redundant_regressor():
    from lib.methods.panel import collinear_columns

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    assert collinear_columns(X) == []
    X[:, 3] = X[:, 0] - 2 * X[:, 1]
    assert len(collinear_columns(X)) == 1 and collinear_columns(X)[0] in (0, 1, 3)
    X[:, 2] = 0.0
    assert 2 in collinear_columns(X)


@pytest.mark.slow
def test_the_event_study_chapter_on_the_castle_panel_is_the_mixtapes(castle, tmp_path, capsys):
    """The same event study through the book's chapter and its run command, with a column file
    that names the weights, the law's first year as adoption and the region-by-year dummies."""
    import json

    import yaml

    from lib.book.run import main

    d, dummies = _with_region_year_dummies(castle)
    data, columns = tmp_path / "castle_mixtape.csv", tmp_path / "castle_mixtape.yml"
    d.drop(columns=["first_post"]).to_csv(data, index=False)
    columns.write_text(yaml.safe_dump({"unit": "sid", "outcome": "l_homicide", "adoption": "lag0_year",
                                       "controls": dummies, "weights": "popwt"}))
    code = main(["did_event_study", "-p", "data_path", str(data), "-p", "columns", str(columns),
                 "-p", "window_start", "-9", "-p", "window_end", "5", "-p", "ref", "0",
                 "-p", "band_draws", "1000", "--out", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err[-2000:]
    results = json.loads((tmp_path / "run" / "did_event_study" / "did_event_study.json").read_text())
    got = {e["name"]: e["estimate"] for e in results["estimates"]}
    for e, want in MIXTAPE_EVENT_STUDY.items():
        assert got[f"fig1_event_time_{e:+d}"] == pytest.approx(want, abs=_last_digit(want)), e
    page = json.dumps(json.loads((tmp_path / "run" / "did_event_study" / "did_event_study.ipynb").read_text()))
    assert "weighted by `popwt`" in page


@pytest.mark.slow
def test_the_baseline_chapter_with_population_weights_is_statas(tmp_path, capsys):
    """``-p weights popwt`` on the castle column file: Table 4's column (1) is Stata's weighted TWFE."""
    import json

    from lib.book.run import main

    from _reader_shapes import CASTLE_COLUMNS

    code = main(["baseline_did", "-p", "data_path", str(CASTLE), "-p", "columns", str(CASTLE_COLUMNS),
                 "-p", "weights", "popwt", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err[-2000:]
    results = json.loads((tmp_path / "baseline_did" / "baseline_did.json").read_text())
    col1 = next(e for e in results["estimates"] if e["name"] == "table4_col1")
    beta, se = STATA_TWFE_WEIGHTED
    assert col1["estimate"] == pytest.approx(beta, abs=_last_digit(beta))
    assert col1["std_error"] == pytest.approx(se, abs=_last_digit(se))
    page = (tmp_path / "baseline_did" / "baseline_did.ipynb").read_text()
    assert "weighted by `popwt`" in page   # the page says so
