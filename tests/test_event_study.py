"""Tests of lib.methods.did.event_study (the paper's Fig. 1, section 4.2).

References and tolerances:

* pyfixest ``feols`` with the same relative-time dummies, city and year
  effects and ``ssc(k_fixef="nonnested", G_df="conventional")``: estimates and
  CRV1 s.e. to 1e-8 (the convention of ``lib.methods.did.twfe``);
* the pre-trend F statistic recomputed by hand from the estimates and the
  covariance; linearmodels ``PanelOLS`` estimates to 1e-8;
* the sup-t critical value against the closed form for independent
  coefficients, ``(2 Phi(c) - 1)^k = level``;
* known-truth recovery on a simulated panel with homogeneous dynamic effects,
  and a rejected pre-trend test when a differential pre-trend is built in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lib.data import synthetic
from lib.methods import did
from lib.data import load_panel

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

DYN = {0: 1.0, 1: 1.5, 2: 2.0, 3: 2.5}  # true effect by event time (3 = 3 and later)


def make_panel(seed=0, n_units=120, years=range(2008, 2020), *, pretrend=0.0, noise=0.5,
               missing=False):
    """Staggered panel, never-treated comparison, homogeneous dynamic effects ``DYN``."""
    rng = np.random.default_rng(seed)
    years = np.asarray(list(years))
    cohorts = rng.choice([2012, 2014, 2015, 2017, np.nan], n_units, p=[.15, .15, .15, .15, .4])
    df = pd.DataFrame({"city_id": np.repeat(np.arange(n_units), years.size),
                       "year": np.tile(years, n_units)})
    g = cohorts[df["city_id"]]
    e = df["year"] - g
    df["adoption_year"] = g
    df["x1"] = rng.normal(size=len(df)) + 0.1 * (df["year"] - 2008)
    tau = np.where(e >= 0, np.vectorize(lambda v: DYN[min(int(v), 3)] if v >= 0 else 0.0)(
        np.nan_to_num(e, nan=-1)), 0.0)
    lead = np.where(np.isfinite(g) & (e < 0), pretrend * (e + 1), 0.0)  # 0 at e = -1
    df["y"] = (rng.normal(size=n_units)[df["city_id"]] + 0.3 * (df["year"] - 2008)
               + 0.5 * df["x1"] + tau + lead + rng.normal(scale=noise, size=len(df)))
    df["tau"] = tau
    if missing:
        df.loc[[5, 50, 300], "x1"] = np.nan
    return df


@pytest.fixture(scope="module")
def df():
    return make_panel(1, missing=True)


def _dummies(df, window=(-5, 5), ref=-1, binned=True):
    e = df["year"] - df["adoption_year"]
    if binned:
        e = e.clip(*window)
    out = df.copy()
    names = []
    for k in range(window[0], window[1] + 1):
        if k == ref:
            continue
        name = f"d_{'m' if k < 0 else 'p'}{abs(k)}"
        out[name] = (e == k).astype(float)
        names.append(name)
    return out, names


def test_weighted_event_study_equals_pyfixest(df):
    """Analytic weights (e.g. population weights of a state panel): weighted least squares."""
    import pyfixest as pf

    d = df.assign(w=np.random.default_rng(2).uniform(0.5, 4.0, len(df)))
    es = did.event_study(d, yname="y", controls=["x1"], vcov={"CRV1": "city_id"}, idname="city_id",
                         tname="year", gname="adoption_year", weights="w", band_draws=1000)
    dd, names = _dummies(d)
    ref = pf.feols(f"y ~ {' + '.join(names)} + x1 | city_id + year", dd.dropna(subset=["x1"]),
                   vcov={"CRV1": "city_id"}, weights="w", fixef_tol=1e-12,
                   ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="conventional"))
    est = es.estimates.drop(index=-1)
    np.testing.assert_allclose(est["estimate"], ref.coef()[names].to_numpy(), atol=1e-8)
    np.testing.assert_allclose(est["std_error"], ref.se()[names].to_numpy(), rtol=1e-8)
    unweighted = did.event_study(d, yname="y", controls=["x1"], vcov={"CRV1": "city_id"},
                                 idname="city_id", tname="year", gname="adoption_year", band_draws=1000)
    assert not np.allclose(unweighted.estimates["estimate"], es.estimates["estimate"])
    with pytest.raises(ValueError, match="weights 'w' must be positive"):
        did.event_study(d.assign(w=d["w"].where(d.index != 7, 0.0)), yname="y", vcov="iid",
                        idname="city_id", tname="year", gname="adoption_year", weights="w")


def test_equals_pyfixest_with_hand_made_dummies(df):
    import pyfixest as pf

    es = did.event_study(df, yname="y", controls=["x1"],
                         vcov={"CRV1": "city_id"}, idname="city_id", tname="year", gname="adoption_year")
    d, names = _dummies(df)
    ref = pf.feols(f"y ~ {' + '.join(names)} + x1 | city_id + year", d.dropna(subset=["x1"]),
                   vcov={"CRV1": "city_id"},
                   ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="conventional"))
    est = es.estimates.drop(index=-1)
    np.testing.assert_allclose(est["estimate"], ref.coef()[names].to_numpy(), atol=1e-8)
    np.testing.assert_allclose(est["std_error"], ref.se()[names].to_numpy(), rtol=1e-8)
    assert es.nobs == ref._N == len(df) - 3
    assert es.regression.n_dropped == 3 and es.regression.drop_reasons == {"x1": 3}
    assert es.estimates.loc[-1, "estimate"] == 0.0 and np.isnan(es.estimates.loc[-1, "std_error"])


def test_equals_linearmodels_and_trimmed_window(df):
    from linearmodels import PanelOLS

    es = did.event_study(df, yname="y", window=(-3, 3), bin_endpoints=False,
                         vcov={"CRV1": "city_id"}, idname="city_id", tname="year", gname="adoption_year")
    d, names = _dummies(df, window=(-3, 3), binned=False)
    e = df["year"] - df["adoption_year"]
    keep = ~(e.notna() & ((e < -3) | (e > 3)))
    d = d.loc[keep].set_index(["city_id", "year"])
    ref = PanelOLS(d["y"], d[names], entity_effects=True, time_effects=True).fit()
    np.testing.assert_allclose(es.estimates.drop(index=-1)["estimate"], ref.params[names],
                               atol=1e-8)
    n_out = int((~keep).sum())
    assert es.regression.drop_reasons["treated rows outside window (-3, 3)"] == n_out
    assert es.nobs == len(df) - n_out
    assert not es.estimates["binned"].any()


def test_binned_endpoints_count_all_rows_beyond(df):
    es = did.event_study(df, yname="y",
                         vcov={"CRV1": "city_id"}, idname="city_id", tname="year", gname="adoption_year")
    e = df["year"] - df["adoption_year"]
    assert es.estimates.loc[-5, "n_treated"] == int((e <= -5).sum())
    assert es.estimates.loc[5, "n_treated"] == int((e >= 5).sum())
    assert es.estimates.loc[0, "n_treated"] == int((e == 0).sum())
    assert es.estimates.loc[[-5, 5], "binned"].all()


def test_pretrend_wald_by_hand(df):
    es = did.event_study(df, yname="y", controls=["x1"],
                         vcov={"CRV1": "city_id"}, idname="city_id", tname="year", gname="adoption_year")
    pre = ["e-5", "e-4", "e-3", "e-2"]
    b = es.regression.params[pre].to_numpy()
    V = es.regression.cov.loc[pre, pre].to_numpy()
    W = b @ np.linalg.inv(V) @ b
    pt = es.pretrend_test
    assert pt["terms"] == pre
    G = df["city_id"].nunique()
    assert pt["df"] == (4, G - 1)
    np.testing.assert_allclose(pt["statistic"], W / 4, rtol=1e-10)
    np.testing.assert_allclose(pt["p"], stats.f.sf(W / 4, 4, G - 1), rtol=1e-10)
    np.testing.assert_allclose(pt["p_chi2"], stats.chi2.sf(W, 4), rtol=1e-10)


def test_sup_t_critical_value_closed_form():
    k, level = 6, 0.95
    c = did._sup_t_critical(np.eye(k), level, None, 400_000, seed=3)
    exact = stats.norm.ppf((1 + level ** (1 / k)) / 2)
    assert abs(c - exact) < 0.01
    # perfectly correlated coefficients: the band is the pointwise interval
    c1 = did._sup_t_critical(np.ones((k, k)), level, None, 200_000, seed=3)
    assert abs(c1 - stats.norm.ppf(0.975)) < 0.01


def test_band_wider_than_pointwise_and_deterministic(df):
    a = did.event_study(df, yname="y",
                        vcov={"CRV1": "city_id"}, band_draws=20_000, seed=7, idname="city_id", tname="year", gname="adoption_year")
    b = did.event_study(df, yname="y",
                        vcov={"CRV1": "city_id"}, band_draws=20_000, seed=7, idname="city_id", tname="year", gname="adoption_year")
    assert a.sup_t_critical == b.sup_t_critical
    assert a.sup_t_critical > a.pointwise_critical
    est = a.estimates.drop(index=-1)
    assert (est["band_upper"] > est["ci_upper"]).all() and (est["band_lower"] < est["ci_lower"]).all()
    np.testing.assert_allclose(est["ci_upper"] - est["estimate"],
                               a.pointwise_critical * est["std_error"], rtol=1e-12)


def test_recovers_known_dynamic_effects_and_pretrend_passes():
    df = make_panel(11, n_units=400, noise=0.3)
    es = did.event_study(df, yname="y", controls=["x1"],
                         vcov={"CRV1": "city_id"}, idname="city_id", tname="year", gname="adoption_year")
    truth = pd.Series({e: (DYN[min(e, 3)] if e >= 0 else 0.0) for e in range(-5, 6)})
    err = (es.estimates["estimate"] - truth).drop(index=-1)
    assert (err.abs() < 4 * es.estimates["std_error"].drop(index=-1)).all()
    assert err.abs().max() < 0.1
    assert es.pretrend_test["p"] > 0.01


def test_pretrend_violation_is_detected():
    df = make_panel(11, n_units=400, noise=0.3, pretrend=0.15)
    es = did.event_study(df, yname="y", controls=["x1"],
                         vcov={"CRV1": "city_id"}, idname="city_id", tname="year", gname="adoption_year")
    assert es.pretrend_test["p"] < 1e-6
    np.testing.assert_allclose(es.estimates.loc[-3, "estimate"], -0.3, atol=0.1)


def test_true_effects_equal_the_generators_event_time_truth():
    truth = synthetic.default_truth()
    panel = load_panel().data
    es = did.event_study(panel,
                         yname="Inno", vcov={"CRV1": "city_id"}, band_draws=2_000, idname="city_id", tname="year", gname="adoption_year")
    te = es.true_effects(truth)
    inner = list(range(-4, 5))
    np.testing.assert_allclose(te.loc[inner], truth.att_by_event_time.loc[inner], atol=1e-12)
    assert te.loc[-1] == 0.0
    assert es.true_effects(None).isna().all()


def test_true_effects_include_the_pretrend_deviation():
    from lib.data.facts import sample_frame

    params = synthetic.SyntheticParams(pretrend=0.001)
    panel, truth = synthetic.simulate_city_panel(sample_frame(), params, seed=5)
    es = did.event_study(panel,
                         yname="Inno", vcov={"CRV1": "city_id"}, band_draws=2_000, idname="city_id", tname="year", gname="adoption_year")
    te = es.true_effects(truth)
    np.testing.assert_allclose(te.loc[[-4, -3, -2]], truth.att_by_event_time.loc[[-4, -3, -2]],
                               atol=1e-12)
    np.testing.assert_allclose(te.loc[-2], -0.001, atol=1e-12)


def test_outputs(df):
    import matplotlib

    matplotlib.use("Agg")
    es = did.event_study(df, yname="y",
                         vcov={"CRV1": "city_id"}, band_draws=2_000, idname="city_id", tname="year", gname="adoption_year")
    tidy = es.tidy()
    assert list(tidy["event_time"]) == list(range(-5, 6)) and (tidy["nobs"] == es.nobs).all()
    tab = es.table(truth=pd.Series(0.0, index=range(-5, 6)))
    assert "truth" in tab.data.columns and "F =" in " ".join(tab.notes)
    overlay = es.estimates[["estimate", "ci_lower", "ci_upper"]] + 0.01
    fig = es.plot(truth=es.estimates["estimate"] * 0, overlay=overlay)
    legend = fig.axes[0].get_legend()
    title = legend.get_title().get_text()   # the legend's title, never a box over the legend
    assert "pre-trend test" in title and f"{es.pretrend_test['p']:.3f}" in title
    assert len(fig.axes[0].texts) == 0
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert {"truth", "95% sup-t band", "Sun-Abraham (95% CI)"} <= set(labels)


def test_errors(df):
    with pytest.raises(KeyError, match="nope"):
        did.event_study(df, yname="nope",
                        vcov={"CRV1": "city_id"}, idname="city_id", tname="year", gname="adoption_year")
    bad = df.copy()
    bad.loc[3, "adoption_year"] = 2001
    with pytest.raises(ValueError, match="varies within 1 units"):
        did.event_study(bad, yname="y",
                        vcov={"CRV1": "city_id"}, idname="city_id", tname="year", gname="adoption_year")
    all_treated = df.dropna(subset=["adoption_year"])
    with pytest.raises(ValueError, match="never-treated"):
        did.event_study(all_treated, yname="y",
                        vcov={"CRV1": "city_id"}, idname="city_id", tname="year", gname="adoption_year")
    with pytest.raises(ValueError, match="outside window"):
        did.event_study(df, yname="y", ref=-7,
                        vcov={"CRV1": "city_id"}, idname="city_id", tname="year", gname="adoption_year")
    with pytest.raises(ValueError, match="unknown vcov"):
        did.event_study(df, yname="y", vcov="cluster", idname="city_id", tname="year", gname="adoption_year")
