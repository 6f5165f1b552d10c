"""Wild cluster bootstrap and Driscoll-Kraay s.e. (lib.methods.inference)."""

import numpy as np
import pandas as pd
import pytest

from lib.methods.did import twfe
from lib.methods.inference import bootstrap_weights, driscoll_kraay, wild_cluster_bootstrap
from lib.methods.panel import within_transform


def _panel(beta=0.5, n=20, T=8, seed=0):
    rng = np.random.default_rng(seed)
    i, t = np.repeat(np.arange(n), T), np.tile(np.arange(T), n)
    d = rng.standard_normal(n * T) + np.repeat(rng.standard_normal(n), T)
    x = rng.standard_normal(n * T)
    y = beta * d + 0.3 * x + np.repeat(rng.standard_normal(n), T) + np.tile(rng.standard_normal(T), n) \
        + rng.standard_normal(n * T) + np.repeat(0.5 * rng.standard_normal(n), T) * rng.standard_normal(n * T)
    return pd.DataFrame({"i": i, "t": t, "y": y, "d": d, "x": x})


def test_observed_t_matches_twfe_crv1():
    df = _panel()
    wb = wild_cluster_bootstrap(df, yname="y", dname="d", idname="i", tname="t", controls=["x"], reps=9)
    ref = twfe(df, yname="y", dname="d", idname="i", tname="t", controls=["x"], vcov={"CRV1": "i"}).coef("d")
    assert wb.estimate == pytest.approx(ref["estimate"], rel=1e-10)
    assert wb.std_error == pytest.approx(ref["std_error"], rel=1e-8)
    assert wb.p_analytic == pytest.approx(ref["p"], rel=1e-6)


def test_bootstrap_t_matches_reference_loop():
    df = _panel(beta=0.0, seed=1)
    reps, seed = 25, 7
    wb = wild_cluster_bootstrap(df, yname="y", dname="d", idname="i", tname="t", controls=["x"],
                                reps=reps, seed=seed, weights="webb")
    # reference: refit twfe on each bootstrap sample built from the restricted fit
    W = within_transform(df, ["y", "d", "x"], "i", "t")
    y, X = W[:, 0], W[:, 1:]
    g = np.polyfit(X[:, 1], y, 1)[0]          # restricted: y ~ x (within data, mean zero)
    fit, u = g * X[:, 1], y - g * X[:, 1]
    w = bootstrap_weights(df["i"].nunique(), reps, kind="webb", seed=seed)
    for b in range(5):
        star = df.assign(y=fit + u * w[df["i"].to_numpy(), b])
        c = twfe(star, yname="y", dname="d", idname="i", tname="t", controls=["x"], vcov={"CRV1": "i"}).coef("d")
        assert wb.t_boot[b] == pytest.approx(c["t"], rel=1e-6)


def test_rademacher_p_value_rejects_true_effect_and_not_null():
    alt = wild_cluster_bootstrap(_panel(beta=0.8, seed=2), yname="y", dname="d", idname="i", tname="t",
                                 controls=["x"], reps=199, seed=3)
    assert alt.p_boot < 0.01
    nul = wild_cluster_bootstrap(_panel(beta=0.0, seed=4), yname="y", dname="d", idname="i", tname="t",
                                 controls=["x"], reps=199, seed=3)
    assert nul.p_boot > 0.05
    assert set(np.unique(bootstrap_weights(5, 50, seed=1))) == {-1.0, 1.0}
    with pytest.raises(ValueError, match="webb"):
        bootstrap_weights(5, 5, kind="mammen")


def test_driscoll_kraay_matches_linearmodels_kernel():
    from linearmodels import PanelOLS

    df = _panel(seed=5).sort_values(["i", "t"])
    dk = driscoll_kraay(df, yname="y", dname="d", idname="i", tname="t", controls=["x"], bandwidth=2)
    p = df.set_index(["i", "t"])
    lm = PanelOLS(p["y"], p[["d", "x"]], entity_effects=True, time_effects=True).fit(
        cov_type="kernel", kernel="bartlett", bandwidth=2)
    np.testing.assert_allclose(dk.params.to_numpy(), lm.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(dk.std_errors.to_numpy(), lm.std_errors.to_numpy(), rtol=1e-8)
    assert dk.extra["bandwidth"] == 2 and dk.nobs == len(df)


def test_p_value_is_strict_exceedance_and_printed_never_as_zero():
    df = _panel(beta=0.1, seed=6)
    wb = wild_cluster_bootstrap(df, yname="y", dname="d", idname="i", tname="t", controls=["x"],
                                reps=199, seed=1)
    assert 0 < wb.p_boot < 1
    assert wb.p_boot == np.mean(np.abs(wb.t_boot) > abs(wb.t))
    strong = wild_cluster_bootstrap(_panel(beta=3.0, seed=6), yname="y", dname="d", idname="i", tname="t",
                                    controls=["x"], reps=199, seed=1)
    assert strong.p_boot == 0 and strong.p_text == "< 0.005"
    assert wb.p_text == f"{wb.p_boot:.4f}"


def test_interval_inverts_the_test():
    """At the bounds the p-value of H0: beta = b0 crosses 1 - level: just inside it is above,
    just outside at or below; testing b0 is testing 0 on the outcome y - b0 * d (same draws)."""
    df = _panel(beta=0.4, seed=8)
    kw = dict(dname="d", idname="i", tname="t", controls=["x"], reps=399, seed=5)
    wb = wild_cluster_bootstrap(df, yname="y", **kw)
    assert wb.ci_lower < wb.estimate < wb.ci_upper
    eps = 1e-3 * wb.std_error
    for bound, inward in ((wb.ci_lower, 1.0), (wb.ci_upper, -1.0)):
        inside = wild_cluster_bootstrap(df.assign(y0=df["y"] - (bound + inward * eps) * df["d"]), yname="y0", **kw)
        outside = wild_cluster_bootstrap(df.assign(y0=df["y"] - (bound - inward * eps) * df["d"]), yname="y0", **kw)
        assert inside.p_boot > 0.05 >= outside.p_boot
    # about the CRV1 interval's width when the clusters are many and balanced
    assert 0.6 < (wb.ci_upper - wb.ci_lower) / (2 * 2.09 * wb.std_error) < 1.5


def test_dof_and_default_weights_follow_the_panel():
    df = _panel(n=10, seed=9)
    by_unit = wild_cluster_bootstrap(df, yname="y", dname="d", idname="i", tname="t", controls=["x"], reps=9)
    assert by_unit.weights == "webb" and by_unit.dof_k == 2 + 8        # G = 10 < 13; K = k + T
    by_year = wild_cluster_bootstrap(_panel(n=30, T=14, seed=9), yname="y", dname="d", idname="i", tname="t",
                                     controls=["x"], cluster="t", reps=9)
    assert by_year.weights == "rademacher" and by_year.dof_k == 2 + 30   # year effects nested: K = k + E
    ref = twfe(_panel(n=30, T=14, seed=9), yname="y", dname="d", idname="i", tname="t", controls=["x"],
               vcov={"CRV1": "t"}).coef("d")
    assert by_year.std_error == pytest.approx(ref["std_error"], rel=1e-8)


@pytest.mark.parametrize("kind", ["rademacher", "webb"])
def test_wild_bootstrap_agrees_with_diff_diff_within_monte_carlo_error(kind):
    """diff-diff's wild_bootstrap_se (WCR, null imposed, CI by inversion) on the same regression
    written with unit and year dummies: p-values within 4 Monte-Carlo s.e. of their difference
    at B = 9,999, interval bounds within 3 % of the interval's width (different random draws)."""
    from diff_diff.utils import wild_bootstrap_se

    df = _panel(beta=0.15, n=20, seed=11)
    B = 9999
    ours = wild_cluster_bootstrap(df, yname="y", dname="d", idname="i", tname="t", controls=["x"],
                                  reps=B, weights=kind, seed=3)
    X = np.column_stack([df[["d", "x"]].to_numpy(), pd.get_dummies(df["i"], dtype=float).to_numpy(),
                         pd.get_dummies(df["t"], drop_first=True, dtype=float).to_numpy()])
    y = df["y"].to_numpy()
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    ref = wild_bootstrap_se(X, y, resid, df["i"].to_numpy(), 0, n_bootstrap=B, weight_type=kind, seed=3)
    mc = np.sqrt(2 * ref.p_value * (1 - ref.p_value) / B)
    assert abs(ours.p_boot - ref.p_value) < 4 * mc
    width = ref.ci_upper - ref.ci_lower
    assert abs(ours.ci_lower - ref.ci_lower) < 0.03 * width
    assert abs(ours.ci_upper - ref.ci_upper) < 0.03 * width
