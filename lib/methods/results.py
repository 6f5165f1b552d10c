"""Result objects shared by every estimator in ``lib``.

Estimators return a frozen :class:`RegressionResult` with labelled pandas
fields (after linearmodels and pyfixest). ``tidy()`` is the one frame from
which tables and the results JSON are derived; ``summary()`` renders it; a
notebook cell ending in a result shows the summary as HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class RegressionResult:
    """One fitted regression.

    Parameters
    ----------
    params, std_errors : pandas.Series
        Coefficients and standard errors, indexed by term.
    cov : pandas.DataFrame
        Covariance matrix of ``params`` (same index and columns).
    nobs : int
        Observations used in the fit.
    dof_resid : float or None
        Degrees of freedom for t-based p-values and intervals; ``None`` means
        normal (z) inference. Clustered fits use ``clusters - 1`` (Stata's
        ``vce(cluster)`` convention, also linearmodels' with ``debiased``).
    r2 : float
        R² of the reported kind (``r2_kind`` says which).
    r2_kind : str
        ``"within"``, ``"overall"``, ``"pseudo"`` (McFadden) ...
    fixed_effects : tuple of str
        Names of absorbed effects, e.g. ``("city", "year")``; drives FE rows.
    controls : bool or None
        Whether the control set was included (drives the "Controls" row).
    vcov : str
        Inference used, e.g. ``"CRV1 by city (280 clusters)"``.
    n_dropped : int
        Rows of the input the estimator dropped (missing values, singletons);
        ``drop_reasons`` says why, by reason.
    spec : dict
        The arguments used (outcome, regressors, sample, ...), for the record.
    extra : dict
        Estimator-specific extras (cluster counts, marginal effects, ...).
    """

    params: pd.Series
    std_errors: pd.Series
    cov: pd.DataFrame
    nobs: int
    dof_resid: float | None = None
    r2: float = float("nan")
    r2_kind: str = "within"
    fixed_effects: tuple[str, ...] = ()
    controls: bool | None = None
    vcov: str = ""
    n_dropped: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------- derived
    @property
    def tstats(self) -> pd.Series:
        return (self.params / self.std_errors).rename("t")

    @property
    def pvalues(self) -> pd.Series:
        t = self.tstats.abs().to_numpy()
        if self.dof_resid is None:
            p = 2 * stats.norm.sf(t)
        else:
            p = 2 * stats.t.sf(t, self.dof_resid)
        return pd.Series(p, index=self.params.index, name="p")

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Two-sided confidence intervals at ``level``."""
        alpha = 1 - level
        q = (stats.norm.ppf(1 - alpha / 2) if self.dof_resid is None
             else stats.t.ppf(1 - alpha / 2, self.dof_resid))
        half = q * self.std_errors
        return pd.DataFrame({"lower": self.params - half, "upper": self.params + half})

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per term: estimate, s.e., t, p, CI, N (pyfixest's ``tidy``)."""
        ci = self.conf_int(level)
        out = pd.DataFrame({
            "estimate": self.params,
            "std_error": self.std_errors,
            "t": self.tstats,
            "p": self.pvalues,
            "ci_lower": ci["lower"],
            "ci_upper": ci["upper"],
        })
        out["nobs"] = self.nobs
        out.index.name = "term"
        return out

    def summary(self) -> str:
        """Plain-text summary: the tidy table plus fit information."""
        lines = [
            f"N = {self.nobs:,}   dropped = {self.n_dropped:,}"
            + (f" ({', '.join(f'{k}: {v}' for k, v in self.drop_reasons.items())})"
               if self.drop_reasons else ""),
            f"R² ({self.r2_kind}) = {self.r2:.4f}   inference: {self.vcov or 'n/a'}",
            "fixed effects: " + (", ".join(self.fixed_effects) or "none"),
            "",
            self.tidy().to_string(float_format=lambda v: f"{v:.5g}"),
        ]
        return "\n".join(lines)

    def __str__(self) -> str:  # pragma: no cover - thin
        return self.summary()

    def _repr_html_(self) -> str:
        head = (f"<p>N = {self.nobs:,}; dropped = {self.n_dropped:,}; "
                f"R² ({self.r2_kind}) = {self.r2:.4f}; inference: {self.vcov or 'n/a'}; "
                f"fixed effects: {', '.join(self.fixed_effects) or 'none'}</p>")
        return head + self.tidy().to_html(float_format=lambda v: f"{v:.5g}")

    def coef(self, term: str) -> dict[str, float]:
        """Name, estimate, s.e., t, p and N of one term (for results JSON and glue)."""
        if term not in self.params.index:
            raise KeyError(f"term {term!r} not in this result; terms are {list(self.params.index)}")
        row = self.tidy().loc[term]
        return {
            "term": term,
            "estimate": float(row["estimate"]),
            "std_error": float(row["std_error"]),
            "t": float(row["t"]),
            "p": float(row["p"]),
            "nobs": int(self.nobs),
        }
