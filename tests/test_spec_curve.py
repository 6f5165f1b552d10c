"""The specification curve (lib.book.spec_curve): the choices a panel supports, the timing rule,
the registry's reuse, and the sentences that depend on the numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.book import spec_curve as curve
from lib.methods.registry import Registry


@pytest.fixture(scope="module")
def book_data():
    from lib import book

    return book.chapter_data("", "", "all")


def test_specifications_cover_every_supported_combination(book_data):
    frame, controls = book_data.panel.data, list(book_data.panel.spec.controls)
    specs, skipped = curve.specifications(frame, controls)
    # the default panel is balanced: "balanced" is the full sample again, so it is left out
    assert "balanced" in skipped and "same rows as the sample 'all'" in skipped["balanced"]
    samples = {s.sample for s in specs}
    assert samples == set(curve.CURVE_SAMPLES) - {"balanced"}
    # per sample and timing: TWFE 2 control sets x 2 clusters, two matchings x 2 clusters, CS and BJS x 2
    assert len(specs) == len(samples) * 2 * (4 + 4 + 2 + 2)
    assert len(set(specs)) == len(specs)
    assert {s.cluster for s in specs if s.estimator == "Callaway-Sant'Anna"} == {"city_id"}
    assert all(s.controls == "all" for s in specs if s.estimator.startswith("PSM"))
    no_controls, why = curve.specifications(frame, [], samples=("all",))
    assert not any(s.estimator.startswith("PSM") for s in no_controls)
    assert "matching needs controls" in why["PSM-DID (kernel)"]
    with pytest.raises(ValueError, match=r"unknown sample\(s\) \['everywhere'\]"):
        curve.specifications(frame, controls, samples=("everywhere",))


def test_a_panel_without_a_municipality_flag_says_which_sample_it_cannot_form(book_data):
    frame = book_data.panel.data.drop(columns=["is_municipality"])
    specs, skipped = curve.specifications(frame, list(book_data.panel.spec.controls),
                                          samples=("all", "no_municipalities"))
    assert {s.sample for s in specs} == {"all"}
    assert "is_municipality" in skipped["no_municipalities"]


def test_a_year_later_moves_every_cohort_and_recodes_the_dummy():
    frame = pd.DataFrame({"city_id": [1] * 3 + [2] * 3 + [3] * 3, "year": [2019, 2020, 2021] * 3,
                          "adoption_year": [2020.0] * 3 + [2021.0] * 3 + [np.nan] * 3,
                          "CBEC": [0, 1, 1, 0, 0, 1, 0, 0, 0]})
    out = curve._recode(frame, 1)
    assert out["adoption_year"].tolist()[:3] == [2021.0] * 3
    assert out["adoption_year"].iloc[3:].isna().all()      # after the panel's last year: never treated
    assert out["CBEC"].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert curve._recode(frame, 0) is frame


def test_the_curve_reuses_the_registry_and_clustering_moves_only_intervals(book_data, tmp_path):
    frame, controls = book_data.panel.data, list(book_data.panel.spec.controls)
    reg = Registry(tmp_path / "r.parquet")
    first = curve.run_curve(frame, controls, registry=reg, samples=("all",))
    assert first.computed == len(first.rows) == 24
    assert (first.rows["error"] == "").all()
    again = curve.run_curve(frame, controls, registry=reg, samples=("all",))
    assert again.computed == 0
    pd.testing.assert_frame_equal(again.rows, first.rows)
    r = first.rows.set_index(["timing", "estimator", "controls", "cluster"])["estimate"].sort_index()
    twfe = r.xs(("as coded", "TWFE", "all"))
    assert twfe["city_id"] == pytest.approx(twfe["province"], rel=1e-12)
    # the paper's specification is the book's Table 4 column 2, computed the same way
    from lib.methods.did import twfe as fit

    col2 = fit(frame, yname="Inno", dname="CBEC", idname="city_id", tname="year", controls=controls,
               vcov={"CRV1": "city_id"}).coef("CBEC")
    paper_row = first.rows.set_index(list(curve.CHOICES)).loc[tuple(curve.PAPER_SPEC.values())]
    assert paper_row["estimate"] == pytest.approx(col2["estimate"], rel=1e-10)
    assert paper_row["std_error"] == pytest.approx(col2["std_error"], rel=1e-10)
    # a changed panel is another data source: nothing is reused
    changed = frame.assign(Inno=frame["Inno"] * 2)
    assert curve.panel_key(changed) != curve.panel_key(frame)
    assert curve.panel_key(frame.copy()) == curve.panel_key(frame)
    doubled = curve.run_curve(changed, controls, registry=reg, samples=("all",))
    assert doubled.computed == 24
    est = doubled.rows.set_index(list(curve.CHOICES))["estimate"]
    np.testing.assert_allclose(est.to_numpy(), 2 * first.rows.set_index(list(curve.CHOICES))["estimate"]
                               .loc[est.index].to_numpy(), rtol=1e-6)


def _rows(estimates, lows, highs):
    n = len(estimates)
    return pd.DataFrame({"sample": ["all"] * n, "controls": ["all", "none"] * (n // 2) + ["all"] * (n % 2),
                         "cluster": ["city_id"] * n, "timing": ["as coded"] * n,
                         "estimator": ["TWFE"] + ["Callaway-Sant'Anna"] * (n - 1),
                         "estimate": estimates, "std_error": 0.1, "ci_low": lows, "ci_high": highs,
                         "nobs": 100, "error": "", "key": [f"k{i}" for i in range(n)]})


def test_summary_and_sentences_follow_the_numbers():
    rows = _rows([0.3, 0.1, 0.2, -0.1], [0.1, -0.1, 0.05, -0.3], [0.5, 0.3, 0.35, 0.1])
    s = curve.curve_summary(rows, truth=0.2)
    assert s["share_significant"] == 0.5 and s["median"] == pytest.approx(0.15)
    assert s["paper_rank"] == 4 and s["paper_estimate"] == 0.3       # TWFE, all controls: the largest
    assert s["share_covering_truth"] == 0.75
    v = curve.curve_values(s, truth=0.2, paper_number=0.0157, skipped={"balanced": "the same rows"},
                           rows=rows)
    assert "number 4 of 4 from the bottom: above the middle of the curve (percentile 88)" in v["curve_paper"]
    assert "75 % of the specifications' 95 % intervals cover it" in v["curve_truth"]
    assert v["curve_paper_number"].startswith(" The paper prints 0.0157")
    assert v["curve_skipped"] == "Left out on this panel: balanced (the same rows)."
    assert v["curve_choice"] == ("On this panel the choice of controls moves the median estimate most, "
                                 "from 0.0000 (none) to 0.2500 (all); the estimator moves it least "
                                 "(0.2000 between its options).")
    reader = curve.curve_values(s, truth=float("nan"), paper_number=None, skipped={}, rows=rows)
    assert reader["curve_truth"] == reader["curve_paper_number"] == reader["curve_skipped"] == ""
    failed = rows.assign(error=["", "", "", "LinAlgError: singular"], estimate=[0.3, 0.1, 0.2, np.nan])
    assert curve.curve_summary(failed)["n_failed"] == 1
    assert "1 specifications failed" in curve.curve_values(curve.curve_summary(failed), truth=np.nan,
                                                           paper_number=None, skipped={})["curve_failed"]
