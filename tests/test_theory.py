"""The growth model of the CBEC paper's §2.2 (lib.methods.theory): eq 6, the knowledge path, statics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from lib.methods import theory as th


def test_eq6_follows_from_eqs_4_5_symbolically():
    import sympy as sp

    check = th.verify_eq6()
    assert check.holds and check.difference == 0
    alpha, beta = sp.symbols("alpha beta", positive=True)
    # the printed exponent (alpha beta + 1) / alpha, i.e. beta + 1/alpha, is the elasticity of Y in N
    assert sp.simplify(check.steps["elasticity"] - (alpha * beta + 1) / alpha) == 0
    assert "identity holds" in check.table().index


def test_a_wrong_exponent_would_be_caught():
    import sympy as sp

    check = th.verify_eq6()
    alpha, beta, eta, N = sp.symbols("alpha beta eta N", positive=True)
    wrong = eta * N ** (alpha * beta + 1)  # a plausible misprint: exponent without the 1/alpha
    assert sp.simplify(sp.expand_log(sp.log(check.derived) - sp.log(wrong), force=True)) != 0


def test_eq6_with_the_wedge_scales_output_by_one_minus_tau():
    import sympy as sp

    check = th.verify_eq6(with_wedge=True)
    assert check.holds
    omega = sp.Symbol("omega", positive=True)
    assert sp.simplify(check.derived / check.printed) == 1 and omega in check.derived.free_symbols


def test_eq6_numerically_against_quadrature():
    # integrate eq 5 by quadrature at one parameter point, independently of sympy
    p = th.GrowthParams(alpha=0.4, beta=0.7, eta=1.3, tau=0.2)
    N = 3.7
    x = (1 - p.tau) * p.eta * N ** p.beta
    integral, _ = quad(lambda i: x ** p.alpha, 0.0, N)
    assert th.output(N, p) == pytest.approx(integral ** (1 / p.alpha), rel=1e-12)
    assert th.output_exponent(p) == pytest.approx(p.beta + 1 / p.alpha)


def test_elasticity_of_substitution_is_one_over_one_minus_alpha():
    check = th.verify_substitution_elasticity()
    assert check.holds


@pytest.mark.parametrize("phi", [-0.5, 0.0, 0.3, 0.5, 0.9])
def test_closed_form_knowledge_path_matches_the_ode_solution(phi):
    p = th.GrowthParams(phi=phi, delta=0.08, L_R=2.0, theta=0.6, N0=1.5)
    t = np.linspace(0.0, 60.0, 121)
    closed = th.knowledge_path(t, p)
    numeric = th.knowledge_path_numeric(t, p)
    np.testing.assert_allclose(closed, numeric, rtol=1e-8, atol=0)
    assert closed[0] == pytest.approx(p.N0, rel=1e-14)


def test_knowledge_path_at_phi_one_is_exponential_and_the_closed_form_is_continuous():
    p = th.GrowthParams(phi=1.0)
    t = np.array([0.0, 10.0, 40.0])
    A = p.delta * p.L_R ** p.theta
    np.testing.assert_allclose(th.knowledge_path(t, p), p.N0 * np.exp(A * t), rtol=1e-14)
    near = th.knowledge_path(t, p.with_(phi=1 - 1e-7))
    np.testing.assert_allclose(near, th.knowledge_path(t, p), rtol=1e-5)
    np.testing.assert_allclose(th.knowledge_path_numeric(t, p), th.knowledge_path(t, p), rtol=1e-8)


def test_closed_form_solves_eq2_symbolically():
    assert th.verify_knowledge_path().holds


def test_comparative_statics_directions():
    base = th.GrowthParams(N0=2.0)
    f = th.comparative_statics(base, {"beta": [0.2, 0.4], "alpha": [0.4, 0.6], "L_R": [1, 2],
                                      "phi": [0.3, 0.6], "tau": [0.0, 0.2]}, horizon=30, n_points=7)
    end = f[f["t"] == 30].set_index(["parameter", "value"])
    # beta and alpha act on Y only, through the exponent beta + 1/alpha; N(t) is untouched
    assert end.loc[("beta", 0.2), "N"] == end.loc[("beta", 0.4), "N"]
    assert end.loc[("beta", 0.4), "Y"] > end.loc[("beta", 0.2), "Y"]
    assert end.loc[("alpha", 0.4), "Y"] > end.loc[("alpha", 0.6), "Y"]  # N > 1: lower alpha, more Y
    # R&D labour and spillovers raise the knowledge stock and through it output
    for name, lo, hi in (("L_R", 1, 2), ("phi", 0.3, 0.6)):
        assert end.loc[(name, hi), "N"] > end.loc[(name, lo), "N"]
        assert end.loc[(name, hi), "Y"] > end.loc[(name, lo), "Y"]
    # the wedge lowers the level of Y by exactly (1 - tau)
    assert end.loc[("tau", 0.2), "Y"] == pytest.approx(0.8 * end.loc[("tau", 0.0), "Y"])
    # the baseline flag marks the paths at the baseline value (tau = 0), and only those
    assert not f.loc[f["parameter"] == "beta", "baseline"].any()
    assert f.loc[(f["parameter"] == "tau") & (f["value"] == 0.0), "baseline"].all()
    assert set(f.columns) >= {"parameter", "value", "baseline", "t", "N", "Y", "lnY"}


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="theta=1.5"):
        th.GrowthParams(theta=1.5)
    with pytest.raises(ValueError, match="tau=1"):
        th.GrowthParams(tau=1)
    with pytest.raises(KeyError, match="gamma"):
        th.comparative_statics(th.GrowthParams(), {"gamma": [1]})
    with pytest.raises(ValueError, match="t must be"):
        th.knowledge_path([-1.0], th.GrowthParams())


def test_mechanism_table_agrees_with_the_model():
    links = th.mechanism_links()
    values = {"beta": [0.2, 0.4], "alpha": [0.4, 0.6], "L_R": [1, 2], "phi": [0.3, 0.6], "tau": [0.0, 0.2]}
    f = th.comparative_statics(th.GrowthParams(N0=2.0), values, horizon=20, n_points=5)
    end = f[f["t"] == 20]
    for mechanism, names in th.MECHANISMS.items():
        moves_n = any(end.loc[end["parameter"] == n, "N"].nunique() > 1 for n in names)
        moves_y = all(end.loc[end["parameter"] == n, "Y"].nunique() > 1 for n in names)
        assert (links.loc[mechanism, "moves N(t)"] == "yes") == moves_n
        assert links.loc[mechanism, "moves Y(t)"].startswith("yes") and moves_y
