"""Tests of lib.methods.did: TWFE (eq. 7, Table 4) and the selection logit (section 3.1.3).

Reference implementations and tolerances (see METHODS.md):

* statsmodels OLS with unit and year dummies, ``cov_type="cluster"``: K counts
  every effect (k + E + T - 1); equals ``twfe(..., k_fixef="full")`` to 1e-8.
* statsmodels OLS on unit-demeaned data with an intercept and year dummies
  (Stata ``xtreg, fe`` with ``i.year``): K = k + T; equals the default
  ``twfe(..., k_fixef="nonnested")`` (reghdfe's convention) to 1e-8.
* pyfixest ``feols`` with ``ssc(k_fixef=..., G_df="conventional")`` set
  explicitly: 1e-8 for both conventions.
* ``lib.methods.panel.fe_ols``: 1e-10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from lib.methods import did, panel
from lib.methods.results import RegressionResult

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

CONTROLS = ["x1", "x2"]


def make_panel(seed=0, n_units=60, n_years=10, *, effect=1.0, unbalanced=False, missing=False):
    """Staggered-adoption city-year panel with a homogeneous effect ``effect``."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "city_id": np.repeat(np.arange(100, 100 + n_units), n_years),
        "year": np.tile(np.arange(2010, 2010 + n_years), n_units),
    })
    cohort = rng.choice([2013, 2015, 2016, 2018, 9999], n_units)   # 9999 = never treated
    city = df["city_id"] - 100
    df["treated"] = (cohort[city] < 9999).astype(int)
    df["CBEC"] = (df["year"] >= cohort[city]).astype(float)
    alpha = rng.normal(size=n_units)
    df["x1"] = 0.5 * alpha[city] + rng.normal(size=len(df))
    df["x2"] = rng.normal(size=len(df)) + 0.2 * (df["year"] - 2010)
    df["province"] = city // 5
    df["Inno"] = (effect * df["CBEC"] + 0.4 * df["x1"] - 0.3 * df["x2"] + alpha[city]
                  + 0.05 * (df["year"] - 2010) ** 1.5 + rng.normal(size=n_units)[city] * 0.2
                  * rng.normal(size=len(df)) + rng.normal(scale=0.8, size=len(df)))
    if unbalanced:
        df = df.sample(frac=0.85, random_state=seed).sort_values(["city_id", "year"])
        df = df[df.groupby("city_id")["city_id"].transform("size") > 1]
    df = df.reset_index(drop=True)
    if missing:
        df.loc[[3, 17, 40, 41, 90], "x1"] = np.nan
        df.loc[[5, 60, 99], "x2"] = np.nan
        df.loc[[200, 201], "Inno"] = np.nan
    return df


@pytest.fixture(params=[False, True], ids=["balanced", "unbalanced"])
def df(request):
    return make_panel(3, unbalanced=request.param, missing=True)


def _complete(df, cols=("Inno", "CBEC", *CONTROLS)):
    return df.dropna(subset=list(cols)).reset_index(drop=True)


def _fit(df, **kw):
    args = dict(yname="Inno", dname="CBEC", idname="city_id", tname="year", controls=CONTROLS,
                vcov={"CRV1": "city_id"})
    args.update(kw)
    return did.twfe(df, **args)


# --------------------------------------------------------- references: K conventions
def test_twfe_full_equals_statsmodels_dummies(df):
    res = _fit(df, k_fixef="full")
    cc = _complete(df)
    ref = smf.ols("Inno ~ CBEC + x1 + x2 + C(city_id) + C(year)", cc).fit(
        cov_type="cluster", cov_kwds={"groups": cc["city_id"]})
    terms = ["CBEC", *CONTROLS]
    np.testing.assert_allclose(res.params, ref.params[terms], rtol=1e-8)
    np.testing.assert_allclose(res.std_errors, ref.bse[terms], rtol=1e-8)
    np.testing.assert_allclose(res.cov, ref.cov_params().loc[terms, terms], rtol=1e-8)
    assert res.extra["dof_k"] == ref.df_model + 1            # k + E + T - 1


def test_twfe_nonnested_equals_statsmodels_xtreg_form(df):
    """Unit-demeaned OLS with intercept and year dummies: K = k + (T-1) + 1 = k + T."""
    res = _fit(df)
    cc = _complete(df)
    years = pd.get_dummies(cc["year"], prefix="y", drop_first=True, dtype=float)
    Z = pd.concat([cc[["Inno", "CBEC", *CONTROLS]], years], axis=1)
    Zd = Z - Z.groupby(cc["city_id"]).transform("mean")
    ref = sm.OLS(Zd["Inno"], sm.add_constant(Zd.drop(columns="Inno"))).fit(
        cov_type="cluster", cov_kwds={"groups": cc["city_id"]})
    terms = ["CBEC", *CONTROLS]
    np.testing.assert_allclose(res.params, ref.params[terms], rtol=1e-8)
    np.testing.assert_allclose(res.std_errors, ref.bse[terms], rtol=1e-8)
    T = cc["year"].nunique()
    assert res.extra["dof_k"] == len(terms) + T
    # the two conventions differ by exactly sqrt((N - K_full) / (N - K_nonnested))
    full = _fit(df, k_fixef="full")
    N, E, k = res.nobs, res.extra["entities"], len(terms)
    np.testing.assert_allclose(full.std_errors / res.std_errors,
                               np.sqrt((N - k - T) / (N - k - E - T + 1)), rtol=1e-10)


@pytest.mark.parametrize("k_fixef", ["nonnested", "full"])
def test_twfe_equals_pyfixest(df, k_fixef):
    import pyfixest as pf

    res = _fit(df, k_fixef=k_fixef)
    ref = pf.feols("Inno ~ CBEC + x1 + x2 | city_id + year", df, vcov={"CRV1": "city_id"},
                   ssc=pf.ssc(k_adj=True, k_fixef=k_fixef, G_adj=True, G_df="conventional"))
    np.testing.assert_allclose(res.params, ref.coef()[res.params.index], rtol=1e-8)
    np.testing.assert_allclose(res.std_errors, ref.se()[res.params.index], rtol=1e-8)
    np.testing.assert_allclose(res.r2, ref._r2_within, rtol=1e-8)
    assert res.nobs == ref._N


def test_twfe_cluster_by_province_equals_pyfixest():
    import pyfixest as pf

    d = make_panel(4)
    res = _fit(d, vcov={"CRV1": "province"})
    ref = pf.feols("Inno ~ CBEC + x1 + x2 | city_id + year", d, vcov={"CRV1": "province"},
                   ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="conventional"))
    np.testing.assert_allclose(res.std_errors, ref.se()[res.params.index], rtol=1e-8)
    assert res.extra["n_clusters"] == 12 and res.dof_resid == 11


@pytest.mark.parametrize("vcov,cov_type", [("hetero", "HC1"), ("iid", "nonrobust")])
def test_twfe_hetero_iid_equal_statsmodels_dummies(vcov, cov_type):
    d = make_panel(5, unbalanced=True)
    res = _fit(d, vcov=vcov)
    ref = smf.ols("Inno ~ CBEC + x1 + x2 + C(city_id) + C(year)", d).fit(cov_type=cov_type)
    np.testing.assert_allclose(res.std_errors, ref.bse[res.params.index], rtol=1e-8)
    assert res.dof_resid == ref.df_resid


# ------------------------------------------------------------------ own engine
@pytest.mark.parametrize("vcov", [{"CRV1": "city_id"}, "hetero", "iid"])
@pytest.mark.parametrize("k_fixef", ["nonnested", "full"])
def test_fe_ols_engine_equals_twfe(df, vcov, k_fixef):
    res = _fit(df, vcov=vcov, k_fixef=k_fixef)
    cc = _complete(df)
    kind = "CRV1" if isinstance(vcov, dict) else vcov
    f = panel.fe_ols(cc["Inno"], cc[["CBEC", *CONTROLS]], cc["city_id"], cc["year"],
                     cc["city_id"] if kind == "CRV1" else None, vcov=kind, k_fixef=k_fixef)
    np.testing.assert_allclose(f.params, res.params, rtol=1e-10)
    np.testing.assert_allclose(f.cov, res.cov, rtol=1e-10)
    np.testing.assert_allclose(f.r2_within, res.r2, rtol=1e-10)
    assert f.dof_resid == res.dof_resid and f.dof_k == res.extra["dof_k"]


# ------------------------------------------------------------------------ R²
def test_r2_definitions(df):
    from linearmodels import PanelOLS

    res = _fit(df)
    cc = _complete(df).set_index(["city_id", "year"])
    lm = PanelOLS(cc["Inno"], cc[["CBEC", *CONTROLS]], entity_effects=True,
                  time_effects=True).fit()
    # our within R² is the two-way one (reghdfe, pyfixest) = linearmodels' `rsquared`
    # (linearmodels is the oracle here; it no longer runs inside twfe)
    np.testing.assert_allclose(res.r2, lm.rsquared, rtol=1e-10)
    np.testing.assert_allclose(res.params, lm.params, rtol=1e-10)
    lsdv = smf.ols("Inno ~ CBEC + x1 + x2 + C(city_id) + C(year)", cc.reset_index()).fit()
    np.testing.assert_allclose(res.extra["r2_inclusive"], lsdv.rsquared, rtol=1e-8)
    assert res.r2_kind == "within"


# --------------------------------------------------------- drops and result fields
def test_dropped_rows_accounting_is_exact():
    d = make_panel(6, missing=True)
    # a city with one complete row becomes a singleton and is dropped too
    # (rows 50-59 = city 105 hold none of the injected NaNs)
    lone = d["city_id"] == 105
    d.loc[lone & (d["year"] > 2010), "x2"] = np.nan
    res = _fit(d)
    assert res.drop_reasons == {"Inno": 2, "x1": 5, "x2": 3 + 9,
                                "singleton city_id or year": 1}
    assert res.n_dropped == sum(res.drop_reasons.values())
    assert res.nobs == len(d) - res.n_dropped


def test_model_frame_attributes_each_row_once():
    d = pd.DataFrame({"a": [1, np.nan, np.nan, 4], "b": [np.nan, np.nan, 3, 4], "c": [1, 2, 3, 4]})
    frame, dropped = did._model_frame(d, ["a", "b", "c"])
    assert dropped == {"a": 2, "b": 1} and len(frame) == 1


def test_result_fields():
    d = make_panel(7, missing=True)
    res = _fit(d)
    assert isinstance(res, RegressionResult)
    assert list(res.params.index) == ["CBEC", "x1", "x2"]
    assert res.fixed_effects == ("city", "year")
    assert res.controls is True
    assert res.vcov == "CRV1 by city_id (60 clusters)"
    assert res.dof_resid == 59
    assert res.extra["entities"] == 60 and res.extra["periods"] == 10
    assert res.spec["controls"] == ("x1", "x2") and res.spec["vcov"] == {"CRV1": "city_id"}
    no_ctrl = did.twfe(d,
                       yname="Inno", dname="CBEC", vcov={"CRV1": "city_id"}, idname="city_id", tname="year")
    assert no_ctrl.controls is False and list(no_ctrl.params.index) == ["CBEC"]
    assert no_ctrl.n_dropped == 2                                  # only Inno's NaNs matter
    assert "CBEC" in res.summary() and res.coef("CBEC")["nobs"] == res.nobs


def test_sample_argument():
    d = make_panel(8)
    a = _fit(d, sample="province != 0")
    b = _fit(d, sample=d["province"] != 0)
    c = _fit(d[d["province"] != 0])
    np.testing.assert_allclose(a.params, c.params, rtol=1e-12)
    np.testing.assert_allclose(b.std_errors, c.std_errors, rtol=1e-12)
    assert a.extra["n_excluded_by_sample"] == 50 and a.n_dropped == 0


# ------------------------------------------------------------- known truth
@pytest.mark.parametrize("seed", range(5))
def test_twfe_recovers_homogeneous_effect(seed):
    d = make_panel(100 + seed, n_units=80, effect=0.7)
    res = _fit(d)
    est, se = res.params["CBEC"], res.std_errors["CBEC"]
    assert abs(est - 0.7) < 3 * se, (est, se)


# ------------------------------------------------------------------- errors
def test_bad_vcov_lists_valid_options():
    d = make_panel(9)
    for bad in ("cluster", {"CRV3": "city_id"}, {"CRV1": "city_id", "x": 1}, None):
        with pytest.raises(ValueError, match=r"valid values are .*CRV1.*hetero.*iid"):
            _fit(d, vcov=bad)


def test_missing_column_is_named():
    d = make_panel(9)
    with pytest.raises(KeyError, match="lnpop"):
        _fit(d, controls=["x1", "lnpop"])
    with pytest.raises(KeyError, match="city"):
        _fit(d, vcov={"CRV1": "city"})


def test_constant_regressor_and_duplicates_raise():
    d = make_panel(9)
    d["const"] = 1.0
    with pytest.raises(ValueError, match="'const' is constant"):
        _fit(d, controls=["x1", "const"])
    with pytest.raises(ValueError, match="absorbed"):
        _fit(d, controls=["x1", "province"])                  # time-invariant: absorbed
    with pytest.raises(ValueError, match="duplicate"):
        _fit(pd.concat([d, d.iloc[:3]]))


# ------------------------------------------------------------- selection logit
@pytest.fixture(scope="module")
def sel():
    rng = np.random.default_rng(11)
    n, T = 120, 8
    d = pd.DataFrame({"city_id": np.repeat(np.arange(n), T), "year": np.tile(np.arange(2010, 2018), n)})
    z = rng.normal(size=(n, 3))
    for j in range(3):
        d[f"z{j}"] = z[d["city_id"], j] + 0.3 * rng.normal(size=len(d))
    p = 1 / (1 + np.exp(-(-0.5 + 0.8 * z[:, 0] - 0.5 * z[:, 1])))
    d["treated"] = (rng.uniform(size=n) < p).astype(int)[d["city_id"]]
    d.loc[[4, 9], "z2"] = np.nan
    return d


@pytest.mark.parametrize("kind", ["logit", "probit"])
def test_selection_logit_equals_statsmodels(sel, kind):
    cov = ["z0", "z1", "z2"]
    res = did.selection_logit(sel, treated="treated", covariates=cov, kind=kind,
                              vcov={"CRV1": "city_id"}, idname="city_id", tname="year")
    cc = sel.dropna(subset=cov)
    Model = sm.Logit if kind == "logit" else sm.Probit
    ref = Model(cc["treated"], sm.add_constant(cc[cov])).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": cc["city_id"]})
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-8)
    np.testing.assert_allclose(res.std_errors, ref.bse, rtol=1e-8)
    np.testing.assert_allclose(res.r2, ref.prsquared, rtol=1e-10)
    assert res.r2_kind == "pseudo" and res.dof_resid is None
    assert res.n_dropped == 2 and res.drop_reasons == {"z2": 2}
    me = res.extra["marginal_effects"]
    assert list(me.columns) == ["dy/dx", "s.e.", "z", "p"] and list(me.index) == cov
    ref_me = ref.get_margeff(at="overall").summary_frame()
    np.testing.assert_allclose(me["dy/dx"], ref_me["dy/dx"], rtol=1e-8)
    np.testing.assert_allclose(me["s.e."], ref_me["Std. Err."], rtol=1e-8)
    assert res.vcov == "CRV1 by city_id (120 clusters)"


def test_selection_logit_period_cross_section(sel):
    res = did.selection_logit(sel, treated="treated", covariates=["z0", "z1"], period=2012,
                              vcov="hetero", idname="city_id", tname="year")
    assert res.nobs == 120 and res.spec["period"] == 2012
    with pytest.raises(ValueError, match="no rows with year == 1990"):
        did.selection_logit(sel, covariates=["z0"], period=1990, vcov="iid",
                            treated="treated", idname="city_id", tname="year")


def test_selection_logit_errors(sel):
    d = sel.copy()
    d["flat"] = 2.0
    with pytest.raises(ValueError, match="'flat' is constant"):
        did.selection_logit(d, covariates=["z0", "flat"],
                            vcov={"CRV1": "city_id"}, treated="treated", idname="city_id", tname="year")
    d["leak"] = d["treated"] * 10.0 + np.random.default_rng(0).uniform(size=len(d))
    with pytest.raises(ValueError, match="'leak' perfectly predicts 'treated'"):
        did.selection_logit(d, covariates=["z0", "leak"],
                            vcov={"CRV1": "city_id"}, treated="treated", idname="city_id", tname="year")
    d["y3"] = d["treated"] + 1
    with pytest.raises(ValueError, match="must be 0/1"):
        did.selection_logit(d, treated="y3", covariates=["z0"], vcov="iid", idname="city_id", tname="year")
    with pytest.raises(ValueError, match="valid values"):
        did.selection_logit(d, covariates=["z0"], vcov="bootstrap",
                            treated="treated", idname="city_id", tname="year")
    with pytest.raises(KeyError, match="Popu"):
        did.selection_logit(d, covariates=["Popu"], vcov="iid",
                            treated="treated", idname="city_id", tname="year")


def test_twfe_with_regression_weights_equals_pyfixest_and_statsmodels_wls(df):
    import pyfixest as pf
    import statsmodels.formula.api as smf

    d = df.assign(w=np.random.default_rng(5).uniform(0.5, 3.0, len(df)))
    res = did.twfe(d, yname="Inno", dname="CBEC", controls=["x1", "x2"], idname="city_id", tname="year",
                   vcov={"CRV1": "city_id"}, weights="w")
    # pyfixest demeans iteratively: at its default tolerance (1e-8) the weighted unbalanced fit
    # agrees to about 1e-8 only, so the oracle runs to 1e-12
    ref = pf.feols("Inno ~ CBEC + x1 + x2 | city_id + year", d, vcov={"CRV1": "city_id"}, weights="w",
                   ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="conventional"),
                   fixef_tol=1e-12)
    np.testing.assert_allclose(res.params, ref.coef()[res.params.index], rtol=1e-8)
    np.testing.assert_allclose(res.std_errors, ref.se()[res.params.index], rtol=1e-8)
    cc = d.dropna(subset=["Inno", "CBEC", "x1", "x2"])
    wls = smf.wls("Inno ~ CBEC + x1 + x2 + C(city_id) + C(year)", cc, weights=cc["w"]).fit()
    np.testing.assert_allclose(res.params, wls.params[res.params.index], rtol=1e-8)
    assert res.extra["r2_inclusive"] == pytest.approx(wls.rsquared, rel=1e-8)
    bad = d.assign(w=d["w"].where(d.index != d.index[4], -1.0))
    with pytest.raises(ValueError, match="weights 'w' must be positive"):
        did.twfe(bad, yname="Inno", dname="CBEC", idname="city_id", tname="year", vcov="iid", weights="w")


def test_twfe_on_repeated_cross_sections_equals_pyfixest():
    import pyfixest as pf

    rng = np.random.default_rng(8)
    states, years = np.arange(12), np.arange(2000, 2008)
    rows = [(s, t, i) for s in states for t in years for i in range(int(rng.integers(3, 7)))]
    d = pd.DataFrame(rows, columns=["state", "year", "person"])
    adopt = dict(zip(states, [2003, 2003, 2005, 2005, 2006] + [None] * 7))
    d["D"] = [int(adopt[s] is not None and t >= adopt[s]) for s, t in zip(d["state"], d["year"])]
    d["age"] = rng.normal(40, 10, len(d))
    d["y"] = 0.3 * d["D"] + 0.01 * d["age"] + 0.1 * d["state"] + 0.05 * (d["year"] - 2000) + rng.normal(size=len(d))
    with pytest.raises(ValueError, match="repeated_cross_sections=True"):
        did.twfe(d, yname="y", dname="D", controls=["age"], idname="state", tname="year", vcov={"CRV1": "state"})
    res = did.twfe(d, yname="y", dname="D", controls=["age"], idname="state", tname="year",
                   vcov={"CRV1": "state"}, repeated_cross_sections=True)
    ref = pf.feols("y ~ D + age | state + year", d, vcov={"CRV1": "state"},
                   ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="conventional"),
                   fixef_tol=1e-12)
    np.testing.assert_allclose(res.params, ref.coef()[res.params.index], rtol=1e-8)
    np.testing.assert_allclose(res.std_errors, ref.se()[res.params.index], rtol=1e-8)
    assert res.nobs == len(d)
