"""lib.book (chapter data, truth helpers, results record) and lib.book.describe."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lib import book
from lib.book import describe
from lib.data import facts
from lib.methods.did import twfe
from lib.data.synthetic import SyntheticParams, simulate_city_panel


@pytest.fixture(scope="module")
def default_data():
    return book.chapter_data()


def test_default_chapter_data_is_the_shipped_panel_with_its_truth(default_data):
    assert default_data.synthetic
    assert len(default_data.frame) == 3360
    assert default_data.sample["name"] == "all"
    assert default_data.true_att() == pytest.approx(default_data.truth.att, rel=1e-12)


def test_other_seed_regenerates_a_panel_with_its_own_truth():
    other = book.chapter_data(seed=7)
    assert other.synthetic and "seed 7" in other.source
    assert other.truth.seed == 7
    assert other.true_att() == pytest.approx(other.truth.att, rel=1e-12)


def test_readers_file_has_no_truth(tmp_path, default_data):
    path = tmp_path / "mine.csv"
    default_data.panel.data.to_csv(path, index=False)
    mine = book.chapter_data(str(path), sample="east")
    assert not mine.synthetic and np.isnan(mine.true_att())
    assert set(mine.frame["region"]) == {"East"}


def test_balanced_frame_says_what_it_keeps(tmp_path, default_data):
    frame, note = book.balanced_frame(default_data, needs="the decomposition")
    assert frame is default_data.frame and note == "", "a balanced panel is used as it is, silently"
    gappy = default_data.panel.data.drop(index=[0, 1, 13])  # city 1 loses two years, city 2 one
    path = tmp_path / "gappy.csv"
    gappy.to_csv(path, index=False)
    mine = book.chapter_data(str(path))
    frame, note = book.balanced_frame(mine, needs="the decomposition and the weights")
    assert frame["city_id"].nunique() == 278 and len(frame) == 278 * 12
    assert note == ("This panel is unbalanced: 2 of 280 units lack some of its 12 periods. The "
                    "decomposition and the weights need every unit in every period, so this chapter "
                    "runs them on the balanced sub-panel of the 278 units observed in every period "
                    "(3,336 of 3,357 rows); the estimators that allow gaps use every row.")


def test_true_att_of_uses_the_rows_the_model_used(default_data):
    res = twfe(default_data.frame,
               yname="Inno", dname="CBEC", controls=["lnaca", "Urban"], idname="city_id", tname="year", vcov={"CRV1": "city_id"})
    used = default_data.frame.dropna(subset=["lnaca", "Urban"])
    assert default_data.true_att_of(res) == pytest.approx(default_data.truth.att_on(used), rel=1e-12)


def test_twfe_target_is_exact_under_a_constant_effect():
    """With a constant effect every weighting of it returns the constant."""
    panel, truth = simulate_city_panel(facts.sample_frame(), SyntheticParams(heterogeneity=0, dynamics=0),
                                       seed=3)
    data = book.ChapterData(panel=None, frame=panel, sample={"name": "all"}, truth=truth, source="test")
    res = twfe(panel, yname="Inno", dname="CBEC", idname="city_id", tname="year", vcov={"CRV1": "city_id"})
    tau = truth.effects.loc[truth.effects["CBEC"] == 1, "tau"]
    assert tau.std() < 1e-12
    assert data.twfe_target(res) == pytest.approx(float(tau.iloc[0]), rel=1e-9)


def test_twfe_target_plus_untreated_part_is_the_estimate(default_data):
    """Linearity: beta(Y) = beta(tau) + beta(Y - tau), to rounding."""
    frame = default_data.frame.copy()
    eff = default_data.truth.effects.set_index(["city_id", "year"])["tau"]
    tau = eff.reindex(pd.MultiIndex.from_frame(frame[["city_id", "year"]])).fillna(0).to_numpy()
    frame["y0"] = frame["Inno"] - tau
    res = twfe(frame, yname="Inno", dname="CBEC", idname="city_id", tname="year", vcov={"CRV1": "city_id"})
    untreated = twfe(frame, yname="y0",
                     dname="CBEC", idname="city_id", tname="year", vcov={"CRV1": "city_id"}).params["CBEC"]
    assert default_data.twfe_target(res) + untreated == pytest.approx(res.params["CBEC"], abs=1e-12)


def test_record_and_save_results_write_stable_json(tmp_path):
    book.setup("unit_test_chapter", parameters={"sample": "all", "n": np.int64(3)})
    book.record("x", estimate=np.float64(0.5), std_error=0.1, t=5.0, p=np.float64(1e-6), nobs=np.int64(10),
                truth=float("nan"))
    path = tmp_path / "r.json"
    assert book.save_results(path) is None, "no output in the chapter's last cell"
    payload = json.loads(path.read_text())
    assert payload["chapter"] == "unit_test_chapter" and payload["parameters"]["n"] == 3
    (entry,) = payload["estimates"]
    assert entry["estimate"] == 0.5 and entry["truth"] is None and entry["nobs"] == 10
    book.save_results(tmp_path / "r2.json")
    assert path.read_text() == (tmp_path / "r2.json").read_text()


def test_adoption_timeline_matches_the_treatment_dummy(default_data):
    timeline = describe.adoption_timeline(default_data.frame)
    assert timeline["new_pilots"].sum() == 98
    assert timeline.loc[2015, "new_pilots"] == 1 and timeline.loc[2020, "new_pilots"] == 43
    assert timeline["treated_units"].sum() == int(default_data.frame["CBEC"].sum()) == 312
    assert timeline["treated_share"].mean() == pytest.approx(312 / 3360)


def test_sample_rule_table_arrives_at_280():
    table = describe.sample_rule_table(facts.city_frame(sample_only=False))
    assert list(table["left"]) == [337, 297, 285, 284, 280]
    assert table["dropped"].sum() == 57


def test_batch_summary_counts(default_data):
    summary = describe.batch_summary(facts.pilot_batches(), facts.sample_frame())
    assert list(summary.loc[[1, 2, 3, 4, 5], "sample cities treated"]) == [1, 12, 21, 21, 43]
    assert summary.loc[[1, 2, 3, 4, 5], "pilot areas"].sum() == 105
    assert summary.loc[6, "status of the list"].startswith("partly from memory")


def test_table3_comparison_lines_up_book_and_paper(default_data):
    from lib.data.published import published_descriptives

    t3 = describe.table3_comparison(default_data.frame, published_descriptives())
    assert t3.loc["CBEC", "mean (book)"] == pytest.approx(312 / 3360)
    assert t3.loc["CBEC", "mean (paper)"] == pytest.approx(0.0929)
    assert t3.loc["lnaca", "N (book)"] == 3351 and t3.loc["Urban", "N (book)"] == 3325


def test_true_effects_table_has_every_truth(default_data):
    t = describe.true_effects_table(default_data.truth)
    assert t.iloc[0]["true ATT"] == pytest.approx(default_data.truth.att)
    assert (t["what"] == "adoption cohort").sum() == 5
    assert t["what"].str.startswith("indirect via").sum() == 3


def test_figures_have_labelled_axes(default_data):
    import matplotlib

    matplotlib.use("Agg")
    fig = describe.plot_adoption_timeline(describe.adoption_timeline(default_data.frame))
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel()
    fig = describe.plot_pilot_map(facts.sample_frame(), facts.city_frame(sample_only=False))
    assert "longitude" in fig.axes[0].get_xlabel()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("2020 (43)" in label for label in labels)


def test_true_effects_figure(default_data):
    import matplotlib

    matplotlib.use("Agg")
    fig = describe.plot_true_effects(default_data.truth)
    left, right = fig.axes
    assert "event time" in left.get_xlabel() and right.get_xlabel() == "adoption cohort"
    assert len(right.patches) == 5
    assert "overall ATT" in right.get_legend().get_texts()[0].get_text()


def test_truth_summary_is_computed_from_the_truth(default_data):
    text = describe.truth_summary(default_data.truth)
    assert f"{default_data.truth.att:.4f}" in text
    cohort = default_data.truth.att_by_cohort
    assert f"{cohort.max():.4f} ({cohort.idxmax()})" in text
