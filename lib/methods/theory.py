"""The CBEC paper's endogenous-growth model (§2.2, eqs 1-6), checked and solved.

The model, as printed:

.. math::

    Y = \\Bigl(\\int_0^N \\tilde x_i^{\\alpha}\\,di\\Bigr)^{1/\\alpha} \\quad (1), \\qquad
    \\frac{dN}{dt} = \\delta L_R^{\\theta} N^{\\phi} \\quad (2), \\qquad
    \\tilde x_i = \\eta N^{\\beta} \\quad (3),

and, substituting (3) into (1) (eqs 4-5), :math:`Y = \\eta N^{(\\alpha\\beta+1)/\\alpha}` (6).
The final-good aggregator is the CES of Dixit and Stiglitz (1977) and Ethier
(1982); the knowledge equation with :math:`\\phi < 1` is Jones's (1995)
semi-endogenous version of Romer (1990).

This module (i) verifies eq 6 symbolically from eqs 4-5 with sympy instead of
assuming it, (ii) solves eq 2 in closed form, (iii) adds the transaction-cost
wedge the paper describes in words (an iceberg cost :math:`\\tau`:
:math:`\\tilde x_i = (1-\\tau)\\eta N^{\\beta}`), and (iv) computes the
comparative statics of each mechanism's parameter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

#: What the chapter's tables and figures are computed from (their CSV's ``data`` column, their note).
SOURCE = "the growth model of eqs 1-6 solved at the parameter values shown; no data"

__all__ = [
    "SOURCE",
    "GrowthParams",
    "SymbolicCheck",
    "verify_eq6",
    "verify_substitution_elasticity",
    "verify_knowledge_path",
    "knowledge_path",
    "knowledge_path_numeric",
    "output",
    "output_exponent",
    "comparative_statics",
    "plot_comparative_statics",
    "MECHANISMS",
    "mechanism_links",
]


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class GrowthParams:
    """Parameters of the model (eqs 1-3 plus the book's wedge ``tau``).

    Attributes
    ----------
    alpha : float
        CES exponent in (0, 1]; the elasticity of substitution between
        intermediates is ``1 / (1 - alpha)`` (the paper calls ``alpha`` itself
        the elasticity of substitution, which it is not).
    beta : float
        Elasticity of intermediate productivity to knowledge (> 0).
    eta : float
        Production efficiency of intermediates (> 0).
    delta : float
        Baseline efficiency of knowledge production (> 0).
    L_R : float
        R&D labour (> 0).
    theta : float
        Elasticity of knowledge production to R&D labour, in (0, 1).
    phi : float
        Knowledge spillover from the existing stock (< 1 for the closed
        form used here; the paper assumes 0 < phi < 1).
    N0 : float
        Knowledge stock at t = 0 (> 0).
    tau : float
        Iceberg transaction cost in [0, 1): a share ``tau`` of each
        intermediate is lost (the book's formalisation of the paper's
        business-environment channel; 0 reproduces the paper's model).
    """

    alpha: float = 0.5
    beta: float = 0.3
    eta: float = 1.0
    delta: float = 0.05
    L_R: float = 1.0
    theta: float = 0.5
    phi: float = 0.5
    N0: float = 1.0
    tau: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "alpha": 0 < self.alpha <= 1, "beta": self.beta > 0, "eta": self.eta > 0,
            "delta": self.delta > 0, "L_R": self.L_R > 0, "theta": 0 < self.theta < 1,
            "phi": self.phi <= 1, "N0": self.N0 > 0, "tau": 0 <= self.tau < 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"GrowthParams: {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)} "
                             f"out of range (alpha in (0,1], beta, eta, delta, L_R, N0 > 0, "
                             f"theta in (0,1), phi <= 1, tau in [0,1))")

    def with_(self, **changes: float) -> "GrowthParams":
        """A copy with some parameters changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


# --------------------------------------------------------------------------- symbolic checks
@dataclass(frozen=True)
class SymbolicCheck:
    """The outcome of a symbolic verification.

    Attributes
    ----------
    name : str
    holds : bool
        Whether the derived expression equals the printed one identically
        (their difference simplifies to 0 under the stated assumptions).
    derived, printed : sympy expressions
    difference : sympy expression
        ``simplify(derived - printed)``.
    steps : dict
        Named intermediate expressions (for display as LaTeX).
    """

    name: str
    holds: bool
    derived: Any
    printed: Any
    difference: Any
    steps: dict[str, Any] = field(default_factory=dict)

    def latex(self) -> dict[str, str]:
        """LaTeX of every step, the derived and the printed expression."""
        import sympy as sp

        out = {k: sp.latex(v) for k, v in self.steps.items()}
        out.update(derived=sp.latex(self.derived), printed=sp.latex(self.printed))
        return out

    def table(self) -> pd.DataFrame:
        """One row per step: name and LaTeX."""
        import sympy as sp

        # \( \) delimiters: MathJax renders them in a page's HTML output (a bare $ it does not)
        rows = [(k, f"\\({sp.latex(v)}\\)") for k, v in self.steps.items()]
        rows += [("derived", f"\\({sp.latex(self.derived)}\\)"),
                 ("printed", f"\\({sp.latex(self.printed)}\\)"),
                 ("derived − printed", f"\\({sp.latex(self.difference)}\\)"),
                 ("identity holds", "yes" if self.holds else "NO")]
        return pd.DataFrame(rows, columns=["step", "expression"]).set_index("step")


def _symbols():
    import sympy as sp

    alpha, beta, eta, N = sp.symbols("alpha beta eta N", positive=True)
    i = sp.Symbol("i", nonnegative=True)
    return alpha, beta, eta, N, i


def verify_eq6(*, with_wedge: bool = False) -> SymbolicCheck:
    """Derive Y from eqs 4-5 with sympy and compare it with the printed eq 6.

    .. math::

        Y = \\Bigl(\\int_0^N (\\eta N^{\\beta})^{\\alpha} di\\Bigr)^{1/\\alpha}
          = \\bigl(N \\eta^{\\alpha} N^{\\alpha\\beta}\\bigr)^{1/\\alpha}
          = \\eta N^{(\\alpha\\beta + 1)/\\alpha}

    All symbols are positive (``alpha`` in (0, 1] in the model), so the
    power rules used by ``powsimp(force=True)`` are valid. With
    ``with_wedge`` the integrand is ``(omega eta N^beta)^alpha`` with
    ``omega = 1 - tau`` and the printed form is multiplied by ``omega``.

    Returns
    -------
    SymbolicCheck
        ``holds`` is True when ``simplify(derived - printed) == 0``; the
        elasticity ``d ln Y / d ln N`` is in ``steps["elasticity"]``.
    """
    import sympy as sp

    alpha, beta, eta, N, i = _symbols()
    wedge = sp.Integer(1)
    if with_wedge:
        # omega = 1 - tau > 0: the share of each intermediate that survives the transaction cost
        wedge = sp.Symbol("omega", positive=True)
    x = wedge * eta * N ** beta                         # eq 3 (plus the wedge)
    integral = sp.integrate(x ** alpha, (i, 0, N))      # eq 5, inner integral over varieties
    derived = sp.powsimp(sp.expand_power_base(integral ** (1 / alpha), force=True), force=True)
    printed = wedge * eta * N ** ((alpha * beta + 1) / alpha)  # eq 6 as printed
    difference = sp.simplify(sp.expand_power_base(derived, force=True) - printed)
    if difference != 0:  # a second route: compare logarithms
        difference = sp.simplify(sp.expand_log(sp.log(derived) - sp.log(printed), force=True))
    elasticity = sp.simplify(N * sp.diff(derived, N) / derived)
    return SymbolicCheck(
        name="eq 6 from eqs 4-5" + (" (with transaction-cost wedge)" if with_wedge else ""),
        holds=bool(difference == 0), derived=derived, printed=printed, difference=difference,
        steps={"eq 5 integrand": x ** alpha, "integral over i": integral,
               "integral^(1/alpha)": integral ** (1 / alpha), "elasticity": elasticity},
    )


def verify_substitution_elasticity() -> SymbolicCheck:
    """The elasticity of substitution of eq 1's aggregator is ``1 / (1 - alpha)``, not ``alpha``.

    For :math:`Y = (x_1^{\\alpha} + x_2^{\\alpha})^{1/\\alpha}` the marginal rate of
    substitution is :math:`(x_1/x_2)^{\\alpha-1}`, so
    :math:`\\sigma = d\\ln(x_1/x_2) / d\\ln \\mathrm{MRS}_{21} = 1/(1-\\alpha)`.
    """
    import sympy as sp

    alpha = sp.Symbol("alpha", positive=True)
    x1, x2, r = sp.symbols("x1 x2 r", positive=True)
    Y = (x1 ** alpha + x2 ** alpha) ** (1 / alpha)
    mrs = sp.simplify(sp.diff(Y, x1) / sp.diff(Y, x2))   # = (x1/x2)^(alpha-1)
    mrs_r = sp.simplify(sp.powsimp(mrs.subs(x1, r * x2), force=True))
    # sigma = d ln r / d ln(1/MRS): the relative demand's response to relative prices
    sigma = sp.simplify(1 / sp.diff(sp.expand_log(sp.log(1 / mrs_r), force=True), r) / r)
    printed = 1 / (1 - alpha)
    diff = sp.simplify(sigma - printed)
    return SymbolicCheck(name="elasticity of substitution", holds=bool(diff == 0), derived=sigma,
                         printed=printed, difference=diff, steps={"MRS (x1 = r x2)": mrs_r})


def verify_knowledge_path() -> SymbolicCheck:
    """Check that the closed form of :func:`knowledge_path` solves eq 2 with N(0) = N0 (φ < 1).

    Writing :math:`\\phi = 1 - \\epsilon` with :math:`\\epsilon > 0` keeps every base positive,
    so sympy may combine powers.
    """
    import sympy as sp

    t, delta, L, theta, N0, eps = sp.symbols("t delta L_R theta N_0 epsilon", positive=True)
    A = delta * L ** theta
    N = (N0 ** eps + eps * A * t) ** (1 / eps)
    phi = 1 - eps
    residual = sp.simplify(sp.powsimp(sp.diff(N, t) - A * N ** phi, force=True))
    initial = sp.simplify(N.subs(t, 0) - N0)
    return SymbolicCheck(name="closed-form N(t) solves eq 2", holds=bool(residual == 0 and initial == 0),
                         derived=sp.diff(N, t), printed=A * N ** phi, difference=residual + initial,
                         steps={"N(t), phi = 1 - epsilon": N, "N(0) - N_0": initial})


# --------------------------------------------------------------------------- solutions
def knowledge_path(t: Sequence[float] | float, params: GrowthParams) -> np.ndarray:
    """Closed-form solution of eq 2.

    .. math::

        N(t) = \\bigl[N_0^{1-\\phi} + (1-\\phi)\\,\\delta L_R^{\\theta}\\,t\\bigr]^{1/(1-\\phi)}
        \\quad (\\phi < 1), \\qquad N(t) = N_0 e^{\\delta L_R^{\\theta} t} \\quad (\\phi = 1).

    For :math:`\\phi < 1` knowledge grows polynomially and its growth rate
    falls to zero (Jones 1995); :math:`\\phi = 1` is Romer's (1990) constant
    growth.

    Parameters
    ----------
    t : float or array
        Times (>= 0).
    params : GrowthParams
    """
    t = np.asarray(t, dtype=float)
    if np.any(t < 0):
        raise ValueError("knowledge_path: t must be >= 0")
    A = params.delta * params.L_R ** params.theta
    if params.phi == 1:
        return params.N0 * np.exp(A * t)
    e = 1 - params.phi
    return (params.N0 ** e + e * A * t) ** (1 / e)


def knowledge_path_numeric(t: Sequence[float], params: GrowthParams, *, rtol: float = 1e-12,
                           atol: float = 1e-12) -> np.ndarray:
    """Eq 2 integrated numerically (scipy ``solve_ivp``, DOP853), for checking the closed form."""
    from scipy.integrate import solve_ivp

    t = np.asarray(t, dtype=float)
    A = params.delta * params.L_R ** params.theta
    sol = solve_ivp(lambda _t, n: A * n ** params.phi, (0.0, float(t.max())), [params.N0],
                    method="DOP853", t_eval=t, rtol=rtol, atol=atol)
    if not sol.success:  # pragma: no cover - smooth ODE
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol.y[0]


def output_exponent(params: GrowthParams) -> float:
    """Elasticity of Y with respect to N, ``(alpha beta + 1) / alpha = beta + 1 / alpha`` (eq 6)."""
    return (params.alpha * params.beta + 1) / params.alpha


def output(N: Sequence[float] | float, params: GrowthParams) -> np.ndarray:
    """Final output, eq 6 with the wedge: ``Y = (1 - tau) eta N^((alpha beta + 1)/alpha)``."""
    N = np.asarray(N, dtype=float)
    return (1 - params.tau) * params.eta * N ** output_exponent(params)


#: The paper's mechanisms and the parameters it says each one moves (§2.2.3).
MECHANISMS: dict[str, tuple[str, ...]] = {
    "Digital infrastructure": ("beta", "alpha"),
    "Service industry agglomeration": ("L_R", "phi"),
    "Business environment": ("tau",),
}

def mechanism_links() -> pd.DataFrame:
    """Each mechanism: its parameters, what it moves in the model, and where the book tests it.

    The "moves" columns follow from eqs 2 and 6 with the wedge: ``beta`` and
    ``alpha`` enter only the exponent of eq 6, ``L_R`` and ``phi`` only eq 2,
    ``tau`` only the level of Y (``tests/test_theory.py`` checks each claim).
    """
    return pd.DataFrame({
        "parameters": ["β, α", "L_R, φ", "τ (book's wedge)"],
        "moves N(t)": ["no", "yes", "no"],
        "moves Y(t)": ["yes: elasticity β + 1/α", "yes: through N", "yes: level, by 1 − τ"],
        "mediator tested": ["Diginf", "Spec", "Envir"],
        "tested in": ["the mechanisms chapter (paper's Table 11)", "the mechanisms chapter (Table 12)",
                      "the mechanisms chapter (Table 13)"],
    }, index=pd.Index(list(MECHANISMS), name="mechanism"))


_LABELS = {"alpha": "α", "beta": "β", "L_R": "L_R", "phi": "φ", "tau": "τ", "delta": "δ",
           "theta": "θ", "eta": "η", "N0": "N₀"}


def comparative_statics(params: GrowthParams, changes: Mapping[str, Sequence[float]], *,
                        horizon: float = 50.0, n_points: int = 201) -> pd.DataFrame:
    """N(t) and Y(t) when one parameter at a time takes each of several values.

    Parameters
    ----------
    params : GrowthParams
        The baseline.
    changes : dict
        Parameter name -> values to try (others stay at the baseline).
    horizon : float
        Last time point.
    n_points : int
        Time grid size.

    Returns
    -------
    DataFrame
        Tidy: ``parameter, value, baseline (bool), t, N, Y, lnY``.
    """
    t = np.linspace(0.0, horizon, n_points)
    rows = []
    for name, values in changes.items():
        if name not in GrowthParams.__dataclass_fields__:
            raise KeyError(f"comparative_statics: unknown parameter {name!r}; parameters are "
                           f"{list(GrowthParams.__dataclass_fields__)}")
        for v in values:
            p = params.with_(**{name: float(v)})
            N = knowledge_path(t, p)
            Y = output(N, p)
            rows.append(pd.DataFrame({"parameter": name, "value": float(v),
                                      "baseline": math.isclose(float(v), getattr(params, name)),
                                      "t": t, "N": N, "Y": Y, "lnY": np.log(Y)}))
    return pd.concat(rows, ignore_index=True)


def plot_comparative_statics(frame: pd.DataFrame, *, show: Sequence[str] = ("N", "lnY"),
                             axes: Any = None) -> Any:
    """Panels per parameter and variable in ``show`` (one row per parameter; side by side for one variable).

    Lines are the paths for each value of the parameter (darker = larger);
    the baseline is solid, the others dashed.
    """
    import matplotlib.pyplot as plt

    from lib.present.figures import PALETTE

    names = list(dict.fromkeys(frame["parameter"]))
    ylabels = {"N": "Knowledge stock N(t)", "Y": "Output Y(t)", "lnY": "ln Y(t)"}
    # one variable: parameters side by side; several: one row per parameter
    nrows, ncols = (1, len(names)) if len(show) == 1 else (len(names), len(show))
    if axes is None:
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.2 * nrows + 0.3), squeeze=False)
    else:
        fig = np.ravel(axes)[0].figure
    axes = np.asarray(axes).reshape(len(names), len(show))
    cmap = plt.get_cmap("viridis")
    for r, name in enumerate(names):
        sub = frame[frame["parameter"] == name]
        values = sorted(sub["value"].unique())
        for j, v in enumerate(values):
            path = sub[sub["value"] == v]
            base = bool(path["baseline"].iloc[0])
            colour = PALETTE["truth"] if base else cmap(0.1 + 0.65 * j / max(len(values) - 1, 1))
            for c, var in enumerate(show):
                axes[r, c].plot(path["t"], path[var], color=colour, ls="-" if base else "--",
                                lw=1.8 if base else 1.4,
                                label=f"{_LABELS.get(name, name)} = {v:g}" + (" (baseline)" if base else ""))
        for c, var in enumerate(show):
            axes[r, c].set_xlabel("t")
            axes[r, c].set_ylabel(ylabels.get(var, var))
        axes[r, 0].legend(loc="upper left", fontsize="small")
    return fig
