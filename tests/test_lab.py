"""The estimator lab (lib.book.lab) and its results registry (lib.methods.registry).

* the registry: keys depend on every input, rows are unique and sorted by key, a read-only
  layer is consulted but never written, a damaged file gets an error naming it;
* a lab run computes only the keys the registry lacks, records failures as rows, and gives
  byte-identical registries with one process, two loky processes and a two-worker Dask
  ``LocalCluster`` (the same machine and run: a determinism check, not a golden);
* known answers, from a fresh smaller run (TWFE, R = 200) and from the registry the book ships:
  unbiased estimators within 3 Monte-Carlo s.e. of zero under a constant effect, TWFE's bias
  under heterogeneous dynamic effects, Callaway-Sant'Anna's coverage within MC error of 95 %;
* the shipped registry holds every run the book requests and reproduces from the code;
* the command line and the chapter's sentences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.book import lab, lab_sections
from lib.data.synthetic import SCENARIOS
from lib.methods.registry import COLUMNS, Registry, key_seed, run_key, run_tasks

SMALL = dict(estimators=["TWFE", "dCDH"])


def _rows(keys, **values) -> pd.DataFrame:
    base = {"source": "scenario:x", "params": "{}", "seed": 1, "estimator": "e", "version": "v",
            "estimate": 1.0, "std_error": 0.1, "ci_low": 0.8, "ci_high": 1.2, "truth": 1.0,
            "target": np.nan, "pretest_p": np.nan, "nobs": 10, "error": ""}
    return pd.DataFrame([{**base, **values, "key": k} for k in keys])


# ---------------------------------------------------------------------------- registry
def test_run_key_depends_on_every_input_and_nothing_else():
    base = dict(source="scenario:homogeneous", params={"a": 1, "b": [1, 2]}, seed=7, estimator="TWFE",
                version="lib==1")
    k = run_key(**base)
    assert run_key(**{**base, "params": {"b": [1, 2], "a": 1}}) == k  # key order is not an input
    for change in (dict(source="sha256:ab"), dict(params={"a": 2, "b": [1, 2]}), dict(seed=8),
                   dict(estimator="CS"), dict(version="lib==2")):
        assert run_key(**{**base, **change}) != k, change
    assert key_seed("lab", "homogeneous", 1, 0) == key_seed("lab", "homogeneous", 1, 0)
    assert key_seed("lab", "homogeneous", 1, 0) != key_seed("lab", "homogeneous", 1, 1)
    assert 0 <= key_seed("x") < 2**31
    # a draw's seed is fixed by scenario and replication: this value holds on every machine
    assert lab.draw_seed("homogeneous", 0) == key_seed("lab", "homogeneous", lab.BASE_SEED, 0)


def test_registry_keeps_one_row_per_key_sorted_and_skips_known_keys(tmp_path):
    reg = Registry(tmp_path / "r.parquet")
    assert reg.rows().empty and reg.missing(["a"]) == ["a"]
    assert reg.add(_rows(["c", "a"])) == 2
    assert reg.add(_rows(["b", "a"], estimate=5.0)) == 1     # "a" is known: not replaced
    rows = reg.rows()
    assert list(rows["key"]) == ["a", "b", "c"]
    assert rows.set_index("key").loc["a", "estimate"] == 1.0
    assert reg.missing(["a", "d", "b", "e"]) == ["d", "e"]
    assert list(rows.columns) == list(COLUMNS)
    with pytest.raises(ValueError, match="repeat key"):
        reg.add(_rows(["z", "z"]))


def test_registry_reads_a_read_only_layer_but_never_writes_it(tmp_path):
    shipped = Registry(tmp_path / "shipped.parquet")
    shipped.add(_rows(["a", "b"]))
    before = (tmp_path / "shipped.parquet").read_bytes()
    reg = Registry(tmp_path / "mine.parquet", read_only=[tmp_path / "shipped.parquet"])
    assert reg.missing(["a", "b", "c"]) == ["c"]
    reg.add(_rows(["c"]))
    assert list(reg.rows()["key"]) == ["a", "b", "c"]
    assert (tmp_path / "shipped.parquet").read_bytes() == before
    assert list(Registry(tmp_path / "mine.parquet").rows()["key"]) == ["c"]


def test_a_damaged_registry_file_is_named_with_the_fix(tmp_path):
    bad = tmp_path / "r.parquet"
    bad.write_text("not parquet")
    with pytest.raises(ValueError, match=r"r\.parquet: not a results registry.*delete it"):
        Registry(bad).rows()
    with pytest.raises(ValueError, match="lack column"):
        Registry(tmp_path / "s.parquet").add(_rows(["a"]).drop(columns="truth"))


def _square(x):
    return x * x


def test_run_tasks_returns_results_in_task_order_on_processes():
    assert run_tasks(_square, list(range(7)), workers=2) == [x * x for x in range(7)]
    assert run_tasks(_square, [], workers=2) == []


# ------------------------------------------------------------------------- scenarios
def test_scenarios_change_what_they_say_and_nothing_else():
    from lib.data import synthetic

    assert list(SCENARIOS) == ["homogeneous", "cohort", "dynamic", "anticipation", "pretrend",
                               "selection", "mediator"]
    assert SCENARIOS["dynamic"].params == synthetic.SyntheticParams()      # the shipped panel's process
    flat, flat_truth = synthetic.simulate_city_panel(params=SCENARIOS["homogeneous"].params, seed=5)
    assert flat_truth.effects["tau"].std() < 1e-12                         # a constant effect
    med, med_truth = synthetic.simulate_city_panel(params=SCENARIOS["mediator"].params, seed=5)
    changed = [c for c in flat.columns if not flat[c].equals(med[c])]
    assert changed == ["Diginf"]                       # the confounder enters the mediator only
    assert med_truth.att == flat_truth.att
    pd.testing.assert_frame_equal(med_truth.indirect, flat_truth.indirect)
    # Diginf now moves with Inno's own shock: their within-city correlation rises
    def within_corr(p):
        d = p[["Diginf", "Inno"]] - p.groupby("city_id")[["Diginf", "Inno"]].transform("mean")
        return d.corr().iloc[0, 1]
    assert within_corr(med) > within_corr(flat) + 0.05
    for s in SCENARIOS.values():
        assert bool(s.breaks) == (s.name in {"anticipation", "pretrend", "selection", "mediator"})


# ------------------------------------------------------------------------- lab runs
def test_lab_computes_only_the_runs_the_registry_lacks(tmp_path):
    reg = Registry(tmp_path / "r.parquet")
    first = lab.run_lab(["homogeneous"], 2, registry=reg, **SMALL)
    assert (first.computed, first.requested) == (4, 4)
    again = lab.run_lab(["homogeneous"], 2, registry=reg, **SMALL)
    assert again.computed == 0
    pd.testing.assert_frame_equal(again.rows, first.rows)
    more = lab.run_lab(["homogeneous"], 3, registry=reg, **SMALL)
    assert (more.computed, len(more.rows)) == (2, 6)
    assert set(more.rows["estimator"]) == set(SMALL["estimators"])
    # the same draw feeds every estimator: one seed per replication
    assert more.rows.groupby("seed")["estimator"].nunique().eq(2).all()


def test_one_two_and_dask_workers_give_byte_identical_registries(tmp_path):
    from dask.distributed import Client

    from conftest import local_cluster

    paths = {w: tmp_path / f"w{w}.parquet" for w in ("one", "two", "dask")}
    lab.run_lab(["homogeneous", "pretrend"], 2, registry=Registry(paths["one"]), workers=1, **SMALL)
    lab.run_lab(["homogeneous", "pretrend"], 2, registry=Registry(paths["two"]), workers=2, **SMALL)
    with local_cluster() as cluster, Client(cluster) as client:
        lab.run_lab(["homogeneous", "pretrend"], 2, registry=Registry(paths["dask"]),
                    scheduler=client, **SMALL)
    one = paths["one"].read_bytes()
    assert paths["two"].read_bytes() == one
    assert paths["dask"].read_bytes() == one
    assert len(Registry(paths["one"]).rows()) == 8


def test_a_failing_estimator_is_a_row_with_its_error_not_a_gap(tmp_path, monkeypatch):
    def boom(panel, truth):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setitem(lab.ESTIMATORS, "Boom", lab.LabEstimator("Boom", boom, "nothing"))
    run = lab.run_lab(["homogeneous"], 2, estimators=["TWFE", "Boom"], registry=Registry(tmp_path / "r.parquet"))
    failed = run.rows[run.rows["estimator"] == "Boom"]
    assert len(failed) == 2 and failed["estimate"].isna().all()
    assert failed["error"].str.contains("LinAlgError: singular matrix").all()
    summary = lab.lab_summary(run.rows).set_index("estimator")
    assert summary.loc["Boom", "failed"] == 2 and summary.loc["Boom", "draws"] == 0
    assert summary.loc["TWFE", "failed"] == 0 and summary.loc["TWFE", "draws"] == 2
    assert "2 runs failed" in lab_sections.lab_values(lab.lab_summary(run.rows), reps=2)["lab_failed"]


def test_an_interrupted_run_keeps_its_finished_draws(tmp_path, monkeypatch):
    calls = []

    def interrupted_on_the_third_draw(panel, truth):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return lab.ESTIMATORS["TWFE"].run(panel, truth)

    monkeypatch.setitem(lab.ESTIMATORS, "Stop", lab.LabEstimator("Stop", interrupted_on_the_third_draw, "x"))
    reg = Registry(tmp_path / "r.parquet")
    with pytest.raises(KeyboardInterrupt):
        lab.run_lab(["homogeneous"], 5, estimators=["Stop"], registry=reg)
    assert len(reg.rows()) == 2
    calls.clear()
    calls.extend([1, 1, 1])   # no more interruptions: the re-run draws only what is missing
    assert lab.run_lab(["homogeneous"], 5, estimators=["Stop"], registry=reg).computed == 3


def test_unknown_scenario_or_estimator_is_rejected_by_name(tmp_path):
    with pytest.raises(ValueError, match="unknown scenario 'nope'.*homogeneous"):
        lab.run_lab(["nope"], 1, registry=tmp_path / "r.parquet")
    with pytest.raises(ValueError, match=r"unknown estimator\(s\) \['OLS'\]"):
        lab.run_lab(["homogeneous"], 1, estimators=["OLS"], registry=tmp_path / "r.parquet")
    with pytest.raises(ValueError, match="positive"):
        lab.run_lab(["homogeneous"], 0, registry=tmp_path / "r.parquet")


# ---------------------------------------------------------------------- known answers
def _within(row, k=3.0) -> bool:
    return abs(row["bias"]) <= k * row["bias_mcse"]


def _assert_shipped(rows: pd.DataFrame) -> None:
    """Freshly computed lab rows are the shipped registry's: no error, the same numbers (1e-6
    relative) and N."""
    fresh = rows.set_index("key")
    stored = Registry(lab.SHIPPED_REGISTRY).get(fresh.index).set_index("key").loc[fresh.index]
    assert (stored["error"] == "").all() and (fresh["error"] == "").all()
    for col in ("estimate", "std_error", "ci_low", "ci_high", "truth", "target", "pretest_p"):
        np.testing.assert_allclose(fresh[col].to_numpy(float), stored[col].to_numpy(float),
                                   rtol=1e-6, atol=1e-12, err_msg=col)
    assert (fresh["nobs"].to_numpy() == stored["nobs"].to_numpy()).all()


def test_known_answers_in_a_fresh_smaller_run(tmp_path):
    """TWFE alone, 80 fresh draws per scenario on two processes: every row is the shipped
    registry's (the same seeds), and the known answers hold on the fresh rows: unbiased under a
    constant effect, biased (downwards, 7 Monte-Carlo s.e. at 80 draws) under the shipped panel's
    heterogeneous, growing effects."""
    reps = 80
    run = lab.run_lab(["homogeneous", "dynamic"], reps, estimators=["TWFE"],
                      registry=Registry(tmp_path / "r.parquet"), workers=2)
    assert run.computed == 2 * reps
    _assert_shipped(run.rows)
    s = lab.lab_summary(run.rows).set_index("scenario")
    assert (s["draws"] == reps).all()
    assert _within(s.loc["homogeneous"]), s.loc["homogeneous"]
    assert s.loc["dynamic", "bias"] < -3 * s.loc["dynamic", "bias_mcse"], s.loc["dynamic"]
    # its bias is its weighting: the estimand gap (TWFE on the true effects) carries it
    assert s.loc["dynamic", "estimand_gap"] < 0
    assert abs(s.loc["dynamic", "bias"] - s.loc["dynamic", "estimand_gap"]) <= 3 * s.loc["dynamic", "bias_mcse"]


@pytest.fixture(scope="module")
def shipped_summary():
    reg = Registry(lab.SHIPPED_REGISTRY)
    tasks, wanted = lab.lab_tasks(list(SCENARIOS), 200, list(lab.ESTIMATORS), reg)
    assert not tasks, (f"the shipped registry lacks {sum(len(t.estimators) for t in tasks)} of the "
                       f"book's {len(wanted)} runs (did the library version change?); regenerate it: "
                       "python -m lib.run lab --reps 200 --registry data/derived/lab/registry.parquet")
    return lab.lab_summary(lab._annotate(reg.get(wanted))).set_index(["scenario", "estimator"])


def test_shipped_registry_known_answers(shipped_summary):
    s = shipped_summary
    assert (s["failed"] == 0).all() and (s["draws"] == 200).all()
    # a constant effect, parallel trends: the DID estimators and the indirect effect are unbiased
    for est in ("TWFE", "TWFE + controls", "Callaway-Sant'Anna", "Callaway-Sant'Anna + covariates",
                "Sun-Abraham", "Imputation (BJS)", "dCDH", "Stacked DID", "Indirect effect (Diginf)"):
        assert _within(s.loc[("homogeneous", est)]), est
    cs = s.loc[("homogeneous", "Callaway-Sant'Anna")]
    assert abs(cs["coverage"] - 0.95) <= 3 * np.sqrt(0.95 * 0.05 / 200), cs["coverage"]
    # heterogeneous dynamic effects: TWFE biased, the heterogeneity-robust estimators not
    assert s.loc[("dynamic", "TWFE"), "bias"] < -3 * s.loc[("dynamic", "TWFE"), "bias_mcse"]
    for est in ("Callaway-Sant'Anna", "Imputation (BJS)", "dCDH", "Stacked DID"):
        assert _within(s.loc[("dynamic", est)]), est
    # anticipation biases the estimators that compare with the year before adoption downwards
    for est in ("Callaway-Sant'Anna", "dCDH"):
        assert s.loc[("anticipation", est), "bias"] < -3 * s.loc[("anticipation", est), "bias_mcse"]
    # the confounded mediator biases the indirect effect upwards, and leaves the DID alone
    med = s.loc[("mediator", "Indirect effect (Diginf)")]
    assert med["bias"] > 3 * med["bias_mcse"]
    assert _within(s.loc[("mediator", "Callaway-Sant'Anna")])
    # the pre-test has power against the pre-trend
    assert s.loc[("pretrend", "TWFE"), "pretest_rejects"] > 0.5


@pytest.mark.parametrize("scenario", ["homogeneous", "mediator"])
def test_shipped_registry_reproduces_from_the_code(scenario):
    """Recompute one stored draw of each scenario, every estimator, and compare (1e-6 relative):
    a shipped registry that the code no longer produces fails here, on any machine."""
    rep = 0 if scenario == "homogeneous" else 137
    _assert_shipped(pd.DataFrame(lab.draw_rows(lab.LabTask(scenario, rep, tuple(lab.ESTIMATORS)))))


# ------------------------------------------------------------------- command and page
def test_the_lab_command_runs_reports_and_rejects(tmp_path, capsys, monkeypatch):
    from lib.book.run import EXIT_REJECTED, main

    monkeypatch.setattr(lab, "SHIPPED_REGISTRY", tmp_path / "none.parquet")   # compute, not read

    reg, out = tmp_path / "r.parquet", tmp_path / "s.csv"
    args = ["lab", "--scenario", "homogeneous", "--reps", "2", "--estimator", "TWFE", "--jobs", "1",
            "--registry", str(reg), "--summary", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "2 runs requested, 0 already in the registry; drawing 2 panels on 1 process" in printed
    assert "homogeneous" in printed and "computed 2 runs" in printed
    assert pd.read_csv(out)["draws"].tolist() == [2]
    assert main(args) == 0
    assert "2 already in the registry; drawing 0 panels" in capsys.readouterr().out
    for bad, message in ((["--reps", "0"], "--reps must be a positive integer"),
                         (["--scenario", "nope"], "invalid choice: 'nope'"),
                         (["--scheduler", "not an address"], "not a Dask scheduler address")):
        try:
            code = main(["lab", *bad, "--registry", str(reg)])
        except SystemExit as exit_:   # argparse's own rejections exit
            code = exit_.code
        assert code == EXIT_REJECTED, bad
        assert message in capsys.readouterr().err


def _summary(**bias):
    rows = []
    for est, (b, se) in bias.items():
        rows.append({"scenario": "dynamic", "estimator": est, "draws": 200, "failed": 0, "truth": 0.012,
                     "mean_estimate": 0.012 + b, "bias": b, "bias_mcse": se, "rmse": abs(b) + se,
                     "rmse_mcse": se, "coverage": 0.9, "coverage_mcse": 0.02,
                     "pretest_rejects": 0.06 if est == "TWFE" else np.nan, "pretest_mcse": 0.017,
                     "estimand_gap": np.nan})
    return pd.DataFrame(rows)


def test_scenario_sentences_follow_the_numbers():
    clean = lab_sections.scenario_values(_summary(TWFE=(0.0001, 0.0001), CS=(-0.0002, 0.0001)), "dynamic")
    assert clean["lab_dynamic_bias"].startswith("Over 200 draws every estimator's mean error is within 3")
    mixed = lab_sections.scenario_values(_summary(TWFE=(-0.0012, 0.0001), CS=(0.0001, 0.0001)), "dynamic")
    assert "biased (mean error more than 3 Monte-Carlo s.e. from zero): TWFE (-10.0 % of the truth, " \
           "12.0 MC s.e. from zero)" in mixed["lab_dynamic_bias"]
    assert "Within 3 MC s.e. of the truth: CS." in mixed["lab_dynamic_bias"]
    assert mixed["lab_dynamic_pretest"] == "The pre-tests reject parallel trends at 5 % in 6 % of draws (TWFE)."
    assert "runs from 90 %" in mixed["lab_dynamic_coverage"]
    assert lab_sections.scenario_values(_summary(TWFE=(0, 1)), "pretrend")["lab_pretrend_bias"] == \
        "This scenario was not run."


def test_metric_tables_show_value_and_mc_se_and_download_both():
    s = _summary(TWFE=(-0.0012, 0.0001), **{"Callaway-Sant'Anna": (0.0001, 0.0002)})
    bias = lab_sections.metric_table(s, "bias")
    assert bias.frame.loc["TWFE"].tolist() == ["-10.0 (0.8)"]
    assert list(bias.data.columns) == ["scenario", "estimator", "draws", "failed", "value", "value_mcse"]
    pre = lab_sections.metric_table(s, "pretest")
    assert pre.frame.loc["Callaway-Sant'Anna"].tolist() == ["—"]
    assert pre.frame.loc["TWFE"].tolist() == ["6.0 (1.7)"]
    assert any("no pre-test" in n for n in pre.notes)
