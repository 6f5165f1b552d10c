"""Tests of lib.methods.heterogeneity (the paper's Tables 7-10).

References and tolerances:

* statsmodels OLS with city and year dummies, ``cov_type="cluster"``: point
  estimates to 1e-8. Its K counts every effect (k + E + T - 1); ``lib.methods.did.twfe``
  uses reghdfe's K = k + T (city effects nested in city clusters), so the s.e.
  differ by the known factor sqrt((N - K_full) / (N - K_nested)), checked to 1e-8.
* The Wald test of equal group effects against statsmodels' ``wald_test`` on
  the same model, rescaled by the same factor, to 1e-8.
* Known truth: on generator draws with no effect heterogeneity the test does
  not reject at 5 %; with strong heterogeneity by industrial structure it does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from lib.book import heterogeneity as HB
from lib.methods import heterogeneity as H
from lib.data import groups as G, synthetic
from lib.data.facts import sample_frame

VCOV = {"CRV1": "city_id"}


def make_panel(seed=0, n_units=60, n_years=8):
    """Staggered panel with a group-specific effect: 1.0 in group A, 0.3 in B, 0.6 in C."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"city_id": np.repeat(np.arange(n_units), n_years),
                       "year": np.tile(np.arange(2010, 2010 + n_years), n_units)})
    city = df["city_id"].to_numpy()
    grp = np.array(["A", "B", "C"])[np.arange(n_units) % 3]
    cohort = rng.choice([2012, 2014, 2015, 9999], n_units)
    df["grp"] = grp[city]
    df["CBEC"] = (df["year"] >= cohort[city]).astype(float)
    df["x1"] = rng.normal(size=len(df)) + 0.3 * rng.normal(size=n_units)[city]
    effect = pd.Series({"A": 1.0, "B": 0.3, "C": 0.6})[df["grp"]].to_numpy()
    df["Inno"] = (effect * df["CBEC"] + 0.5 * df["x1"] + rng.normal(size=n_units)[city]
                  + 0.1 * (df["year"] - 2010) + rng.normal(scale=0.5, size=len(df)))
    return df


def sm_fit(df, formula):
    return smf.ols(formula, data=df).fit(cov_type="cluster",
                                         cov_kwds={"groups": df["city_id"].to_numpy()})


def se_factor(n, k, E, T):
    """s.e.(twfe, K = k + T) / s.e.(statsmodels dummies, K = k + E + T - 1)."""
    return np.sqrt((n - (k + E + T - 1)) / (n - (k + T)))


@pytest.fixture(scope="module")
def panel():
    return make_panel()


@pytest.fixture(scope="module")
def ge(panel):
    return H.group_effects(panel, yname="Inno", dname="CBEC", group="grp", controls=["x1"],
                           vcov=VCOV, idname="city_id", tname="year")


def test_interaction_regressions_match_statsmodels(panel, ge):
    df = panel.copy()
    n, E, T = len(df), df["city_id"].nunique(), df["year"].nunique()
    for lev in ("A", "B", "C"):
        df["g_d"] = (df["grp"] == lev) * df["CBEC"]
        ref = sm_fit(df, "Inno ~ g_d + x1 + C(city_id) + C(year)")
        res = ge.interaction[lev]
        term = H.interaction_term(lev, "CBEC")
        assert res.nobs == n
        np.testing.assert_allclose(res.params[term], ref.params["g_d"], rtol=1e-8)
        np.testing.assert_allclose(res.std_errors[term],
                                   ref.bse["g_d"] * se_factor(n, 2, E, T), rtol=1e-8)


def test_subsample_regressions_match_statsmodels(panel, ge):
    for lev in ("A", "B", "C"):
        df = panel[panel["grp"] == lev]
        n, E, T = len(df), df["city_id"].nunique(), df["year"].nunique()
        ref = sm_fit(df, "Inno ~ CBEC + x1 + C(city_id) + C(year)")
        res = ge.subsamples[lev]
        assert res.nobs == n
        np.testing.assert_allclose(res.params["CBEC"], ref.params["CBEC"], rtol=1e-8)
        np.testing.assert_allclose(res.std_errors["CBEC"],
                                   ref.bse["CBEC"] * se_factor(n, 2, E, T), rtol=1e-8)


def test_interacted_model_and_wald_match_statsmodels(panel, ge):
    df = panel.copy()
    for lev in ("A", "B", "C"):
        df[f"d_{lev}"] = (df["grp"] == lev) * df["CBEC"]
    ref = sm_fit(df, "Inno ~ d_A + d_B + d_C + x1 + C(city_id) + C(year)")
    n, E, T = len(df), df["city_id"].nunique(), df["year"].nunique()
    for lev in ("A", "B", "C"):
        np.testing.assert_allclose(ge.interacted.params[H.interaction_term(lev, "CBEC")],
                                   ref.params[f"d_{lev}"], rtol=1e-8)
    w_sm = ref.wald_test("d_A = d_B, d_B = d_C", scalar=True, use_f=False).statistic
    w_ours = float(w_sm) / se_factor(n, 4, E, T) ** 2
    np.testing.assert_allclose(ge.wald["chi2"], w_ours, rtol=1e-8)
    assert ge.wald["df"] == 2 and ge.wald["df_denom"] == df["city_id"].nunique() - 1
    np.testing.assert_allclose(ge.wald["statistic"], ge.wald["chi2"] / 2, rtol=1e-12)


def test_pairwise_wald_matches_statsmodels(panel, ge):
    df = panel.copy()
    for lev in ("A", "B", "C"):
        df[f"d_{lev}"] = (df["grp"] == lev) * df["CBEC"]
    ref = sm_fit(df, "Inno ~ d_A + d_B + d_C + x1 + C(city_id) + C(year)")
    n, E, T = len(df), df["city_id"].nunique(), df["year"].nunique()
    w_sm = float(ref.wald_test("d_A = d_C", scalar=True, use_f=False).statistic)
    pw = ge.pairwise("A", "C")
    np.testing.assert_allclose(pw["chi2"], w_sm / se_factor(n, 4, E, T) ** 2, rtol=1e-8)
    np.testing.assert_allclose(pw["difference"], ref.params["d_A"] - ref.params["d_C"], rtol=1e-8)
    np.testing.assert_allclose(pw["statistic"], (pw["difference"] / pw["std_error"]) ** 2,
                               rtol=1e-10)
    assert pw["df"] == 1 and pw["df_denom"] == E - 1
    with pytest.raises(KeyError, match="not estimated"):
        ge.pairwise("A", "Z")


def test_wald_equal_hand_computation():
    params = pd.Series({"a": 1.0, "b": 0.0})
    cov = pd.DataFrame([[0.04, 0.0], [0.0, 0.05]], index=["a", "b"], columns=["a", "b"])
    w = H.wald_equal(params, cov, ["a", "b"], dof_resid=None)
    assert w["chi2"] == pytest.approx(1.0 / 0.09)  # (1 - 0)^2 / (0.04 + 0.05)
    assert w["p"] == pytest.approx(w["p_chi2"])


def test_tidy_table_and_plot(ge):
    tid = ge.tidy()
    assert set(tid["method"]) == {"interaction", "subsample", "interacted"}
    assert len(tid) == 9
    # the true effects 1.0 / 0.3 / 0.6 are ordered correctly by the interacted model
    est = tid[tid["method"] == "interacted"].set_index("level")["estimate"]
    assert est["A"] > est["C"] > est["B"]
    tab = ge.table(title="t")
    assert "A×CBEC" in tab.frame.index
    fig = ge.plot(truth={"A": 1.0, "B": 0.3, "C": 0.6}, paper={"A": 0.9})
    assert len(fig.axes[0].get_yticklabels()) == 9
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_errors_name_column_and_cities(panel):
    bad = panel.copy()
    bad.loc[bad["city_id"] == 3, "grp"] = np.nan
    with pytest.raises(ValueError, match=r"missing in 8 rows \(1 cities"):
        H.group_effects(bad,
                        yname="Inno", dname="CBEC", group="grp", vcov=VCOV, idname="city_id", tname="year")
    bad = panel.copy()
    bad.loc[(bad["city_id"] == 4) & (bad["year"] == 2010), "grp"] = "Z"
    with pytest.raises(ValueError, match="varies within 1 cities"):
        H.group_effects(bad,
                        yname="Inno", dname="CBEC", group="grp", vcov=VCOV, idname="city_id", tname="year")
    with pytest.raises(KeyError, match="nogroup"):
        H.group_effects(panel,
                        yname="Inno", dname="CBEC", group="nogroup", vcov=VCOV, idname="city_id", tname="year")
    with pytest.raises(KeyError, match="levels"):
        H.group_effects(panel,
                        yname="Inno", dname="CBEC", group="grp", levels=["Q"], vcov=VCOV, idname="city_id", tname="year")


def test_classifications_reproduce_panel_columns():
    frame = pd.DataFrame({"city_id": [1, 1, 2, 2, 3, 3], "year": [2010, 2011] * 3,
                          "secondary_share": [0.5, 0.3, 0.3, 0.6, 0.4, 0.4],
                          "tertiary_share": [0.4, 0.6, 0.6, 0.3, 0.41, 0.4],
                          "urban_pop": [500.0, 10, 499.9, 900, 1200, 1]})
    assert G.classify_industry(frame,
                               idname="city_id", tname="year").to_dict() == {1: "secondary", 2: "tertiary", 3: "tertiary"}
    assert G.classify_city_size(frame,
                                idname="city_id", tname="year").to_dict() == {1: "megacity", 2: "large_medium",
                                                     3: "megacity"}
    with pytest.raises(ValueError, match="no year == 2010 row"):
        G.classify_industry(frame[frame["year"] == 2011], idname="city_id", tname="year")


@pytest.fixture(scope="module")
def city_frame():
    return sample_frame()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_wald_known_truth(city_frame, seed):
    """No heterogeneity: no rejection; strong heterogeneity (x3): rejection, on each seed."""
    out = {}
    for het in (0.0, 3.0):
        p, truth = synthetic.simulate_city_panel(
            city_frame, synthetic.SyntheticParams(heterogeneity=het, dynamics=0.0), seed=seed)
        out[het] = H.group_effects(p,
                                   yname="Inno", dname="CBEC", group="industry", vcov=VCOV, idname="city_id", tname="year")
        if het == 0.0:
            true = truth.att_by_group["industry"]
            assert true.max() - true.min() < 1e-12
    assert out[0.0].wald["p"] > 0.05
    assert out[3.0].wald["p"] < 0.001


def test_published_group_effects_map_paper_terms():
    size = HB.published_group_effects("city_size")
    assert list(size) == ["megacity", "large_medium"]
    assert size["large_medium"]["estimate"] == pytest.approx(-0.00438)
    assert size["megacity"]["stat"] == pytest.approx(8.53)
    assert HB.published_group_effects("region")["Central"]["term"] == "Mid*CBEC"
    with pytest.raises(KeyError, match="no printed table"):
        HB.published_group_effects("cohort")


def test_comparison_table_and_skipped_levels(panel, ge):
    tab = ge.comparison_table(paper={"A": 0.9}, truth={"A": 1.0, "B": 0.3, "C": 0.6})
    data = tab.data
    assert data.loc["A×CBEC (as printed)", "paper"] == 0.9
    assert data.loc["B×CBEC (interacted model)", "truth"] == 0.3
    np.testing.assert_allclose(data.loc["C×CBEC (interacted model)", "book"],
                               ge.interacted.params["C×CBEC"])
    d = panel.copy()
    d.loc[d["grp"] == "C", "CBEC"] = 0.0   # group C never treated: reported as skipped
    g2 = H.group_effects(d,
                         yname="Inno", dname="CBEC", group="grp", vcov=VCOV, idname="city_id", tname="year")
    assert g2.levels == ("A", "B") and "C" in g2.skipped and g2.wald["df"] == 1
