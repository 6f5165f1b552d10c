"""The code paths of the two-way FE engine (lib.methods.panel._TwoWay) give the same numbers.

The engine picks a path from the sample's shape: the closed form on a balanced unweighted
panel (an ``E x T`` reshape when the rows are sorted by unit and period, group sums by code
otherwise), the Frisch-Waugh-Lovell normal equations of the smaller dimension on unbalanced,
weighted or disconnected panels (dense or sparse unit-by-period counts), and contiguous
(``reduceat``) or scattered (``bincount``) group sums. Each is held to a dense dummy
regression (1e-10 absolute) and ``twfe`` on each to pyfixest (``nonnested`` K) and
linearmodels (``full`` K) to 1e-10 relative, with and without weights. No timings here: those
are in ``benchmarks/twfe_scale.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.methods import did, panel

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

CONTROLS = ["x1", "x2", "x3"]


def make_panel(seed=0, n_units=40, n_years=8, *, drop=0.0, shuffle=False):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"unit": np.repeat(np.arange(n_units), n_years),
                       "year": np.tile(np.arange(2000, 2000 + n_years), n_units)})
    adopt = rng.choice([2002, 2004, 2005, 9999], n_units)
    alpha = rng.normal(size=n_units)
    u = df["unit"].to_numpy()
    df["D"] = (df["year"] >= adopt[u]).astype(float)
    for j, c in enumerate(CONTROLS):
        df[c] = rng.normal(size=len(df)) + 0.5 * alpha[u] + 0.1 * j * df["D"]
    df["y"] = (0.7 * df["D"] + df[CONTROLS].to_numpy() @ [0.3, -0.2, 0.1] + alpha[u]
               + 0.1 * (df["year"] - 2000) + rng.normal(size=len(df)))
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    if drop:
        df = df.loc[rng.random(len(df)) >= drop]
        df = df[df.groupby("unit")["unit"].transform("size") > 1]
    if shuffle:
        df = df.sample(frac=1.0, random_state=seed)
    return df.reset_index(drop=True)


def dummy_residuals(X, unit, time, w=None):
    """Residuals of (weighted) least squares on unit and period dummies."""
    uc, tc = pd.factorize(unit)[0], pd.factorize(time)[0]
    D = np.column_stack([np.eye(uc.max() + 1)[uc], np.eye(tc.max() + 1)[tc]])
    rw = np.ones(len(uc)) if w is None else np.sqrt(w)
    beta = np.linalg.lstsq(rw[:, None] * D, rw[:, None] * X, rcond=None)[0]
    return X - D @ beta


SHAPES = {
    "balanced sorted (E x T reshape)": dict(),
    "balanced shuffled": dict(shuffle=True),
    "unbalanced sorted (reduceat)": dict(drop=0.2),
    "unbalanced shuffled (bincount)": dict(drop=0.2, shuffle=True),
}


def _design(df, w=None):
    cu, nu = panel.codes(df["unit"])
    ct, nt = panel.codes(df["year"])
    return panel._TwoWay(cu, nu, ct, nt, w)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", SHAPES)
def test_demean_paths_equal_dummy_regression(shape, weighted):
    df = make_panel(1, **SHAPES[shape])
    w = df["w"].to_numpy() if weighted else None
    X = df[["y", "D", *CONTROLS]].to_numpy()
    design = _design(df, w)
    assert design.balanced == ("drop" not in SHAPES[shape])
    assert design.grid == (shape.startswith("balanced sorted"))
    assert design.u.sorted == ("shuffle" not in SHAPES[shape])
    got = panel.demean(X, df["unit"], df["year"], weights=w)
    np.testing.assert_allclose(got, dummy_residuals(X, df["unit"], df["year"], w), atol=1e-10,
                               rtol=0)


def test_demean_more_periods_than_units_disconnected_and_sparse_counts(monkeypatch):
    """T > E (the units become the projected dimension), two disconnected blocks (one level
    per component fixed), and the sparse unit-by-period counts of very sparse panels."""
    df = make_panel(2, n_units=6, n_years=30, drop=0.3)
    df.loc[df["unit"] >= 3, "year"] += 100  # units 3-5 share no year with units 0-2
    w = df["w"].to_numpy()
    X = df[["y", "D", "x1"]].to_numpy()
    ref = dummy_residuals(X, df["unit"], df["year"], w)
    design = _design(df, w)
    assert design.n_components() == 2 and not design.balanced
    np.testing.assert_allclose(panel.demean(X, df["unit"], df["year"], weights=w), ref,
                               atol=1e-10, rtol=0)
    monkeypatch.setattr(panel, "_DENSE_COUNTS_FLOOR", 0)  # force the sparse counts
    monkeypatch.setattr(panel, "_DENSE_COUNTS_PER_ROW", 0)
    np.testing.assert_allclose(panel.demean(X, df["unit"], df["year"], weights=w), ref,
                               atol=1e-10, rtol=0)
    assert panel.fe_dof_k(1, df["unit"], df["year"], k_fixef="full") == 1 + 6 + df["year"].nunique() - 2


def test_fe_ols_is_invariant_to_row_order():
    df = make_panel(3, drop=0.15)
    perm = np.random.default_rng(0).permutation(len(df))
    for w in (None, "w"):
        a = panel.fe_ols(df["y"], df[["D", *CONTROLS]], df["unit"], df["year"], df["unit"],
                         weights=None if w is None else df[w])
        s = df.iloc[perm]
        b = panel.fe_ols(s["y"], s[["D", *CONTROLS]], s["unit"], s["year"], s["unit"],
                         weights=None if w is None else s[w])
        np.testing.assert_allclose(a.params, b.params, rtol=1e-10)
        np.testing.assert_allclose(a.cov, b.cov, rtol=1e-10)
        np.testing.assert_allclose(a.resid[perm], b.resid, atol=1e-10)
        assert a.dof_k == b.dof_k


def _twfe(df, **kw):
    return did.twfe(df, yname="y", dname="D", controls=CONTROLS, idname="unit", tname="year",
                    vcov={"CRV1": "unit"}, **kw)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", SHAPES)
def test_twfe_paths_equal_pyfixest(shape, weighted):
    import pyfixest as pf

    df = make_panel(4, **SHAPES[shape])
    res = _twfe(df, weights="w" if weighted else None)
    ref = pf.feols("y ~ D + x1 + x2 + x3 | unit + year", df, vcov={"CRV1": "unit"},
                   weights="w" if weighted else None,
                   demeaner=pf.MapDemeaner(fixef_tol=1e-14),
                   ssc=pf.ssc(k_adj=True, k_fixef="nonnested", G_adj=True, G_df="conventional"))
    terms = ["D", *CONTROLS]
    np.testing.assert_allclose(res.params[terms], ref.coef()[terms], rtol=1e-10)
    np.testing.assert_allclose(res.std_errors[terms], ref.se()[terms], rtol=1e-10)
    np.testing.assert_allclose(res.r2, ref._r2_within, rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", SHAPES)
def test_twfe_paths_equal_linearmodels(shape, weighted):
    from linearmodels import PanelOLS

    df = make_panel(5, **SHAPES[shape])
    res = _twfe(df, weights="w" if weighted else None, k_fixef="full")
    p = df.set_index(["unit", "year"])
    ref = PanelOLS(p["y"], p[["D", *CONTROLS]], entity_effects=True, time_effects=True,
                   weights=p["w"] if weighted else None).fit(
        cov_type="clustered", cluster_entity=True, debiased=True, group_debias=True)
    terms = ["D", *CONTROLS]
    np.testing.assert_allclose(res.params[terms], ref.params[terms], rtol=1e-10)
    np.testing.assert_allclose(res.std_errors[terms], ref.std_errors[terms], rtol=1e-10)


def test_estimation_rows_matches_estimation_frame_and_finds_duplicates_in_sparse_panels():
    df = make_panel(6, drop=0.2, shuffle=True)
    df.loc[[3, 8, 40], "x1"] = np.nan
    rows, reasons, (cu, nu), (ct, nt) = did.estimation_rows(
        df, ["y", "D", *CONTROLS, "unit", "year"], idname="unit", tname="year", fn="t")
    frame, reasons_f = did.estimation_frame(df, ["y", "D", *CONTROLS, "unit", "year"],
                                            idname="unit", tname="year", fn="t")
    assert reasons == reasons_f and reasons["x1"] == 3
    pd.testing.assert_index_equal(df.index[rows], frame.index)
    np.testing.assert_array_equal(cu, panel.codes(frame["unit"])[0])
    assert (nu, nt) == (frame["unit"].nunique(), frame["year"].nunique())
    # many units x many periods, few rows: the duplicate check sorts instead of counting cells
    rng = np.random.default_rng(0)
    sparse_panel = pd.DataFrame({"unit": np.repeat(np.arange(500), 2),
                                 "year": rng.choice(100_000, 1000, replace=False), "y": 1.0})
    sparse_panel = pd.concat([sparse_panel, sparse_panel.iloc[[10]]])
    with pytest.raises(ValueError, match="1 duplicate"):
        did.estimation_rows(sparse_panel, ["y", "unit", "year"], idname="unit", tname="year",
                            fn="t", drop_singletons=False)
