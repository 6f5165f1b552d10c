"""Tests of lib.methods.panel: within transformation, CRV1/HC1/iid, K counting, FE engine.

References: statsmodels OLS/WLS with unit and year dummies (exact LSDV),
pyfixest ``feols`` and its ``demean``. Tolerances: demeaning 1e-10 absolute on
O(1) data; coefficients and s.e. 1e-8 relative against other libraries, 1e-10
between our own code paths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from lib.methods import panel

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


def make_panel(seed=0, n_units=60, n_years=10, unbalanced=False):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "unit": np.repeat(np.arange(n_units), n_years),
        "year": np.tile(np.arange(2010, 2010 + n_years), n_units),
    })
    adopt = rng.choice([2013, 2015, 2017, 9999], n_units)
    df["d"] = (df["year"] >= adopt[df["unit"]]).astype(float)
    df["x"] = rng.normal(size=len(df)) + 0.3 * df["d"]
    df["y"] = (1.0 * df["d"] + 0.5 * df["x"] + rng.normal(size=n_units)[df["unit"]]
               + 0.1 * (df["year"] - 2010) + rng.normal(size=len(df)))
    df["y2"] = df["y"] ** 2 / 5 + rng.normal(size=len(df))
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    if unbalanced:
        df = df.sample(frac=0.8, random_state=seed).sort_values(["unit", "year"])
        df = df[df.groupby("unit")["unit"].transform("size") > 1]
    return df.reset_index(drop=True)


@pytest.fixture(params=[False, True], ids=["balanced", "unbalanced"])
def df(request):
    return make_panel(1, unbalanced=request.param)


# ------------------------------------------------------------ within transform
@pytest.mark.parametrize("method", ["exact", "map"])
def test_within_transform_equals_dummy_regression(df, method):
    got = panel.within_transform(df, ["y", "x", "d"], "unit", "year", method=method)
    for j, col in enumerate(["y", "x", "d"]):
        ref = smf.ols(f"{col} ~ C(unit) + C(year)", df).fit().resid.to_numpy()
        np.testing.assert_allclose(got[:, j], ref, atol=1e-10, rtol=0)


def test_within_transform_equals_pyfixest_demean(df):
    from pyfixest.core.demean import demean as pf_demean

    X = df[["y", "x"]].to_numpy(float)
    fl = np.column_stack([pd.factorize(df["unit"])[0], pd.factorize(df["year"])[0]]).astype(np.uint64)
    ref, ok = pf_demean(X, fl, np.ones(len(df)), tol=1e-12)
    assert ok
    got = panel.within_transform(df, ["y", "x"], "unit", "year")
    np.testing.assert_allclose(got, ref, atol=1e-9, rtol=0)


def test_within_transform_weighted_equals_wls(df):
    got = panel.within_transform(df, ["y"], "unit", "year", weights="w", method="exact")[:, 0]
    got_map = panel.within_transform(df, "y", "unit", "year", weights="w", method="map")
    ref = smf.wls("y ~ C(unit) + C(year)", df, weights=df["w"]).fit().resid.to_numpy()
    np.testing.assert_allclose(got, ref, atol=1e-10, rtol=0)
    np.testing.assert_allclose(got_map, ref, atol=1e-10, rtol=0)


def test_within_transform_docstring_example_and_errors():
    d = pd.DataFrame({"i": [1, 1, 2, 2], "t": [1, 2, 1, 2], "y": [1.0, 2.0, 3.0, 5.0]})
    assert panel.within_transform(d, "y", "i", "t").round(3).tolist() == [0.25, -0.25, -0.25, 0.25]
    with pytest.raises(KeyError, match="nope"):
        panel.within_transform(d, ["nope"], "i", "t")
    d.loc[0, "y"] = np.nan
    with pytest.raises(ValueError, match="missing"):
        panel.within_transform(d, "y", "i", "t")


# ---------------------------------------------------------------- K counting
def test_fe_dof_k_conventions():
    df = make_panel(2)  # 60 units x 10 years, connected
    u, t = df["unit"], df["year"]
    assert panel.fe_dof_k(2, u, t, u, k_fixef="nonnested") == 2 + 10        # reghdfe: k + T
    assert panel.fe_dof_k(2, u, t, u, k_fixef="full") == 2 + 60 + 10 - 1    # LSDV
    assert panel.fe_dof_k(2, u, t, u, k_fixef="none") == 2
    assert panel.fe_dof_k(2, u, t, None, k_fixef="nonnested") == 71         # no clusters: full
    prov = u // 6                                                            # cities nested in provinces
    assert panel.fe_dof_k(2, u, t, prov, k_fixef="nonnested") == 12
    assert panel.fe_dof_k(2, u, t, t, k_fixef="nonnested") == 2 + 60        # year FE nested in year clusters
    # two disconnected blocks of units and years: E + T - 2 effect dimensions
    blk = pd.DataFrame({"u": [0, 0, 1, 1, 2, 2, 3, 3], "t": [0, 1, 0, 1, 2, 3, 2, 3]})
    assert panel.fe_dof_k(0, blk["u"], blk["t"], None, k_fixef="full") == 4 + 4 - 2


# -------------------------------------------------------------------- CRV1 etc
def test_cluster_covariance_equals_statsmodels(df):
    X = sm.add_constant(df[["x", "d"]]).to_numpy()
    fit = sm.OLS(df["y"].to_numpy(), X).fit(cov_type="cluster", cov_kwds={"groups": df["unit"]})
    V = panel.cluster_covariance(X, fit.resid, df["unit"], dof_k=X.shape[1])
    np.testing.assert_allclose(V, fit.cov_params(), rtol=1e-10)
    # 2-D residuals: one covariance per outcome, as a loop would give
    fit2 = sm.OLS(df["y2"].to_numpy(), X).fit()
    V2 = panel.cluster_covariance(X, np.column_stack([fit.resid, fit2.resid]), df["unit"],
                                  dof_k=X.shape[1])
    np.testing.assert_allclose(V2[0], V, rtol=1e-12)
    np.testing.assert_allclose(
        V2[1], panel.cluster_covariance(X, fit2.resid, df["unit"], dof_k=X.shape[1]), rtol=1e-12)


def test_hetero_and_iid_covariance_equal_statsmodels(df):
    X = sm.add_constant(df[["x", "d"]]).to_numpy()
    hc1 = sm.OLS(df["y"].to_numpy(), X).fit(cov_type="HC1")
    np.testing.assert_allclose(panel.hetero_covariance(X, hc1.resid, dof_k=3), hc1.cov_params(),
                               rtol=1e-10)
    np.testing.assert_allclose(panel.iid_covariance(X, hc1.resid, dof_k=3),
                               sm.OLS(df["y"].to_numpy(), X).fit().cov_params(), rtol=1e-10)


# ---------------------------------------------------------------------- engine
def _lsdv(df, formula="y ~ d + x + C(unit) + C(year)", **kw):
    return smf.ols(formula, df).fit(**kw)


def test_fe_ols_full_k_equals_lsdv_cluster(df):
    f = panel.fe_ols(df["y"], df[["d", "x"]], df["unit"], df["year"], df["unit"], k_fixef="full")
    ref = _lsdv(df, cov_type="cluster", cov_kwds={"groups": df["unit"]})
    np.testing.assert_allclose(f.params, ref.params[["d", "x"]], rtol=1e-8)
    np.testing.assert_allclose(f.cov, ref.cov_params().loc[["d", "x"], ["d", "x"]], rtol=1e-8)
    assert f.dof_resid == df["unit"].nunique() - 1


@pytest.mark.parametrize("vcov,cov_type", [("hetero", "HC1"), ("iid", "nonrobust")])
def test_fe_ols_hetero_iid_equal_lsdv(df, vcov, cov_type):
    f = panel.fe_ols(df["y"], df[["d", "x"]], df["unit"], df["year"], vcov=vcov)
    ref = _lsdv(df, cov_type=cov_type)
    np.testing.assert_allclose(f.cov, ref.cov_params().loc[["d", "x"], ["d", "x"]], rtol=1e-8)
    assert f.dof_resid == ref.df_resid


def test_fe_ols_weighted_equals_wls_lsdv(df):
    f = panel.fe_ols(df["y"], df[["d", "x"]], df["unit"], df["year"], df["unit"],
                     weights=df["w"], k_fixef="full")
    ref = smf.wls("y ~ d + x + C(unit) + C(year)", df, weights=df["w"]).fit(
        cov_type="cluster", cov_kwds={"groups": df["unit"]})
    np.testing.assert_allclose(f.params, ref.params[["d", "x"]], rtol=1e-8)
    np.testing.assert_allclose(f.cov, ref.cov_params().loc[["d", "x"], ["d", "x"]], rtol=1e-8)


def test_fe_ols_nonnested_equals_pyfixest_default(df):
    import pyfixest as pf

    f = panel.fe_ols(df["y"], df[["d", "x"]], df["unit"], df["year"], df["unit"])
    ref = pf.feols("y ~ d + x | unit + year", df, vcov={"CRV1": "unit"},
                   ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="conventional"))
    np.testing.assert_allclose(f.params, ref.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(f.std_errors, ref.se().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(f.r2_within, ref._r2_within, rtol=1e-8)


def test_fe_ols_2d_y_equals_loop(df):
    both = panel.fe_ols(df[["y", "y2"]], df[["d", "x"]], df["unit"], df["year"], df["unit"])
    for j, col in enumerate(["y", "y2"]):
        one = panel.fe_ols(df[col], df[["d", "x"]], df["unit"], df["year"], df["unit"])
        np.testing.assert_allclose(both.params[j], one.params, rtol=1e-10)
        np.testing.assert_allclose(both.cov[j], one.cov, rtol=1e-10)
        np.testing.assert_allclose(both.r2_within[j], one.r2_within, rtol=1e-10)


@pytest.mark.parametrize("vcov", ["CRV1", "hetero", "iid"])
def test_fe_ols_treatments_equals_fe_ols(df, vcov):
    rng = np.random.default_rng(5)
    D = np.column_stack([df["d"], rng.integers(0, 2, (len(df), 4))]).astype(float)
    many = panel.fe_ols_treatments(df["y"], D, df[["x"]], df["unit"], df["year"],
                                   df["unit"] if vcov == "CRV1" else None, vcov=vcov)
    for j in range(D.shape[1]):
        one = panel.fe_ols(df["y"], np.column_stack([D[:, j], df["x"]]), df["unit"], df["year"],
                           df["unit"] if vcov == "CRV1" else None, vcov=vcov)
        np.testing.assert_allclose(many.coef[j], one.params[0], rtol=1e-10)
        np.testing.assert_allclose(many.std_error[j], one.std_errors[0], rtol=1e-10)


def test_fe_ols_errors(df):
    with pytest.raises(ValueError, match="cluster"):
        panel.fe_ols(df["y"], df[["d"]], df["unit"], df["year"], None, vcov="CRV1")
    with pytest.raises(ValueError, match="vcov must be one of"):
        panel.fe_ols(df["y"], df[["d"]], df["unit"], df["year"], vcov="HC3")
