"""Tests of lib.methods.mediation (the paper's eqs. 9-11, Tables 11-13).

References and tolerances:

* Sobel z against a hand computation (exact to 1e-12).
* a, b, c' and c against statsmodels OLS with city and year dummies (1e-8);
  the identity c = c' + a·b on the common sample (1e-12).
* The vectorised cluster bootstrap against a per-replication loop that builds
  each resample explicitly (relabelled city copies) and fits two two-way FE
  regressions with ``lib.methods.panel.fe_ols`` (all reps) and linearmodels
  ``PanelOLS`` (one rep): 1e-10 relative.
* Eq. (11) on a hand example, and the shipped panel's Spec recomputed from the
  shipped sector table.
* Known truth: on a simulated panel whose mediator satisfies the model, a and b
  are recovered within 4 s.e.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from lib.book import simulations
from lib.methods import mediation as M
from lib.methods import panel as P
from lib.data.indices import producer_service_agglomeration

VCOV = {"CRV1": "city_id"}


def make_panel(seed=0, n_units=50, n_years=8, *, a=0.8, b=0.5, c=0.4, unbalanced=False):
    """Panel where CBEC raises M by ``a`` and Inno by ``c + a*b`` (M -> Inno slope ``b``)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"city_id": np.repeat(np.arange(100, 100 + n_units), n_years),
                       "year": np.tile(np.arange(2010, 2010 + n_years), n_units)})
    city = df["city_id"].to_numpy() - 100
    cohort = rng.choice([2012, 2014, 2015, 9999], n_units)
    df["CBEC"] = (df["year"] >= cohort[city]).astype(float)
    df["x1"] = rng.normal(size=len(df)) + 0.5 * rng.normal(size=n_units)[city]
    df["M"] = (a * df["CBEC"] + 0.3 * df["x1"] + rng.normal(size=n_units)[city]
               + 0.05 * (df["year"] - 2010) + rng.normal(size=len(df)))
    df["Inno"] = (c * df["CBEC"] + b * df["M"] - 0.2 * df["x1"] + rng.normal(size=n_units)[city]
                  + 0.1 * (df["year"] - 2010) + rng.normal(scale=0.7, size=len(df)))
    if unbalanced:
        df = df.sample(frac=0.85, random_state=seed).sort_values(["city_id", "year"])
        df.loc[df.index[:3], "M"] = np.nan
        df = df.reset_index(drop=True)
    return df


@pytest.fixture(scope="module")
def df():
    return make_panel()


@pytest.fixture(scope="module")
def med(df):
    return M.three_step(df, yname="Inno", dname="CBEC", mediator="M", controls=["x1"],
                        vcov=VCOV, bootstrap_reps=40, seed=7, idname="city_id", tname="year")


def test_sobel_hand_computation():
    z, p = M.sobel(0.5, 0.1, 0.4, 0.1)
    hand = 0.2 / np.sqrt(0.4**2 * 0.1**2 + 0.5**2 * 0.1**2)   # = 0.2 / sqrt(0.0041)
    assert z == pytest.approx(hand, abs=1e-12)
    assert z == pytest.approx(3.1234752377721215, abs=1e-12)
    assert p == pytest.approx(2 * (1 - stats.norm.cdf(hand)), abs=1e-12)
    with pytest.raises(ValueError):
        M.sobel(0.0, 0.0, 1.0, 0.0)


def test_implied_t_a_roundtrip():
    t_a, t_b = 13.2, 24.29
    z = 1 / np.sqrt(1 / t_a**2 + 1 / t_b**2)
    assert M.implied_t_a(z, t_b) == pytest.approx(t_a, rel=1e-12)
    assert np.isnan(M.implied_t_a(30.0, 24.29))


def test_paths_match_statsmodels_and_identity(df, med):
    def fit(formula):
        return smf.ols(formula, data=df).fit()

    a_ref = fit("M ~ CBEC + x1 + C(city_id) + C(year)").params["CBEC"]
    b_fit = fit("Inno ~ CBEC + M + x1 + C(city_id) + C(year)")
    c_ref = fit("Inno ~ CBEC + x1 + C(city_id) + C(year)").params["CBEC"]
    assert med.a == pytest.approx(a_ref, rel=1e-8)
    assert med.b == pytest.approx(b_fit.params["M"], rel=1e-8)
    assert med.direct == pytest.approx(b_fit.params["CBEC"], rel=1e-8)
    assert med.total_effect == pytest.approx(c_ref, rel=1e-8)
    # OLS on one sample: c = c' + a*b exactly
    assert med.total_effect == pytest.approx(med.direct + med.indirect, abs=1e-12)
    z, p = M.sobel(med.a, med.se_a, med.b, med.se_b)
    assert (med.sobel_z, med.sobel_p) == (z, p)


def test_common_sample_and_drops():
    d = make_panel(3, unbalanced=True)
    res = M.three_step(d,
                       yname="Inno", dname="CBEC", mediator="M", controls=["x1"], vcov=VCOV, idname="city_id", tname="year")
    assert res.nobs == len(d) - 3 - res.drop_reasons.get("singleton city_id or year", 0)
    assert res.drop_reasons["M"] == 3
    for r in (res.total, res.a_path, res.b_path):
        assert r.nobs == res.nobs and r.n_dropped == res.n_dropped


def _resample(frame, draws_row, groups, levels):
    parts = []
    for j, c in enumerate(draws_row):
        g = groups[levels[c]].copy()
        g["boot_id"] = j   # a city drawn twice enters as two cities
        parts.append(g)
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("unbalanced", [False, True], ids=["balanced", "unbalanced"])
def test_vectorised_bootstrap_equals_loop(unbalanced):
    d = make_panel(1, unbalanced=unbalanced).dropna()
    levels = np.sort(d["city_id"].unique())
    draws = M.cluster_draws(len(levels), 4, seed=11)
    vec = M.bootstrap_paths(d, yname="Inno", dname="CBEC", mediator="M", controls=["x1"],
                            draws=draws, chunk=3, idname="city_id", tname="year")
    groups = dict(tuple(d.groupby("city_id")))
    for r in range(draws.shape[0]):
        bs = _resample(d, draws[r], groups, levels)
        fa = P.fe_ols(bs["M"].to_numpy(), bs[["CBEC", "x1"]].to_numpy(), bs["boot_id"],
                      bs["year"], bs["boot_id"])
        fb = P.fe_ols(bs["Inno"].to_numpy(), bs[["CBEC", "M", "x1"]].to_numpy(), bs["boot_id"],
                      bs["year"], bs["boot_id"])
        np.testing.assert_allclose(vec.loc[r, "a"], fa.params[0], rtol=1e-10)
        np.testing.assert_allclose(vec.loc[r, "b"], fb.params[1], rtol=1e-10)
        np.testing.assert_allclose(vec.loc[r, "direct"], fb.params[0], rtol=1e-10)
        np.testing.assert_allclose(vec.loc[r, "indirect"], fa.params[0] * fb.params[1], rtol=1e-10)
    # one replication against linearmodels itself
    from linearmodels import PanelOLS

    bs = _resample(d, draws[0], groups, levels).set_index(["boot_id", "year"])
    lm = PanelOLS(bs["M"], bs[["CBEC", "x1"]], entity_effects=True, time_effects=True).fit()
    np.testing.assert_allclose(vec.loc[0, "a"], lm.params["CBEC"], rtol=1e-10)


def test_bootstrap_seeded_and_reproducible(df, med):
    again = M.three_step(df, yname="Inno", dname="CBEC", mediator="M", controls=["x1"],
                         vcov=VCOV, bootstrap_reps=40, seed=7, idname="city_id", tname="year")
    # same seed, same draws: values compared to 1e-12, never bytes (threaded BLAS sums)
    pd.testing.assert_frame_equal(med.bootstrap_draws, again.bootstrap_draws, rtol=1e-12)
    np.testing.assert_allclose(med.bootstrap_ci, again.bootstrap_ci, rtol=1e-12)
    other = M.three_step(df, yname="Inno", dname="CBEC", mediator="M", controls=["x1"],
                         vcov=VCOV, bootstrap_reps=40, seed=8, idname="city_id", tname="year")
    assert not np.allclose(other.bootstrap_draws["indirect"], med.bootstrap_draws["indirect"])
    np.testing.assert_array_equal(M.cluster_draws(10, 3, 5), M.cluster_draws(10, 3, 5))
    lo, hi = med.bootstrap_ci
    assert lo == pytest.approx(np.quantile(med.bootstrap_draws["indirect"], 0.025))
    assert lo < med.indirect < hi
    assert len(med.bootstrap_draws) == 40


def test_bootstrap_province_clusters(df):
    d = df.assign(province=df["city_id"] // 5)
    res = M.three_step(d, yname="Inno", dname="CBEC", mediator="M", controls=["x1"],
                       vcov={"CRV1": "province"}, bootstrap_reps=10, seed=1, idname="city_id", tname="year")
    assert res.bootstrap_draws["indirect"].notna().all()
    bad = df.assign(province=df["year"])   # cities not nested in clusters
    with pytest.raises(ValueError, match="several 'province' clusters"):
        M.three_step(bad, yname="Inno", dname="CBEC", mediator="M", vcov={"CRV1": "province"},
                     bootstrap_reps=5, idname="city_id", tname="year")


def test_known_truth_recovery():
    d = make_panel(5, n_units=200, a=0.8, b=0.5, c=0.4)
    res = M.three_step(d,
                       yname="Inno", dname="CBEC", mediator="M", controls=["x1"], vcov=VCOV, idname="city_id", tname="year")
    assert abs(res.a - 0.8) < 4 * res.se_a
    assert abs(res.b - 0.5) < 4 * res.se_b
    assert abs(res.indirect - 0.4) < 4 * res.indirect_se
    assert res.sobel_p < 0.001


def test_outputs(med):
    tid = med.tidy()
    assert list(tid.index) == ["total c (eq. 7)", "a (eq. 9)", "b (eq. 10)",
                               "direct c' (eq. 10)", "indirect a·b"]
    assert tid.loc["indirect a·b", "statistic"] == med.sobel_z
    assert tid.loc["indirect a·b", "ci_lower"] == med.bootstrap_ci[0]
    tab = med.table(title="x")
    assert "Sobel z" in tab.frame.index
    fig = med.plot(truth={"a": 0.8, "b": 0.5, "direct": 0.4, "indirect": 0.4})
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "Sobel z" in texts and "truth 0.8" in texts
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_errors(df):
    with pytest.raises(ValueError, match="mediator 'Inno' must differ"):
        M.three_step(df,
                     yname="Inno", dname="CBEC", mediator="Inno", vcov=VCOV, idname="city_id", tname="year")
    with pytest.raises(KeyError, match="nomed"):
        M.three_step(df,
                     yname="Inno", dname="CBEC", mediator="nomed", vcov=VCOV, idname="city_id", tname="year")
    with pytest.raises(ValueError, match="bootstrap_reps"):
        M.three_step(df,
                     yname="Inno", dname="CBEC", mediator="M", vcov=VCOV, bootstrap_reps=-1, idname="city_id", tname="year")


def test_eq11_hand_example():
    """Two cities, two producer-service sectors, two years, computed by hand."""
    emp = pd.DataFrame({"city_id": [1, 1, 2, 2, 1, 1, 2, 2],
                        "year": [2020] * 4 + [2021] * 4,
                        "sector": ["fin", "it"] * 4,
                        "employment": [3.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 4.0]})
    tot = pd.DataFrame({"city_id": [1, 2, 1, 2], "year": [2020, 2020, 2021, 2021],
                        "total_employment": [20.0, 30.0, 25.0, 25.0]})
    spec = producer_service_agglomeration(emp, tot)
    # 2020: PS shares 4/6, 2/6; total shares 20/50, 30/50
    # 2021: PS shares 4/10, 6/10; total shares 1/2, 1/2
    hand = {(1, 2020): (4 / 6) / (20 / 50), (2, 2020): (2 / 6) / (30 / 50),
            (1, 2021): 0.4 / 0.5, (2, 2021): 0.6 / 0.5}
    for key, v in hand.items():
        assert spec.loc[key] == pytest.approx(v, rel=1e-12)


def test_shipped_spec_is_eq11_of_shipped_sectors():
    from lib import DATA
    from lib.data import load_panel

    sector = pd.read_csv(DATA / "derived" / "cbec_sector_employment.csv")
    frame = load_panel().data
    spec = producer_service_agglomeration(sector, frame)
    ship = frame.set_index(["city_id", "year"])["Spec"].dropna()
    assert len(spec) == len(ship)
    np.testing.assert_allclose(spec.reindex(ship.index).to_numpy(), ship.to_numpy(), rtol=1e-8)


def test_comparison_rows_and_indirect_plot(med):
    from lib.book.mechanisms import comparison_rows

    rows = comparison_rows(med, truth={"a": 0.8, "b": 0.5, "indirect": 0.4}, truth_att=0.8,
                             paper=False)
    by = {r["quantity"]: r for r in rows}
    assert by["M: M (b, eq. 10)"]["book"] == med.b and by["M: M (b, eq. 10)"]["truth"] == 0.5
    assert by["M: CBEC (c', eq. 10)"]["truth"] == pytest.approx(0.4)   # ATT - a*b
    assert by["M: indirect a·b"]["book"] == med.indirect
    med2 = M.three_step(make_panel(2).rename(columns={"M": "Diginf"}), yname="Inno", dname="CBEC",
                        mediator="Diginf", vcov=VCOV, idname="city_id", tname="year")
    printed = {r["quantity"]: r for r in comparison_rows(med2)}
    assert printed["Table 11: Sobel z"]["paper"] == pytest.approx(16.39)
    assert printed["Table 11: Diginf (b, eq. 10)"]["paper"] == pytest.approx(0.2024)
    fig = M.indirect_plot({"M": med}, truth={"M": 0.4})
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["M"]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_truth_gaps_by_hand(med):
    truth = pd.DataFrame({"a": [med.a - 2 * med.se_a], "b": [med.b + med.se_b],
                          "indirect": [med.indirect]}, index=["M"])
    g = M.truth_gaps({"M": med}, truth)
    assert g.loc["M", "a_gap_se"] == pytest.approx(2.0, rel=1e-10)
    assert g.loc["M", "b_gap_se"] == pytest.approx(-1.0, rel=1e-10)
    lo, hi = med.bootstrap_ci
    assert g.loc["M", "ab_covered"] == bool(lo <= med.indirect <= hi)
    far = truth.assign(indirect=hi + 1.0)
    assert not M.truth_gaps({"M": med}, far).loc["M", "ab_covered"]
    none = M.truth_gaps({"M": med}, None)       # a reader's panel: no truth
    assert np.isnan(none.loc["M", "a_gap_se"]) and not none.loc["M", "ab_covered"]


def test_seed_paths_equal_three_step_on_the_same_draw():
    from lib import data as data_mod
    from lib.data import synthetic
    from lib.data.facts import sample_frame

    out = simulations.seed_paths([1], ["Envir"])
    raw, truth = synthetic.simulate_city_panel(sample_frame(), seed=1)
    panel = data_mod.validate_panel(raw, source="test")
    ref = M.three_step(panel.data, yname="Inno", dname="CBEC", mediator="Envir",
                       controls=list(panel.spec.controls), idname="city_id", tname="year", vcov={"CRV1": "city_id"})
    row = out.loc[(1, "Envir")]
    assert row["a"] == pytest.approx(ref.a, rel=1e-12) and row["b"] == pytest.approx(ref.b, rel=1e-12)
    assert row["a_gap_se"] == pytest.approx((ref.a - truth.indirect.loc["Envir", "a"]) / ref.se_a)


@pytest.mark.parametrize("effects, absorb", [("unit", " | city_id"), ("none", "")])
def test_three_step_with_the_effects_the_reader_chooses_equals_pyfixest(effects, absorb):
    import pyfixest as pf

    df = make_panel(3)
    med = M.three_step(df, yname="Inno", dname="CBEC", mediator="M", vcov=VCOV, idname="city_id",
                       tname="year", effects=effects)
    ssc = pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="conventional")
    a = pf.feols(f"M ~ CBEC{absorb}", df, vcov={"CRV1": "city_id"}, ssc=ssc)
    b = pf.feols(f"Inno ~ CBEC + M{absorb}", df, vcov={"CRV1": "city_id"}, ssc=ssc)
    assert med.a == pytest.approx(float(a.coef()["CBEC"]), rel=1e-8)
    assert med.b == pytest.approx(float(b.coef()["M"]), rel=1e-8)
    assert med.se_a == pytest.approx(float(a.se()["CBEC"]), rel=1e-8)
    assert med.se_b == pytest.approx(float(b.se()["M"]), rel=1e-8)
    # c = c' + ab holds with any effects, on the common sample
    assert med.total.params["CBEC"] == pytest.approx(med.b_path.params["CBEC"] + med.indirect, abs=1e-10)


@pytest.mark.parametrize("effects", ["unit", "none"])
def test_vectorised_bootstrap_with_other_effects_equals_loop(effects):
    """The bootstrap of a one-way or pooled mediation equals least squares on each resample."""
    d = make_panel(2, unbalanced=True).dropna()
    levels = np.sort(d["city_id"].unique())
    draws = M.cluster_draws(len(levels), 3, seed=5)
    vec = M.bootstrap_paths(d, yname="Inno", dname="CBEC", mediator="M", controls=["x1"],
                            draws=draws, chunk=2, idname="city_id", tname="year", effects=effects)
    groups = dict(tuple(d.groupby("city_id")))
    for r in range(draws.shape[0]):
        bs = _resample(d, draws[r], groups, levels)
        fixed = (pd.get_dummies(bs["boot_id"], dtype=float).to_numpy() if effects == "unit"
                 else np.ones((len(bs), 1)))
        fa = np.linalg.lstsq(np.column_stack([bs[["CBEC", "x1"]], fixed]), bs["M"], rcond=None)[0]
        fb = np.linalg.lstsq(np.column_stack([bs[["CBEC", "M", "x1"]], fixed]), bs["Inno"],
                             rcond=None)[0]
        np.testing.assert_allclose(vec.loc[r, ["a", "b", "direct"]].to_numpy(float),
                                   [fa[0], fb[1], fb[0]], rtol=1e-9)
    med = M.three_step(d, yname="Inno", dname="CBEC", mediator="M", controls=["x1"], vcov=VCOV,
                       idname="city_id", tname="year", effects=effects, bootstrap_reps=30, seed=3)
    assert med.spec["effects"] == effects and len(med.bootstrap_draws) == 30
    lo, hi = med.bootstrap_ci
    assert lo < hi and np.isfinite([lo, hi]).all()


def test_indirect_tests_by_hand():
    from lib.methods.mediation import indirect_tests, sobel

    t = indirect_tests(0.5, 0.1, 0.4, 0.1, cov_ab=0.002)
    base = 0.4**2 * 0.01 + 0.5**2 * 0.01
    assert t.loc["Sobel", "std_error"] == pytest.approx(np.sqrt(base))
    assert t.loc["Sobel", "z"] == pytest.approx(sobel(0.5, 0.1, 0.4, 0.1)[0])
    assert t.loc["Sobel with covariance", "std_error"] == pytest.approx(np.sqrt(base + 2 * 0.5 * 0.4 * 0.002))
    assert t.loc["Aroian", "std_error"] == pytest.approx(np.sqrt(base + 1e-4))
    assert t.loc["Goodman", "std_error"] == pytest.approx(np.sqrt(base - 1e-4))
    # Goodman's variance can be negative: no s.e. then
    assert np.isnan(indirect_tests(0.01, 1.0, 0.01, 1.0).loc["Goodman", "std_error"])


@pytest.mark.parametrize("effects", ["twoway", "unit", "none"])
def test_path_scores_give_each_paths_own_clustered_se(effects):
    """The per-city score sums of a and b, with each equation's CRV1 factor, reproduce twfe's
    s.e. of a and b for every choice of fixed effects, so their cross-product is the covariance
    on the same footing."""
    import pandas as pd

    from lib import ROOT
    from lib.methods.did import estimation_frame
    from lib.methods.mediation import path_scores, three_step

    d = pd.read_csv(ROOT / "data" / "derived" / "cbec_city_panel.csv")
    X = ["lnpop", "lngdp", "Urban"]
    kw = dict(yname="Inno", dname="CBEC", mediator="Diginf", idname="city_id", tname="year", controls=X)
    med = three_step(d, vcov={"CRV1": "city_id"}, effects=effects, **kw)
    frame, _ = estimation_frame(d, ["Inno", "CBEC", "Diginf", *X, "city_id", "year"], idname="city_id",
                                tname="year", fn="test")
    S, info = path_scores(frame, cluster="city_id", effects=effects, **kw)
    n, G = info["n"], info["G"]
    for col, res, se in ((0, med.a_path, med.se_a), (1, med.b_path, med.se_b)):
        factor = G / (G - 1) * (n - 1) / (n - res.extra["dof_k"])
        assert np.sqrt(factor * S[:, col] @ S[:, col]) == pytest.approx(se, rel=1e-9)
    with pytest.raises(ValueError, match="effects must be"):
        path_scores(frame, cluster="city_id", effects="city", **kw)


def _trending_panel(seed, n_units=80, n_years=8, a=0.5, b=0.5, c=0.3):
    """make_panel's design with errors that trend within a city (city-specific slopes, independent
    across the two equations), so that a city's years are correlated and clustering matters."""
    rng = np.random.default_rng(seed)
    df = make_panel(seed, n_units=n_units, n_years=n_years, a=a, b=b, c=c)
    city = df["city_id"].to_numpy() - 100
    tau = (df["year"] - df["year"].mean()).to_numpy() / n_years
    g, h = rng.normal(size=n_units), rng.normal(size=n_units)
    df["M"] += 2.0 * g[city] * tau
    df["Inno"] += b * 2.0 * g[city] * tau + 2.0 * h[city] * tau
    return df


def test_sobel_with_covariance_agrees_with_the_cluster_bootstrap_over_seeds():
    """Over 60 draws of a panel with within-city correlated errors: the mean Sobel-with-covariance
    s.e. of a·b is within 10 % of the mean cluster-bootstrap s.e. (199 replications), and both are
    within 27 % (3 Monte-Carlo s.e. of a standard deviation from 60 draws) of the s.d. of a·b
    across the draws, the s.e. they estimate."""
    est, sobel_cov, boot = [], [], []
    for seed in range(60):
        med = M.three_step(_trending_panel(seed), yname="Inno", dname="CBEC", mediator="M",
                           controls=["x1"], vcov=VCOV, bootstrap_reps=199, seed=seed,
                           idname="city_id", tname="year")
        est.append(med.indirect)
        sobel_cov.append(med.tests.loc["Sobel with covariance", "std_error"])
        boot.append(med.bootstrap_se)
    sd = np.std(est, ddof=1)
    assert abs(np.mean(sobel_cov) / np.mean(boot) - 1) < 0.10
    assert abs(np.mean(sobel_cov) / sd - 1) < 0.27 and abs(np.mean(boot) / sd - 1) < 0.27


# ------------------------------------------------- sensitivity to sequential ignorability
def test_sensitivity_equals_imai_keele_yamamotos_form_from_ols_residuals(df):
    """IKY (2010)'s form, δ(ρ) = a σ1/σ2 (ρ̃ − ρ √((1 − ρ̃²)/(1 − ρ²))), from the residuals of eqs. 7
    and 9 fitted by statsmodels OLS with city and year dummies, equals the book's
    a (b − ρ σ3/(σ2 √(1 − ρ²))) on a grid (1e-8); δ(0) = a·b; δ is zero at ρ̃; at ρ = 0 the band is
    the bootstrap's percentile interval of a·b."""
    med = M.three_step(df, yname="Inno", dname="CBEC", mediator="M", controls=["x1"], vcov=VCOV,
                       bootstrap_reps=99, seed=3, idname="city_id", tname="year")
    sens = M.sequential_ignorability_sensitivity(med, rhos=np.linspace(-0.8, 0.8, 17))
    rhs = "CBEC + x1 + C(city_id) + C(year)"
    e1 = smf.ols(f"Inno ~ {rhs}", data=df).fit().resid
    e2 = smf.ols(f"M ~ {rhs}", data=df).fit().resid
    a = smf.ols(f"M ~ {rhs}", data=df).fit().params["CBEC"]
    s1, s2, rt = np.sqrt((e1**2).sum()), np.sqrt((e2**2).sum()), np.corrcoef(e1, e2)[0, 1]
    rho = sens.curve.index.to_numpy()
    iky = a * s1 / s2 * (rt - rho * np.sqrt((1 - rt**2) / (1 - rho**2)))
    np.testing.assert_allclose(sens.curve["acme"], iky, rtol=1e-8, atol=1e-12)
    assert sens.at(0.0) == pytest.approx(med.indirect, rel=1e-10)
    assert sens.rho_zero == pytest.approx(rt, rel=1e-8)
    assert M.sequential_ignorability_sensitivity(med, rhos=[sens.rho_zero]).curve["acme"].iloc[0] == \
        pytest.approx(0, abs=1e-12)
    np.testing.assert_allclose(sens.curve.loc[0.0, ["lower", "upper"]], med.bootstrap_ci, rtol=1e-12)
    with pytest.raises(ValueError, match="strictly between"):
        M.sequential_ignorability_sensitivity(med, rhos=[1.0])


def test_sensitivity_recovers_the_indirect_effect_at_the_true_error_correlation():
    """A panel whose mediator and outcome errors correlate at ρ0 = 0.4 (an unobserved confounder
    of M and Y): â·b̂ is biased by half, and δ(ρ0) is within 3 % of â·b, the indirect effect with
    the true slope (â's own sampling error is not what the sensitivity corrects)."""
    rng = np.random.default_rng(11)
    n_units, n_years, a, b, rho0 = 2000, 10, 0.8, 0.5, 0.4
    df = pd.DataFrame({"city_id": np.repeat(np.arange(n_units), n_years),
                       "year": np.tile(np.arange(n_years), n_units)})
    city = df["city_id"].to_numpy()
    cohort = rng.choice([3, 5, 7, 99], n_units)
    df["CBEC"] = (df["year"] >= cohort[city]).astype(float)
    e2 = rng.normal(size=len(df))
    e3 = rho0 * e2 + np.sqrt(1 - rho0**2) * rng.normal(size=len(df))
    df["M"] = a * df["CBEC"] + rng.normal(size=n_units)[city] + e2
    df["Inno"] = 0.3 * df["CBEC"] + b * df["M"] + rng.normal(size=n_units)[city] + 0.7 * e3
    med = M.three_step(df, yname="Inno", dname="CBEC", mediator="M", vcov=VCOV, idname="city_id",
                       tname="year")
    sens = M.sequential_ignorability_sensitivity(med, rhos=[0.0, rho0])
    assert abs(med.indirect / (a * b) - 1) > 0.5                   # ignoring ρ0 misleads
    assert sens.at(rho0) == pytest.approx(med.a * b, rel=0.03)
    assert np.isnan(sens.curve["lower"]).all()                     # no bootstrap, no band
