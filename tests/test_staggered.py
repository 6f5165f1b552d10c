"""Tests of lib.methods.staggered against hand-computed 2x2s, a TWFE reference and a known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.book import simulations
import staggered_oracle as oracle

from lib.methods import staggered as st
from lib.methods.did import twfe

KW = dict(yname="y", idname="unit", tname="time", gname="g")


def _panel(cohorts: dict, periods=range(1, 9), *, effect=None, noise=0.05, seed=0) -> pd.DataFrame:
    """Balanced panel: ``cohorts`` maps first treated period (None = never) -> number of units.

    y = unit effect + period effect + tau(g, e) + noise, with tau growing in event
    time and larger for earlier cohorts unless ``effect`` says otherwise.
    """
    rng = np.random.default_rng(seed)
    effect = effect or (lambda g, e: (0.5 + 0.1 * e) * (1 + (8 - g) / 4) if e >= 0 else 0.0)
    rows, uid = [], 0
    for g, n in cohorts.items():
        for _ in range(n):
            a = rng.normal()
            for t in periods:
                tau = effect(g, t - g) if g is not None else 0.0
                rows.append({"unit": uid, "time": t, "g": g if g is not None else np.nan,
                             "y": a + 0.3 * t + tau + noise * rng.normal(), "tau": tau})
            uid += 1
    df = pd.DataFrame(rows)
    df["D"] = (df["time"] >= df["g"]).astype(float)
    return df


def _twfe_coef(df: pd.DataFrame) -> float:
    return float(twfe(df, yname="y", dname="D", idname="unit", tname="time",
                      vcov={"CRV1": "unit"}).params["D"])


# ------------------------------------------------------------------ Goodman-Bacon
def test_bacon_weights_sum_to_one_and_reproduce_twfe():
    df = _panel({3: 4, 5: 6, 7: 5, None: 8})
    dec = st.bacon_decomposition(df, **KW)
    c = dec.components
    assert c["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert (c["weight"] * c["estimate"]).sum() == pytest.approx(_twfe_coef(df), abs=1e-10)
    assert dec.twfe == pytest.approx(_twfe_coef(df), abs=1e-10)
    # 3 cohorts vs never + 3 pairs x 2 directions
    assert c["type"].value_counts().to_dict() == {
        "Treated vs never treated": 3, "Earlier vs later treated (not yet treated)": 3,
        "Later vs earlier treated (already treated)": 3}
    assert dec.by_type()["contribution"].sum() == pytest.approx(dec.twfe, abs=1e-12)


def test_bacon_two_by_two_is_four_means_and_weight_formula():
    df = _panel({4: 3, None: 5}, periods=range(1, 7))
    dec = st.bacon_decomposition(df, **KW)
    assert len(dec.components) == 1
    m = df.assign(post=df["time"] >= 4, tr=df["g"].notna()).groupby(["tr", "post"])["y"].mean()
    did = (m[True, True] - m[True, False]) - (m[False, True] - m[False, False])
    assert dec.components["estimate"].iloc[0] == pytest.approx(did, abs=1e-12)
    assert dec.components["weight"].iloc[0] == pytest.approx(1.0, abs=1e-12)

    # closed form of Goodman-Bacon (2021) eq. 10a on a three-group panel
    df3 = _panel({3: 2, 6: 3, None: 5}, periods=range(1, 9))
    dec3 = st.bacon_decomposition(df3, **KW)
    D = df3.pivot(index="unit", columns="time", values="D").to_numpy()
    Dt = D - D.mean(1, keepdims=True) - D.mean(0, keepdims=True) + D.mean()
    vd = (Dt**2).mean()
    nk, nu, dbar = 2 / 10, 5 / 10, 6 / 8
    nku = nk / (nk + nu)
    s_ku = (nk + nu) ** 2 * nku * (1 - nku) * dbar * (1 - dbar) / vd
    row = dec3.components.query("treated == 3 and control == 'never'")
    assert row["weight"].iloc[0] == pytest.approx(s_ku, rel=1e-12)


def test_bacon_always_treated_and_errors():
    df = _panel({1: 3, 4: 4, None: 5}, periods=range(1, 7))
    dec = st.bacon_decomposition(df, **KW)
    # diff-diff pools the always treated with the never treated (Goodman-Bacon 2021, fn. 11);
    # the hand-written oracle keeps them as a fourth type: both decompose the same TWFE
    assert set(dec.components["type"]) == {"Treated vs never treated"}
    assert dec.spec["always_treated_pooled"] == 3
    by_hand, beta = oracle.bacon_by_hand(df, **KW)
    assert "Treated vs always treated" in set(by_hand["type"])
    for comp in (dec.components, by_hand):
        assert comp["weight"].sum() == pytest.approx(1.0, abs=1e-12)
        assert (comp["weight"] * comp["estimate"]).sum() == pytest.approx(_twfe_coef(df), abs=1e-10)
    with pytest.raises(ValueError, match="unbalanced"):
        st.bacon_decomposition(df.drop(index=[5]), **KW)
    bad = df.copy()
    bad.loc[0, "g"] = 5
    with pytest.raises(ValueError, match="'g'.*varies within 1 unit"):
        st.bacon_decomposition(bad, **KW)
    with pytest.raises(KeyError, match="nope"):
        st.bacon_decomposition(df, yname="nope", idname="unit", tname="time", gname="g")


def test_missing_outcome_drops_whole_unit_and_counts_it():
    df = _panel({4: 4, None: 5}, periods=range(1, 7))
    df.loc[df.index[2], "y"] = np.nan
    cs = st.callaway_santanna(df, **KW)
    assert cs.n_units == 8 and cs.n_dropped == 6
    assert cs.drop_reasons == {"y missing (whole unit dropped)": 6}


# ------------------------------------------------------------------ Callaway-Sant'Anna
def test_cs_two_by_two_equals_four_means_with_hand_se():
    df = _panel({2: 6, None: 9}, periods=[1, 2], noise=0.7, seed=3)
    dy = df.pivot(index="unit", columns="time", values="y").diff(axis=1)[2]
    treat = df.groupby("unit")["g"].first().notna()
    did = dy[treat].mean() - dy[~treat].mean()
    se = np.sqrt(dy[treat].var(ddof=0) / treat.sum() + dy[~treat].var(ddof=0) / (~treat).sum())
    for fit in (st.callaway_santanna, oracle.callaway_santanna_by_hand):  # diff-diff, then by hand
        cs = fit(df, **KW)
        assert len(cs.att_gt) == 1
        row = cs.att_gt.iloc[0]
        assert row["estimate"] == pytest.approx(did, abs=1e-12)
        assert row["std_error"] == pytest.approx(se, rel=1e-10)
        agg = cs.aggregate("simple")
        assert agg.overall["estimate"] == pytest.approx(did, abs=1e-12)
        assert agg.overall["std_error"] == pytest.approx(se, rel=1e-10)


def test_cs_not_yet_treated_control_set_by_hand():
    df = _panel({3: 3, 5: 4, 7: 2, None: 3}, periods=range(1, 9), noise=0.3)
    cs = st.callaway_santanna(df, control_group="not_yet_treated", **KW)
    Y = df.pivot(index="unit", columns="time", values="y")
    G = df.groupby("unit")["g"].first()
    # ATT(3, 4): base 2, controls = never or first treated after 4 (cohorts 5 and 7)
    dy = Y[4] - Y[2]
    ctrl = G.isna() | (G > 4)
    hand = dy[G == 3].mean() - dy[ctrl].mean()
    row = cs.att_gt.query("group == 3 and time == 4").iloc[0]
    assert row["estimate"] == pytest.approx(hand, abs=1e-12)
    assert row["n_control"] == ctrl.sum() == 9
    # ATT(5, 6): controls never + cohort 7 only
    row = cs.att_gt.query("group == 5 and time == 6").iloc[0]
    assert row["n_control"] == 5


def test_cs_recovers_known_truth_exactly_without_noise():
    df = _panel({3: 3, 5: 4, 7: 2, None: 3}, periods=range(1, 9), noise=0.0)
    truth = df.loc[df["D"] == 1, "tau"].mean()
    for cg in ("never_treated", "not_yet_treated"):
        cs = st.callaway_santanna(df, control_group=cg, **KW)
        post = cs.att_gt[cs.att_gt["post"]]
        tau = df.set_index(["g", "time"])["tau"].groupby(level=[0, 1]).first()
        assert np.allclose(post["estimate"], [tau[(g, t)] for g, t in zip(post["group"], post["time"])],
                           atol=1e-12)
        assert np.allclose(cs.att_gt.loc[~cs.att_gt["post"], "estimate"], 0, atol=1e-12)
        assert cs.aggregate("simple").overall["estimate"] == pytest.approx(truth, abs=1e-12)
        ev = cs.aggregate("event").estimates
        e_truth = df[df["D"] == 1].groupby(df["time"] - df["g"])["tau"].mean()
        assert np.allclose(ev.loc[e_truth.index, "estimate"], e_truth, atol=1e-12)
    # TWFE is biased here: effects grow with event time and differ by cohort
    assert abs(_twfe_coef(df) - truth) > 0.05


def test_cs_aggregations_and_seeded_uniform_band():
    df = _panel({3: 5, 5: 6, None: 10}, periods=range(1, 8), noise=0.4, seed=7)
    cs = st.callaway_santanna(df, **KW)
    a = cs.att_gt
    grp = cs.aggregate("group")
    for g in (3, 5):
        assert grp.estimates.loc[g, "estimate"] == pytest.approx(
            a.query("group == @g and post")["estimate"].mean(), abs=1e-12)
    assert grp.overall is None and cs.aggregate("simple").overall["std_error"] > 0
    ev = cs.aggregate("event", min_e=-2, max_e=3)
    assert list(ev.estimates.index) == [-2, -1, 0, 1, 2, 3] and ev.crit_value == pytest.approx(1.96, abs=1e-3)
    b1, b2 = (st.callaway_santanna(df, n_bootstrap=199, seed=11, **KW).aggregate("event") for _ in "ab")
    assert b1.crit_value == pytest.approx(b2.crit_value, rel=1e-12) and b1.crit_value > 1.96
    np.testing.assert_allclose(b1.estimates["std_error"], b2.estimates["std_error"], rtol=1e-12)
    assert (b1.estimates["cband_upper"] >= b1.estimates["ci_upper"]).all()
    assert (b1.estimates["cband_lower"] <= b1.estimates["ci_lower"]).all()
    with pytest.raises(ValueError, match="kind must be"):
        cs.aggregate("cohort")
    with pytest.raises(ValueError, match="control_group"):
        st.callaway_santanna(df, control_group="never", **KW)
    with pytest.raises(ValueError, match="n_bootstrap"):
        st.callaway_santanna(df, n_bootstrap=-1, **KW)


def test_cs_hand_oracle_uniform_band_is_seeded():
    df = _panel({3: 5, 5: 6, None: 10}, periods=range(1, 8), noise=0.4, seed=7)
    cs = oracle.callaway_santanna_by_hand(df, **KW)
    b1, b2 = (cs.aggregate("event", n_bootstrap=199, seed=11) for _ in "ab")
    assert b1.crit_value == pytest.approx(b2.crit_value, rel=1e-12) and b1.crit_value > 1.96
    grp = cs.aggregate("group")
    w = np.array([5, 6]) / 11
    assert grp.overall["estimate"] == pytest.approx(w @ grp.estimates["estimate"], abs=1e-12)


# ------------------------------------------------------------------ Sun-Abraham
def test_sun_abraham_equals_cs_universal_never_treated():
    df = _panel({3: 3, 5: 4, 7: 2, None: 5}, periods=range(1, 9), noise=0.3, seed=5)
    sa = st.sun_abraham(df, window=(-6, 5), **KW)
    cs = st.callaway_santanna(df, base_period="universal", **KW)
    m = sa.cohort_effects.merge(cs.att_gt, on=["group", "event_time"])
    assert len(m) == len(sa.cohort_effects) == len(cs.att_gt)
    assert np.allclose(m["estimate_x"], m["estimate_y"], atol=1e-10)
    ev = cs.aggregate("event").estimates
    common = [e for e in sa.estimates.index if e in ev.index]
    assert np.allclose(sa.estimates.loc[common, "estimate"], ev.loc[common, "estimate"], atol=1e-10)
    assert sa.att["estimate"] == pytest.approx(cs.aggregate("simple").overall["estimate"], abs=1e-10)


def test_sun_abraham_oracle_regression_matches_linearmodels_and_diff_diff_matches_it():
    from linearmodels.panel import PanelOLS

    df = _panel({3: 3, 6: 4, None: 5}, periods=range(1, 9), noise=0.3, seed=9)
    df["x"] = np.random.default_rng(1).normal(size=len(df))
    est, ce, att, params = oracle.sun_abraham_by_hand(df, controls=["x"], window=(-2, 2), **KW)
    X = pd.DataFrame(index=df.index)
    for name in params.index:
        if name == "x":
            X[name] = df["x"]
            continue
        g, e = (int(v) for v in name[1:].split("_e"))
        X[name] = ((df["g"] == g) & (df["time"] - df["g"] == e)).astype(float)
    mod = PanelOLS(df["y"].set_axis(pd.MultiIndex.from_frame(df[["unit", "time"]])),
                   X.set_axis(pd.MultiIndex.from_frame(df[["unit", "time"]])),
                   entity_effects=True, time_effects=True)
    ref = mod.fit()
    assert np.allclose(params, ref.params[params.index], atol=1e-10)
    sa = st.sun_abraham(df, controls=["x"], window=(-2, 2), **KW)  # diff-diff, the runtime engine
    np.testing.assert_allclose(sa.estimates[["estimate", "std_error"]], est[["estimate", "std_error"]],
                               atol=1e-10)
    np.testing.assert_allclose([sa.att["estimate"], sa.att["std_error"]],
                               [att["estimate"], att["std_error"]], atol=1e-10)
    m = sa.cohort_effects.merge(ce, on=["group", "event_time"])
    assert len(m) == len(ce) and (m["nobs_x"] == m["nobs_y"]).all()
    np.testing.assert_allclose(m[["estimate_x", "std_error_x"]], m[["estimate_y", "std_error_y"]],
                               atol=1e-10)
    assert sa.estimates.loc[-1, "estimate"] == 0.0 and sa.nobs == len(df)


# ------------------------------------------------------------------ maintained package
def test_backends_agree_with_diff_diff():
    pytest.importorskip("diff_diff")
    df = _panel({3: 3, 5: 4, 7: 2, None: 5}, periods=range(1, 9), noise=0.3, seed=2)
    by_hand, beta = oracle.bacon_by_hand(df, **KW)
    b = st.bacon_decomposition(df, **KW)
    m = by_hand.merge(b.components, on=["type", "treated", "control"])
    assert len(m) == len(by_hand) == len(b.components) and b.twfe == pytest.approx(beta, abs=1e-10)
    assert np.allclose(m["estimate_x"], m["estimate_y"], atol=1e-10)
    assert np.allclose(m["weight_x"], m["weight_y"], atol=1e-10)
    for cg in ("never_treated", "not_yet_treated"):
        for bp in ("varying", "universal"):
            x = oracle.callaway_santanna_by_hand(df, control_group=cg, base_period=bp, **KW)
            y = st.callaway_santanna(df, control_group=cg, base_period=bp, **KW)
            m = x.att_gt.merge(y.att_gt, on=["group", "time"])
            assert len(m) == len(x.att_gt) == len(y.att_gt)
            np.testing.assert_allclose(m[["estimate_x", "std_error_x"]], m[["estimate_y", "std_error_y"]],
                                       atol=1e-10)
            assert (m["n_control_x"] == m["n_control_y"]).all()
            assert (m["base_period_x"] == m["base_period_y"]).all()
            for kind in ("simple", "group", "event"):
                ex, ey = x.aggregate(kind).estimates, y.aggregate(kind).estimates
                common = ex.index.intersection(ey.index)
                assert len(common) == len(ex)
                np.testing.assert_allclose(ex.loc[common, ["estimate", "std_error"]],
                                           ey.loc[common, ["estimate", "std_error"]], atol=1e-10)
    est, _, _, _ = oracle.sun_abraham_by_hand(df, **KW)
    assert np.allclose(st.sun_abraham(df, **KW).estimates["estimate"], est["estimate"], atol=1e-10)


def test_plots_return_figures():
    import matplotlib

    matplotlib.use("Agg")
    df = _panel({3: 3, 5: 4, None: 5}, periods=range(1, 8), noise=0.3)
    dec = st.bacon_decomposition(df, **KW)
    cs = st.callaway_santanna(df, **KW)
    sa = st.sun_abraham(df, window=(-3, 3), **KW)
    for fig in (dec.plot(truth=1.0), cs.plot(), sa.plot(),
                st.event_time_plot({"SA": sa.estimates, "CS": cs.aggregate("event").estimates},
                                   truth=pd.Series([0.0, 1.0], index=[-1, 0]))):
        assert fig.axes and fig.axes[0].get_xlabel()


# ------------------------------------------------------------------ TWFE weights, targets, summary
def test_twfe_weights_sum_to_one_reproduce_twfe_and_turn_negative():
    df = _panel({3: 3, 5: 4, 7: 2, None: 5}, periods=range(1, 9), noise=0.0)
    w = st.twfe_weights(df, idname="unit", tname="time", gname="g", yname="tau")
    assert len(w) == int(df["D"].sum())
    assert w["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    # without noise or period shocks in tau, TWFE on tau is exactly sum w * tau
    target = _twfe_coef(df.assign(y=df["tau"]))
    assert (w["weight"] * w["tau"]).sum() == pytest.approx(target, abs=1e-12)
    # only staggered cohorts, no never treated: late event times get negative weight
    only = _panel({2: 3, 5: 3, 7: 3}, periods=range(1, 9))
    wo = st.twfe_weights(only, idname="unit", tname="time", gname="g")
    assert (wo["weight"] < 0).any() and wo["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    by = st.weights_by(wo, "event_time")
    assert by["twfe_weight"].sum() == pytest.approx(1.0) and by["att_weight"].sum() == pytest.approx(1.0)
    assert by.loc[by.index.max(), "twfe_weight"] < 0
    with pytest.raises(KeyError, match="cohort"):
        st.weights_by(wo, "cohort")


def test_with_true_effects_and_robust_summary_targets():
    df = _panel({3: 3, 5: 4, None: 5}, periods=range(1, 8), noise=0.2, seed=4)
    df = df.rename(columns={"unit": "city_id", "time": "year"})
    effects = df.loc[df["D"] == 1, ["city_id", "year", "tau"]]
    tf = st.with_true_effects(df, effects, idname="city_id", tname="year")
    np.testing.assert_allclose(tf["true_effect"], df["tau"], atol=0)
    df["x"] = np.random.default_rng(2).normal(size=len(df))
    s = st.robust_summary(df, yname="y", idname="city_id", tname="year", gname="g", dname="D",
                          controls=["x"], effects=effects)
    truth = df.loc[df["D"] == 1, "tau"].mean()
    assert list(s.index) == ["TWFE", "TWFE + controls", "Sun-Abraham",
                             "Callaway-Sant'Anna (never treated)", "Callaway-Sant'Anna (not yet treated)",
                             "Callaway-Sant'Anna + controls (doubly robust)"]
    assert np.allclose(s["truth"], truth)
    robust = s.index[2:]
    assert np.allclose(s.loc[robust, "target"], truth, atol=1e-12)
    assert s.loc["TWFE", "target"] < truth - 0.05  # growing effects: TWFE targets less than the ATT
    assert s.loc["TWFE", "estimate"] == pytest.approx(
        _twfe_coef(df.rename(columns={"city_id": "unit", "year": "time"})), abs=1e-12)


def test_simulation_study_is_seeded_and_consistent():
    a = simulations.simulation_study(2, seed=3)
    b = simulations.simulation_study(2, seed=3)
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    assert list(a.columns) == ["seed", "truth", "twfe_target", "TWFE", "CS never", "CS not yet"]
    assert (a["truth"] > 0).all() and (a["twfe_target"] < a["truth"]).all()
    with pytest.raises(ValueError, match="reps"):
        simulations.simulation_study(0, seed=1)


def test_simulation_study_counts_failed_draws(monkeypatch):
    from lib.data import synthetic

    real = synthetic.simulate_city_panel
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("rows of `employment` are negative")
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic, "simulate_city_panel", flaky)
    with pytest.raises(RuntimeError, match="failed on 1 of 2 draws"):
        simulations.simulation_study(2, seed=3)
    calls["n"] = 0
    sim = simulations.simulation_study(2, seed=3, max_failed_share=0.5)
    assert len(sim) == 1 and len(sim.attrs["failed"]) == 1
    assert sim.attrs["failed"][0][1] == "rows of `employment` are negative"


def _covariate_panel(seed=0, n=240, years=range(2010, 2018)):
    """Trends that depend on a covariate, and adoption that depends on it too: without the
    covariate CS is biased, with it (any of the three methods) it is not."""
    rng = np.random.default_rng(seed)
    years = np.asarray(list(years))
    x = rng.normal(size=n)
    p = 1 / (1 + np.exp(-(x - 0.2)))
    cohort = np.where(rng.uniform(size=n) < p, rng.choice([2013, 2015], size=n), np.nan)
    d = pd.DataFrame({"unit": np.repeat(np.arange(n), len(years)), "year": np.tile(years, n)})
    d["g"] = cohort[d["unit"]]
    d["x"] = x[d["unit"]] + 0.1 * rng.normal(size=len(d))
    treated = (d["year"] >= d["g"]).astype(float)
    d["y"] = (rng.normal(size=n)[d["unit"]] + 0.2 * (d["year"] - 2010) + 0.3 * x[d["unit"]] * (d["year"] - 2010)
              + 1.0 * treated + rng.normal(scale=0.3, size=len(d)))
    return d


@pytest.mark.parametrize("method", ["reg", "ipw", "dr"])
def test_callaway_santanna_with_covariates_equals_the_cell_by_cell_oracle(method):
    d = _covariate_panel()
    res = st.callaway_santanna(d, yname="y", idname="unit", tname="year", gname="g",
                                      controls=["x"], estimation_method=method)
    ours = res.att_gt[res.att_gt["post"]].set_index(["group", "time"])["estimate"]
    ref = oracle.cs_covariate_cells_by_hand(d, yname="y", idname="unit", tname="year", gname="g",
                                     controls=["x"], method=method).set_index(["group", "time"])["estimate"]
    np.testing.assert_allclose(ours.loc[ref.index].to_numpy(), ref.to_numpy(), rtol=1e-6, atol=1e-8)
    assert res.spec["controls"] == ("x",) and res.spec["estimation_method"] == method
    if method == "dr":
        # R's DRDID normalises the control weights by their sum, diff-diff by the treated count:
        # on ~100 units per cell the two differ in the third decimal (METHODS.md says so)
        r_form = oracle.cs_covariate_cells_by_hand(d, yname="y", idname="unit", tname="year", gname="g",
                                                   controls=["x"], method="dr_r").set_index(["group", "time"])
        gap = np.abs(ours.loc[r_form.index].to_numpy() - r_form["estimate"].to_numpy())
        assert 0 < gap.max() < 5e-3


def test_covariates_remove_the_bias_that_selection_on_them_creates():
    """Over seeds: without x the simple ATT is far from the true 1.0; with x (dr) within 3 s.e."""
    for seed in range(3):
        d = _covariate_panel(seed=seed)
        plain = st.callaway_santanna(d, yname="y", idname="unit", tname="year", gname="g"
                                            ).aggregate("simple").overall
        dr = st.callaway_santanna(d, yname="y", idname="unit", tname="year", gname="g",
                                         controls=["x"], estimation_method="dr").aggregate("simple").overall
        assert abs(dr["estimate"] - 1.0) < 3 * dr["std_error"]
        assert abs(plain["estimate"] - 1.0) > 3 * plain["std_error"]


def test_callaway_santanna_anticipation_and_missing_covariates():
    d = _covariate_panel(seed=4)
    d.loc[d.index[5], "x"] = np.nan
    res = st.callaway_santanna(d, yname="y", idname="unit", tname="year", gname="g",
                                      controls=["x"], anticipation=1)
    assert res.drop_reasons["a control missing (whole unit dropped)"] == 8
    first = res.att_gt.sort_values(["group", "time"]).query("post").groupby("group").first()
    # with one period of anticipation the first "post" cell of each cohort is g - 1, based at g - 2
    assert all(first["time"] == first.index - 1) and all(first["base_period"] == first.index - 2)
    with pytest.raises(ValueError, match="estimation_method"):
        st.callaway_santanna(d, yname="y", idname="unit", tname="year", gname="g", estimation_method="ols")


def _dynamic_panel(seed=0, n=150, years=range(2010, 2020), cohorts=(2013, 2015, 2017), never=0.4):
    """Effects that differ by cohort and grow with time since adoption (TWFE's worst case)."""
    rng = np.random.default_rng(seed)
    years = np.asarray(list(years))
    g = np.where(rng.uniform(size=n) < never, np.nan, rng.choice(cohorts, size=n))
    d = pd.DataFrame({"unit": np.repeat(np.arange(n), len(years)), "year": np.tile(years, n)})
    d["g"] = g[d["unit"]]
    e = d["year"] - d["g"]
    d["D"] = (e >= 0).astype(int)
    d["tau"] = np.where(e >= 0, 1.0 + 0.3 * e.fillna(0) + 0.1 * (2017 - d["g"].fillna(2017)), 0.0)
    d["y"] = rng.normal(size=n)[d["unit"]] + 0.1 * (d["year"] - 2010) + d["tau"] + rng.normal(scale=0.5, size=len(d))
    return d


def test_imputation_equals_the_imputation_by_hand():
    """Unit and year effects fitted on the untreated rows (least squares with dummies), the
    treated rows' untreated outcome imputed from them: the ATT and each post event time."""
    d = _dynamic_panel()
    res = st.imputation(d, yname="y", idname="unit", tname="year", gname="g")
    untreated = d["D"] == 0
    X = np.column_stack([pd.get_dummies(d["unit"], dtype=float), pd.get_dummies(d["year"], drop_first=True, dtype=float)])
    coef = np.linalg.lstsq(X[untreated.to_numpy()], d.loc[untreated, "y"], rcond=None)[0]
    tau = (d["y"] - X @ coef)[~untreated]
    assert res.overall["estimate"] == pytest.approx(tau.mean(), abs=1e-8)
    by_e = tau.groupby((d["year"] - d["g"])[~untreated]).mean()
    for e, v in by_e.items():
        assert res.estimates.loc[int(e), "estimate"] == pytest.approx(v, abs=1e-8), e
    # the truth over the same rows is recovered within 3 s.e. (heterogeneous, dynamic effects)
    assert abs(res.overall["estimate"] - d.loc[~untreated, "tau"].mean()) < 3 * res.overall["std_error"]


def test_dcdh_on_impact_is_callaway_santanna_not_yet_treated_at_e0():
    """For an absorbing, staggered treatment DID_1 compares each cohort's change into its first
    treated period with the not-yet-treated units' change, weighted by cohort size: the
    Callaway-Sant'Anna event-time-0 effect with not-yet-treated controls."""
    d = _dynamic_panel(seed=1)
    dc = st.dcdh(d, yname="y", idname="unit", tname="year", dname="D", horizons=2)
    cs = st.callaway_santanna(d, yname="y", idname="unit", tname="year", gname="g",
                              control_group="not_yet_treated").aggregate("event")
    assert dc.estimates.loc[0, "estimate"] == pytest.approx(cs.estimates.loc[0, "estimate"], abs=1e-8)
    assert set(dc.estimates.index) == {-3, -2, -1, 0, 1}     # two placebos, the reference, two effects
    assert dc.estimates.loc[-1, "estimate"] == 0 and np.isnan(dc.estimates.loc[-1, "std_error"])


def test_stacked_with_one_cohort_is_the_event_study_on_its_window():
    d = _dynamic_panel(seed=2, cohorts=(2015,))
    sk = st.stacked(d, yname="y", idname="unit", tname="year", gname="g", kappa_pre=3, kappa_post=3)
    window = d[(d["year"] >= 2012) & (d["year"] <= 2018)]
    es = twfe_event_study(window)
    post_pre = [e for e in sk.estimates.index if e != -1]
    np.testing.assert_allclose(sk.estimates.loc[post_pre, "estimate"], es.loc[post_pre, "estimate"], atol=1e-8)
    assert sk.extra["n_sub_experiments"] == 1


def twfe_event_study(frame):
    from lib.methods.did import event_study

    return event_study(frame, yname="y", idname="unit", tname="year", gname="g", window=(-3, 3), ref=-1,
                       bin_endpoints=False, vcov={"CRV1": "unit"}, band_draws=100).estimates


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_robust_estimators_recover_heterogeneous_dynamic_effects(seed):
    """On panels whose effects differ by cohort and grow with time, CS, imputation and dCDH land
    within 3 s.e. of what they target, and what they target is the truth: each run on the true
    effects alone gives the true ATT of its own averaging. TWFE's target is not the ATT."""
    d = _dynamic_panel(seed=seed)
    tau = d.assign(y=d["tau"])
    kw = dict(yname="y", idname="unit", tname="year")
    treated_mean = d.loc[d["D"] == 1, "tau"].mean()
    imp, imp_t = (st.imputation(f, gname="g", **kw) for f in (d, tau))
    assert imp_t.overall["estimate"] == pytest.approx(treated_mean, abs=1e-10)
    assert abs(imp.overall["estimate"] - treated_mean) < 3 * imp.overall["std_error"]
    cs, cs_t = (st.callaway_santanna(f, gname="g", **kw).aggregate("simple").overall for f in (d, tau))
    post = d[(d["D"] == 1)]
    shares = post.groupby("g")["unit"].nunique()
    cell_means = post.groupby(["g", "year"])["tau"].mean()
    w = shares.reindex(cell_means.index.get_level_values("g")).to_numpy()
    assert cs_t["estimate"] == pytest.approx(float((cell_means * w).sum() / w.sum()), abs=1e-10)
    assert abs(cs["estimate"] - cs_t["estimate"]) < 3 * cs["std_error"]
    dc, dc_t = (st.dcdh(f, dname="D", horizons=3, **kw) for f in (d, tau))
    for e in (0, 1, 2):
        true_e = post.loc[post["year"] - post["g"] == e].groupby("g")["tau"].mean()
        n_e = post.loc[post["year"] - post["g"] == e].groupby("g")["unit"].nunique()
        assert dc_t.estimates.loc[e, "estimate"] == pytest.approx(float((true_e * n_e).sum() / n_e.sum()), abs=1e-10)
        assert abs(dc.estimates.loc[e, "estimate"] - dc_t.estimates.loc[e, "estimate"]) < 3 * dc.estimates.loc[e, "std_error"]
    twfe_target = _twfe_coef(tau.rename(columns={"year": "time"}))
    assert twfe_target < treated_mean - 0.1     # TWFE misses: its weights favour short exposures


def test_callaway_santanna_pretest_and_balanced_event_window():
    d = _dynamic_panel(seed=6)
    cs = st.callaway_santanna(d, yname="y", idname="unit", tname="year", gname="g", base_period="universal")
    pt = cs.pretest()
    ev = cs.aggregate("event")
    leads = ev.estimates.loc[[e for e in pt["event_times"]]]
    # the Wald statistic by hand from diff-diff's covariance of the event-time effects
    es = cs.fit.aggregate("event_study")
    pos = [list(es.vcov_index).index(e) for e in pt["event_times"]]
    V = np.asarray(es.vcov)[np.ix_(pos, pos)]
    b = leads["estimate"].to_numpy()
    assert pt["statistic"] == pytest.approx(float(b @ np.linalg.solve(V, b)), rel=1e-10)
    assert pt["df"] == len(pt["event_times"]) and -1 not in pt["event_times"] and 0.001 < pt["p"] <= 1
    # a balanced window at e = 4 keeps the cohorts observed four years after adoption (2013 and
    # 2015 of 2010-2019; not 2017): e = 0 is their size-weighted mean only
    bal = cs.aggregate("event", balance_e=4).estimates
    cells = cs.att_gt[(cs.att_gt["event_time"] == 0) & cs.att_gt["group"].isin([2013, 2015])]
    by_hand = float((cells["estimate"] * cells["n_treated"]).sum() / cells["n_treated"].sum())
    assert bal.loc[0, "estimate"] == pytest.approx(by_hand, rel=1e-10)
    assert ev.estimates.loc[0, "estimate"] != pytest.approx(by_hand, rel=1e-6)
    assert cs.aggregate("event", balance_e=4).spec["balance_e"] == 4


# ------------------------------------------------------------------ CS: calendar, cell pre-test, small cohorts
def test_cs_combine_reproduces_diff_diff_aggregations():
    """The book's combination of cells with cohort-share weights and their estimation term, on
    diff-diff's own influence functions, is diff-diff's event and simple aggregation: the routine
    the calendar aggregation (which diff-diff lacks) is built on."""
    d = _dynamic_panel(seed=6)
    for cg in ("never_treated", "not_yet_treated"):
        cs = st.callaway_santanna(d, yname="y", idname="unit", tname="year", gname="g", control_group=cg)
        a = cs.att_gt
        ev = cs.aggregate("event").estimates
        for e, r in ev.iterrows():
            est, inf = cs.combine((a["event_time"] == e).to_numpy())
            assert est == pytest.approx(r["estimate"], abs=1e-12)
            assert np.sqrt((inf**2).sum()) == pytest.approx(r["std_error"], abs=1e-12)
        est, inf = cs.combine(a["post"].to_numpy())
        assert np.sqrt((inf**2).sum()) == pytest.approx(cs.aggregate("simple").overall["std_error"], abs=1e-12)


def test_cs_calendar_aggregation_equals_the_hand_oracle():
    """R ``aggte(type = "calendar")``: in year t the cohort-size-weighted mean of the ATT(g,t) of
    cohorts treated by t; overall, the mean over years. Point estimates and s.e. (with the
    estimated-weights term) against the oracle's own influence functions."""
    d = _dynamic_panel(seed=6)
    for cg in ("never_treated", "not_yet_treated"):
        kw = dict(yname="y", idname="unit", tname="year", gname="g", control_group=cg)
        cal = st.callaway_santanna(d, **kw).aggregate("calendar")
        hand = oracle.callaway_santanna_by_hand(d, **kw).aggregate("calendar")
        assert list(cal.estimates.index) == list(hand.estimates.index) == list(range(2013, 2020))
        np.testing.assert_allclose(cal.estimates["estimate"], hand.estimates["estimate"], atol=1e-10)
        np.testing.assert_allclose(cal.estimates["std_error"], hand.estimates["std_error"], rtol=1e-8)
        assert cal.overall["estimate"] == pytest.approx(hand.overall["estimate"], abs=1e-10)
        assert cal.overall["std_error"] == pytest.approx(hand.overall["std_error"], rel=1e-8)
    # 2014: only the 2013 cohort is treated, so the calendar effect is its ATT(2013, 2014)
    cs = st.callaway_santanna(d, yname="y", idname="unit", tname="year", gname="g")
    cell = cs.att_gt.query("group == 2013 and time == 2014")["estimate"].iloc[0]
    assert cs.aggregate("calendar").estimates.loc[2014, "estimate"] == pytest.approx(cell, abs=1e-12)
    b1, b2 = (st.callaway_santanna(d, yname="y", idname="unit", tname="year", gname="g",
                                   n_bootstrap=199, seed=3).aggregate("calendar") for _ in "ab")
    assert b1.crit_value == b2.crit_value and 1.96 < b1.crit_value < 4
    assert (b1.estimates["cband_upper"] > b1.estimates["ci_upper"]).all()


def test_cs_cell_pretest_is_r_did_wald_and_leaves_out_single_unit_cohorts():
    df = _panel({3: 1, 5: 6, 6: 5, None: 10}, periods=range(1, 9), noise=0.4, seed=8)
    cs = st.callaway_santanna(df, **KW)
    assert cs.single_unit_cohorts == [3]
    a = cs.att_gt
    assert a.loc[a["group"] == 3, "one_treated_unit"].all() and not a.loc[a["group"] != 3, "one_treated_unit"].any()
    pt = cs.pretest_cells()
    keep = (~a["post"] & (a["group"] != 3)).to_numpy()
    assert pt["n_cells"] == keep.sum() == pt["df"] and pt["left_out"] == [(3, 2)]
    hand = oracle.callaway_santanna_by_hand(df, **KW)
    h = hand.att_gt
    cells = (~h["post"] & (h["group"] != 3)).to_numpy()
    w, q = hand.pretest(cells)
    assert pt["statistic"] == pytest.approx(w, rel=1e-8) and q == pt["df"]
    assert cs.aggregate("group").estimates.loc[3, "n_treated"] == 1
    # calendar years 3 and 4: only the one-unit cohort is treated, so no s.e., no interval
    cal = cs.aggregate("calendar").estimates
    assert cal.loc[[3, 4], "std_error"].isna().all() and (cal.loc[[3, 4], "n_treated"] == 1).all()
    assert cal.loc[5:, "std_error"].notna().all() and cal.loc[5, "n_treated"] == 7
    # the single treated unit's cell s.e. is the control group's only, hence small
    post3 = a.query("group == 3 and post")["std_error"]
    assert post3.max() < a.query("group == 5 and post")["std_error"].min()


def test_uniform_bands_cover_the_true_paths_at_the_nominal_rate():
    """Over 150 generator draws the sup-t bands of the event-time and the calendar aggregations
    cover the whole true path in about 95 % of draws (3 Monte-Carlo s.e.), while the pointwise
    intervals cover it much less often."""
    S = 150
    band_e, band_t, point_e = [], [], []
    for s in range(S):
        d = _dynamic_panel(seed=100 + s, n=120)
        kw = dict(yname="y", idname="unit", tname="year", gname="g")
        cs = st.callaway_santanna(d, n_bootstrap=499, seed=s, **kw)
        truth = st.callaway_santanna(d.assign(y=d["tau"]), **kw)   # no noise: the true paths
        for kind, band, point in (("event", band_e, point_e), ("calendar", band_t, None)):
            est = cs.aggregate(kind).estimates
            tr = truth.aggregate(kind).estimates["estimate"]
            ok = est["std_error"] > 0
            band.append(bool(((est["cband_lower"] <= tr) & (tr <= est["cband_upper"]))[ok].all()))
            if point is not None:
                point.append(bool(((est["ci_lower"] <= tr) & (tr <= est["ci_upper"]))[ok].all()))
    mc = 3 * np.sqrt(0.95 * 0.05 / S)
    assert abs(np.mean(band_e) - 0.95) < mc and abs(np.mean(band_t) - 0.95) < mc
    assert np.mean(point_e) < 0.75
