"""The book's estimators against numbers computed by other software, committed under
``tests/goldens`` with the scripts that made them and the versions used (the tests never need R).

Regenerate with ``Rscript tests/goldens/psm_matching.R`` (and the other scripts there); each
output is computed on the shipped panel ``data/derived/cbec_city_panel.csv``, whose MD5 the
versions file records.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib import ROOT
from lib.methods import psm

GOLDENS = Path(__file__).parent / "goldens"
PANEL = ROOT / "data" / "derived" / "cbec_city_panel.csv"
MATCHING_VARIABLES = ["lnpop", "lnaca", "lngdp", "Infra", "lngov", "Urban", "Incoms", "lninter"]


def golden(name: str) -> pd.DataFrame:
    return pd.read_csv(GOLDENS / name)


@pytest.fixture(scope="module")
def score():
    d = pd.read_csv(PANEL)
    return psm.propensity_score(d, treatment="CBEC", covariates=MATCHING_VARIABLES, outcome="Inno",
                                idname="city_id", tname="year", kind="probit")


def test_goldens_were_computed_on_the_shipped_panel():
    versions = golden("psm_versions.csv")
    assert set(versions["input_md5"]) == {hashlib.md5(PANEL.read_bytes()).hexdigest()}
    assert versions.set_index("software").loc["R", "version"].startswith("R version 4.2")


def test_probit_score_is_rs_glm(score):
    ref = golden("psm_score_coef.csv")
    ours = score.result.params
    assert list(ours.index[1:]) == list(ref["term"][1:])
    np.testing.assert_allclose(ours.to_numpy(), ref["estimate"].to_numpy(), rtol=1e-6, atol=1e-7)


def test_nn5_with_replacement_and_ties_is_matching_match(score):
    """R ``Matching::Match(M = 5, ties = TRUE, Var.calc = 2)``: the same ATT and weights to 1e-12;
    the Abadie-Imbens s.e. with R's conditional variance (the sample variance of a unit and its two
    nearest same-group neighbours) to 1e-10; the book's default, AI (2006) eq. 14 as Stata
    ``teffects`` computes it, differs by 2 %."""
    ref = golden("psm_nn5_ties.csv").iloc[0]
    r_like = psm.nn_match(score, k=5, ties="keep", conditional_variance="sample")
    assert r_like.att == pytest.approx(ref["estimate"], abs=1e-12)
    assert r_like.n_treated == ref["n_treated"]
    assert r_like.se == pytest.approx(ref["se_ai"], rel=1e-10)
    default = psm.nn_match(score, k=5)
    assert default.att == r_like.att and 0.95 < default.se / ref["se_ai"] < 0.99
    weights = golden("psm_nn5_weights.csv")
    ours = score.frame.assign(w=r_like.row_weights().to_numpy())[["city_id", "year", "w"]]
    both = weights.merge(ours[ours["w"] > 0], on=["city_id", "year"], how="outer", validate="1:1")
    assert len(both) == len(weights)
    np.testing.assert_allclose(both["w"], both["weight"], atol=1e-12)


@pytest.mark.parametrize("k", [1, 2])
def test_nn_without_replacement_is_matchings_greedy_matching(score, k):
    """Greedy, largest score first: the same pairs as ``Matching::Match(replace = FALSE)`` on rows
    sorted by descending score, and the same ATT."""
    pairs = golden(f"psm_nn{k}_noreplace_pairs.csv")
    ref = golden(f"psm_nn{k}_noreplace.csv").iloc[0]
    m = psm.nn_match(score, k=k, replace=False, order="largest")
    f = score.frame
    ids_t = f.loc[m.treated_index, ["city_id", "year"]].to_numpy()
    ids_c = f.loc[m.control_index, ["city_id", "year"]].to_numpy()
    rows, cols = np.nonzero(m.weights)
    ours = {(*ids_t[i], *ids_c[j]) for i, j in zip(rows, cols)}
    theirs = set(map(tuple, pairs[["treated_city", "treated_year", "control_city", "control_year"]].to_numpy()))
    assert ours == theirs and len(ours) == k * ref["n_treated"]
    assert m.att == pytest.approx(ref["estimate"], abs=1e-12)
    assert (m.weights.sum(axis=0) <= 1 / k + 1e-12).all()     # every control used at most once


def test_balance_smd_and_variance_ratio_are_matchits(score):
    ref = golden("psm_balance_matchit.csv").set_index(["variable", "sample"])
    ours = psm.balance_smd(psm.nn_match(score, k=5, ties="keep"))
    ref = ref.loc[ours.index]
    for mine, theirs in (("smd", "smd"), ("var_ratio", "var_ratio"), ("treated_mean", "mean_treated"),
                         ("control_mean", "mean_control")):
        np.testing.assert_allclose(ours[mine], ref[theirs], rtol=1e-10, atol=1e-12)


def test_mediation_paths_joint_clustered_covariance_is_sandwichs():
    """The a and b paths' clustered covariance (city dummies and year dummies in lm, sandwich
    vcovCL HC0 with G/(G-1)), and their cross-covariance from the stacked estimating equations,
    against lib.methods.mediation.path_scores on the same complete cases (1e-7 relative: the demeaning is iterative)."""
    from lib.methods import mediation
    from lib.methods.did import estimation_frame

    ref = golden("mediation_vcovcl.csv").iloc[0]
    versions = golden("mediation_versions.csv")
    assert set(versions["input_md5"]) == {hashlib.md5(PANEL.read_bytes()).hexdigest()}
    d = pd.read_csv(PANEL)
    kw = dict(yname="Inno", dname="CBEC", mediator="Diginf", idname="city_id", tname="year",
              controls=MATCHING_VARIABLES)
    med = mediation.three_step(d, vcov={"CRV1": "city_id"}, **kw)
    assert med.a == pytest.approx(ref["a"], rel=1e-9) and med.b == pytest.approx(ref["b"], rel=1e-9)
    assert med.nobs == ref["nobs"]
    frame, _ = estimation_frame(d, ["Inno", "CBEC", "Diginf", *MATCHING_VARIABLES, "city_id", "year"],
                                idname="city_id", tname="year", fn="test")
    S, info = mediation.path_scores(frame, cluster="city_id", **kw)
    V = info["G"] / (info["G"] - 1) * S.T @ S
    assert info["G"] == ref["clusters"]
    np.testing.assert_allclose([V[0, 0], V[1, 1], V[0, 1]], [ref["var_a"], ref["var_b"], ref["cov_ab"]], rtol=1e-7)
    # the result's covariance is the same cross-product with the two equations' CRV1 factors
    assert med.cov_ab == pytest.approx(V[0, 1] * med.se_a * med.se_b / np.sqrt(V[0, 0] * V[1, 1]), rel=1e-9)


def test_mediation_cluster_bootstrap_and_bca_are_boots():
    """R ``boot`` on the same panel (``mediation_bca.R``): fed R's own city draws, the vectorised
    bootstrap reproduces every replicate of a·b (R duplicates a city drawn twice as a relabelled
    copy; the book weights it); the leave-one-city-out jackknife gives boot's influence values
    ``empinf(type = "jack")``; and from those, :func:`lib.methods.inference.bca_interval` gives
    ``boot.ci``'s BCa limits, and its quantile rule boot's percentile limits, at 90 % and 95 %."""
    from lib.methods import mediation
    from lib.methods.did import estimation_frame
    from lib.methods.inference import bca_interval, normal_quantile_interpolation

    versions = golden("mediation_bca_versions.csv")
    assert set(versions["input_md5"]) == {hashlib.md5(PANEL.read_bytes()).hexdigest()}
    d = pd.read_csv(PANEL)
    kw = dict(yname="Inno", dname="CBEC", mediator="Diginf", idname="city_id", tname="year",
              controls=MATCHING_VARIABLES)
    frame, _ = estimation_frame(d, ["Inno", "CBEC", "Diginf", *MATCHING_VARIABLES, "city_id", "year"],
                                idname="city_id", tname="year", fn="test")
    long = golden("mediation_bca_draws.csv.gz")
    draws = long["draw"].to_numpy().reshape(long["rep"].nunique(), -1) - 1
    boot = mediation.bootstrap_paths(frame, draws=draws, **kw)["indirect"].to_numpy()
    ref_t = golden("mediation_bca_replicates.csv")["indirect"].to_numpy()
    np.testing.assert_allclose(boot, ref_t, rtol=1e-7, atol=1e-12)

    jack = mediation.jackknife_paths(frame, **kw)["indirect"].to_numpy()
    ref = golden("mediation_bca.csv").set_index("level")
    est = float(ref["estimate"].iloc[0])
    med = mediation.three_step(d, vcov={"CRV1": "city_id"}, **kw)
    assert med.indirect == pytest.approx(est, rel=1e-9)
    L_ref = golden("mediation_bca_jackknife.csv")
    assert (L_ref["city_id"].to_numpy() == np.sort(frame["city_id"].unique())).all()
    np.testing.assert_allclose((jack.size - 1) * (est - jack), L_ref["L"], rtol=1e-6, atol=1e-12)
    for level, row in ref.iterrows():
        lo, hi = bca_interval(est, ref_t, jack, level=level)
        assert lo == pytest.approx(row["bca_lower"], rel=1e-6)
        assert hi == pytest.approx(row["bca_upper"], rel=1e-6)
        perc = normal_quantile_interpolation(ref_t, [(1 - level) / 2, (1 + level) / 2])
        np.testing.assert_allclose(perc, [row["perc_lower"], row["perc_upper"]], rtol=1e-12)
