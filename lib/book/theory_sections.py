"""What the theory chapter's sections cite: the checks' verdicts in words and the model's numbers.

One function per section returns a :class:`~lib.book.chapter.Cited` (glue values and the
records of the checks), glued with one ``book.glue_all``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lib.book.chapter import Cited

__all__ = ["verdict", "eq6_values", "path_values", "wedge_values"]


def verdict(check) -> str:
    """A symbolic check's result in words: "holds" or "does NOT hold"."""
    return "holds" if check.holds else "does NOT hold"


def eq6_values(eq6, eq6_wedge, sigma, params) -> Cited:
    """Eq 6 with and without the wedge, the elasticity of substitution, and the output exponent."""
    from lib.methods.theory import output_exponent

    alpha = params.alpha
    exponent = output_exponent(params)
    return Cited({"eq6_holds": verdict(eq6), "eq6_wedge_holds": verdict(eq6_wedge),
                  "sigma_holds": verdict(sigma), "eq6_exponent": exponent,
                  "sigma_value": 1 / (1 - alpha) if alpha < 1 else np.inf,
                  "alpha_value": alpha, "beta_value": params.beta},
                 records={"eq 6 verified (1 = identity holds)": dict(estimate=float(eq6.holds), truth=1.0),
                          "eq 6 with wedge verified (1 = holds)": dict(estimate=float(eq6_wedge.holds),
                                                                      truth=1.0),
                          "sigma = 1/(1-alpha) verified (1 = holds)": dict(estimate=float(sigma.holds),
                                                                          truth=1.0),
                          "Y elasticity to N, (alpha beta + 1)/alpha": dict(estimate=exponent)})


def path_values(path_check, closed: np.ndarray, numeric: np.ndarray, horizon: float) -> Cited:
    """The knowledge path: the symbolic check, the largest relative gap to ``solve_ivp`` and N at the end."""
    gap = float(np.max(np.abs(closed - numeric) / numeric))
    return Cited({"ode_gap": gap, "path_holds": verdict(path_check), "N_end": closed[-1],
                  "horizon_value": horizon},
                 records={"closed-form N(t) vs solve_ivp, max relative gap": dict(estimate=gap, truth=0.0),
                          "closed-form N(t) solves eq 2 (1 = holds)": dict(estimate=float(path_check.holds),
                                                                          truth=1.0)})


def wedge_values(statics: pd.DataFrame) -> Cited:
    """The fall of ln Y at the end of the horizon between the smallest and the largest wedge τ
    (glued as a positive number), against its closed form ln(1-τ_hi) - ln(1-τ_lo)."""
    end = statics[statics["t"] == statics["t"].max()].set_index("value")["lnY"]
    lo, hi = float(end.index[0]), float(end.index[-1])
    return Cited({"tau_shift": float(end.iloc[0] - end.iloc[-1]), "tau_hi": hi},
                 records={"ln Y shift at the largest tau": dict(
                     estimate=float(end.iloc[-1] - end.iloc[0]),
                     truth=float(np.log(1 - hi) - np.log(1 - lo)))})
