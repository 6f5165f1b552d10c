r"""Inference for panels with few clusters: wild cluster bootstrap and Driscoll-Kraay.

The companion paper's panel has 31 provinces. With so few clusters the CRV1
t-test over-rejects; the wild cluster bootstrap with the null imposed (WCR,
{cite}`cameron_gelbach_miller2008`) gives p-values with close to nominal size
even with few clusters. Driscoll-Kraay standard errors
{cite}`driscoll_kraay1998` are robust to cross-sectional dependence (common
shocks hitting all provinces in a year) and serial correlation up to a lag.

Neither linearmodels 7.1 nor pyfixest 0.60 ships a wild cluster bootstrap
without the separate ``wildboottest`` package (pyfixest's ``.wildboottest()``
imports it; it is not a pinned requirement), so :func:`wild_cluster_bootstrap`
is implemented here, vectorised over draws, and tested against a per-draw
reference loop. Driscoll-Kraay *is* available as linearmodels' ``PanelOLS``
``cov_type="kernel"``; :func:`driscoll_kraay` computes it directly from the
within-transformed data and is tested against linearmodels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import sparse, stats

from lib.methods.results import RegressionResult

__all__ = ["WildBootstrapResult", "wild_cluster_bootstrap", "bootstrap_weights", "driscoll_kraay",
           "WEBB_POINTS", "WEBB_BELOW", "bca_interval", "normal_quantile_interpolation"]

#: Webb's six-point distribution: ±sqrt(1/2), ±1, ±sqrt(3/2), each with probability 1/6.
WEBB_POINTS = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def bootstrap_weights(n_clusters: int, reps: int, *, kind: str = "rademacher", seed: int = 0) -> np.ndarray:
    """Cluster weights, shape ``(n_clusters, reps)``: Rademacher (±1) or Webb (6-point)."""
    rng = np.random.default_rng(seed)
    if kind == "rademacher":
        return rng.choice(np.array([-1.0, 1.0]), size=(n_clusters, reps))
    if kind == "webb":
        return rng.choice(WEBB_POINTS, size=(n_clusters, reps))
    raise ValueError(f"bootstrap weights must be 'rademacher' or 'webb', got {kind!r}")


#: Below this many clusters the default weights are Webb's: Rademacher weights have only
#: :math:`2^G` distinct draws (4,096 at G = 12), too few for a p-value from 9,999 draws.
WEBB_BELOW = 13


@dataclass(frozen=True)
class WildBootstrapResult:
    r"""Wild cluster bootstrap test of :math:`H_0: \beta_{d} = 0`, and its inverted interval.

    Attributes
    ----------
    term, estimate, std_error, t : the coefficient, its CRV1 s.e. and t
    p_analytic : CRV1 p-value from :math:`t_{G-1}`
    p_boot : bootstrap p-value, share of draws with :math:`|t^*| > |t|` (strict, as boottest);
        0 means below :math:`1/B` (see :attr:`p_text`)
    ci_lower, ci_upper : the bootstrap interval at ``level``, by test inversion
    dof_k : the :math:`K` of the small-sample factor (from the fixed effects and clusters)
    t_boot : the bootstrap t statistics under the null
    """

    term: str
    estimate: float
    std_error: float
    t: float
    p_analytic: float
    p_boot: float
    reps: int
    weights: str
    restricted: bool
    n_clusters: int
    nobs: int
    n_dropped: int
    seed: int
    t_boot: np.ndarray = field(repr=False)
    ci_lower: float = float("nan")
    ci_upper: float = float("nan")
    level: float = 0.95
    dof_k: int = 0

    @property
    def p_text(self) -> str:
        """The p-value as it may be printed: never "0", but "< 1/B" when no draw exceeds."""
        if self.p_boot == 0:
            return f"< {1 / self.reps:.2g}"
        return f"{self.p_boot:.4f}"

    def tidy(self) -> pd.DataFrame:
        return pd.DataFrame([{k: getattr(self, k) for k in (
            "term", "estimate", "std_error", "t", "p_analytic", "p_boot", "ci_lower", "ci_upper",
            "reps", "weights", "restricted", "n_clusters", "nobs", "n_dropped", "dof_k")}])

    def table(self, *, title: str | None = None, notes=None):
        from lib.present.tables import frame_table

        return frame_table(self.tidy().set_index("term"), title=title, notes=notes)


def _fe_design(data, yname, dname, idname, tname, controls, cluster):
    from lib.methods.did import estimation_frame
    from lib.methods.panel import within_transform

    cols = [yname, dname, *controls]
    needed = list(dict.fromkeys([*cols, idname, tname, cluster]))
    frame, reasons = estimation_frame(data, needed, idname=idname, tname=tname, fn="inference")
    W = within_transform(frame, cols, idname, tname)
    return frame, W[:, 0], W[:, 1:], reasons


def wild_cluster_bootstrap(
    data: pd.DataFrame,
    *,
    yname: str,
    dname: str,
    idname: str,
    tname: str,
    controls: Sequence[str] = (),
    cluster: str | None = None,
    reps: int = 999,
    weights: Literal["auto", "rademacher", "webb"] = "auto",
    restricted: bool = True,
    seed: int = 20241123,
    level: float = 0.95,
    k_fixef: str = "nonnested",
) -> WildBootstrapResult:
    r"""Wild cluster bootstrap-t for one coefficient of a two-way FE regression (boottest's WCR).

    Model :math:`y_{it} = \beta d_{it} + x_{it}'\gamma + \mu_i + \nu_t + \varepsilon_{it}`,
    estimated on the two-way within-transformed data (FWL). For draws
    :math:`b = 1..B` and cluster weights :math:`w_g^{(b)}`:

    * WCR (``restricted=True``, {cite}`cameron_gelbach_miller2008`): to test
      :math:`H_0:\beta=\beta_0`, :math:`y^* = \beta_0 d + x'\tilde\gamma + w_g\tilde u`, with
      :math:`\tilde\gamma, \tilde u` from the regression of :math:`y - \beta_0 d` on the
      controls; :math:`t^* = (\hat\beta^*-\beta_0)/\mathrm{se}^*`.
    * WCU: :math:`y^* = X\hat\beta + w_g\hat u`, :math:`t^* = (\hat\beta^*-\hat\beta)/\mathrm{se}^*`.

    :math:`\mathrm{se}^*` is the CRV1 s.e. of each draw; the small-sample factor's
    :math:`K` comes from the actual fixed effects and clusters
    (:func:`lib.methods.panel.fe_dof_k`, as :func:`lib.methods.did.twfe`: an effect nested in
    the clusters is not counted, so :math:`K = k + T` with unit clusters and :math:`k + E`
    with year clusters). The p-value is boottest's,
    :math:`p = B^{-1}\sum_b 1[|t^*_b| > |t|]` (strict exceedance); when no draw exceeds,
    :attr:`WildBootstrapResult.p_text` prints it as :math:`< 1/B`, never as 0. The interval
    inverts the test (Roodman et al. 2019): every :math:`\beta_0` with
    :math:`p(\beta_0) > 1 - \text{level}`, the same draws for every :math:`\beta_0`. Because
    :math:`y^*` is linear in :math:`\beta_0`, each draw's numerator and cluster scores are
    linear in :math:`\beta_0` and :math:`p(\beta_0)` costs one pass over the
    ``(G, B)`` score matrices; the two bounds are found by bisection.

    Weights (``"auto"``): Webb's six-point distribution below :data:`WEBB_BELOW` clusters
    (Rademacher has only :math:`2^G` distinct draws), else Rademacher.

    Parameters
    ----------
    data : DataFrame
    yname, dname : str
        Outcome and tested regressor (a continuous one is fine).
    idname, tname : str
        Unit and time identifiers (the fixed effects).
    controls : sequence of str
    cluster : str, optional
        Cluster column (default ``idname``).
    reps : int
        Bootstrap draws.
    weights : {"auto", "rademacher", "webb"}
    restricted : bool
        WCR (null imposed, recommended; the interval is inverted only then) or WCU.
    seed : int
    level : float
        Coverage of the inverted interval.
    k_fixef : {"nonnested", "full", "none"}
        How the fixed effects enter :math:`K` (:func:`lib.methods.panel.fe_dof_k`).

    Returns
    -------
    WildBootstrapResult
    """
    from lib.methods.panel import codes, demean, fe_dof_k

    cluster = cluster or idname
    controls = list(controls)
    if int(reps) != reps or reps < 1:
        raise ValueError(f"reps must be a positive integer, got {reps!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    frame, y, X, reasons = _fe_design(data, yname, dname, idname, tname, controls, cluster)
    n_dropped = len(data) - len(frame)
    N, k = X.shape
    cl, G = codes(frame[cluster].to_numpy())
    if weights == "auto":
        weights = "webb" if G < WEBB_BELOW else "rademacher"
    unit, time = frame[idname].to_numpy(), frame[tname].to_numpy()
    S = sparse.csr_matrix((np.ones(N), (cl, np.arange(N))), shape=(G, N))
    dof_k = fe_dof_k(k, unit, time, frame[cluster].to_numpy(), k_fixef=k_fixef)
    c = G / (G - 1) * (N - 1) / (N - dof_k)
    bread = np.linalg.inv(X.T @ X)
    s = X @ bread[0]            # beta_d = s'y
    beta = float(s @ y)
    e = y - X @ (bread @ (X.T @ y))
    se_obs = float(np.sqrt(c * ((S @ (s * e)) ** 2).sum()))
    t_obs = beta / se_obs
    w = bootstrap_weights(G, int(reps), kind=weights, seed=seed)

    def parts(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Numerator and cluster scores of the bootstrap t for the draws ``v * w_g``:
        (s'v*, S(s * residual of v*)), with v* projected off the effects again (the weights
        cut across years, so the draw is no longer orthogonal to them)."""
        V = demean(v[:, None] * w[cl], unit, time)
        num = s @ V
        E = V - X @ (bread @ (X.T @ V))
        return num, np.asarray(S @ (s[:, None] * E))

    if restricted:
        # y - b0 d on the controls: residual u0 - b0 m, with m the controls' residual of d
        Xr = X[:, 1:]
        proj = (lambda v: v - Xr @ np.linalg.lstsq(Xr, v, rcond=None)[0]) if k > 1 else (lambda v: v)
        u0, m = proj(y), proj(X[:, 0])
        num0, sc0 = parts(u0)
        num1, sc1 = parts(m)

        def boot_t(b0: float) -> np.ndarray:
            # the restricted fit's own part of y* has numerator b0 and zero residual
            num = num0 - b0 * num1
            se = np.sqrt(c * ((sc0 - b0 * sc1) ** 2).sum(axis=0))
            return num / se

        def p_of(b0: float) -> float:
            return float(np.mean(np.abs(boot_t(b0)) > abs((beta - b0) / se_obs)))

        t_boot = boot_t(0.0)
        p_boot = p_of(0.0)
        lo, hi = _invert(p_of, beta, se_obs, 1 - level)
    else:
        num, sc = parts(e)
        t_boot = num / np.sqrt(c * (sc ** 2).sum(axis=0))
        p_boot = float(np.mean(np.abs(t_boot) > abs(t_obs)))
        lo = hi = float("nan")
    p_an = float(2 * stats.t.sf(abs(t_obs), G - 1))
    return WildBootstrapResult(term=dname, estimate=beta, std_error=se_obs, t=float(t_obs), p_analytic=p_an,
                               p_boot=p_boot, reps=int(reps), weights=weights, restricted=restricted,
                               n_clusters=int(G), nobs=int(N), n_dropped=int(n_dropped), seed=int(seed),
                               t_boot=t_boot, ci_lower=lo, ci_upper=hi, level=level, dof_k=int(dof_k))


def normal_quantile_interpolation(replicates, alpha) -> np.ndarray:
    r"""Bootstrap quantiles at levels ``alpha`` as R ``boot``'s ``norm.inter``: the
    :math:`(R+1)\alpha`-th order statistic, interpolated on the normal-quantile scale between the
    two neighbouring order statistics when :math:`(R+1)\alpha` is not an integer (the extreme
    order statistic where it falls outside :math:`[1, R]`). Non-finite replicates are dropped."""
    t = np.sort(np.asarray(replicates, float)[np.isfinite(replicates)])
    R = t.size
    alpha = np.atleast_1d(np.asarray(alpha, float))
    rk = (R + 1) * alpha
    k = np.trunc(rk).astype(int)
    out = np.empty(alpha.size)
    for i, (ki, rki, ai) in enumerate(zip(k, rk, alpha)):
        if ki <= 0:
            out[i] = t[0]
        elif ki >= R:
            out[i] = t[-1]
        elif ki == rki:
            out[i] = t[ki - 1]
        else:
            z, z0, z1 = stats.norm.ppf([ai, ki / (R + 1), (ki + 1) / (R + 1)])
            out[i] = t[ki - 1] + (z - z0) / (z1 - z0) * (t[ki] - t[ki - 1])
    return out


def bca_interval(estimate: float, replicates, jackknife, *, level: float = 0.95) -> tuple[float, float]:
    r"""Bias-corrected and accelerated bootstrap interval (Efron 1987), as R ``boot.ci(type =
    "bca")`` computes it with jackknife influence values.

    .. math::

        \hat z_0 = \Phi^{-1}\big(\#\{t^*_r < \hat\theta\}/R\big),\quad
        L_g = (G-1)(\hat\theta - \hat\theta_{(-g)}),\quad
        \hat a = \frac{\sum_g L_g^3}{6(\sum_g L_g^2)^{3/2}},\\
        \alpha_{1,2} = \Phi\Big(\hat z_0 + \frac{\hat z_0 + z_{\alpha}}{1 - \hat a(\hat z_0 + z_{\alpha})}\Big),

    and the interval is the replicates' :func:`normal_quantile_interpolation` at
    :math:`\alpha_1, \alpha_2`, :math:`z_\alpha = \Phi^{-1}((1 \mp \text{level})/2)`.
    ``jackknife`` holds the estimates with one resampling unit (cluster) left out each;
    ``boot`` itself estimates :math:`L` by regression on the resampling frequencies unless it is
    given them (``tests/goldens/mediation_bca.R`` gives it the jackknife values).
    """
    t = np.asarray(replicates, float)
    t = t[np.isfinite(t)]
    jack = np.asarray(jackknife, float)
    if t.size < 2 or not np.isfinite(jack).all():
        return float("nan"), float("nan")
    share = np.mean(t < estimate)
    if share in (0.0, 1.0):
        return float("nan"), float("nan")
    z0 = stats.norm.ppf(share)
    L = (jack.size - 1) * (estimate - jack)
    denom = (L ** 2).sum() ** 1.5
    a = (L ** 3).sum() / (6 * denom) if denom > 0 else 0.0
    z = stats.norm.ppf((1 + np.array([-level, level])) / 2)
    adj = stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    lo, hi = normal_quantile_interpolation(t, adj)
    return float(lo), float(hi)


def _invert(p_of, beta: float, se: float, alpha: float, *, tol: float = 1e-6) -> tuple[float, float]:
    r"""The two points where the p-value of :math:`H_0: \beta = \beta_0` falls to ``alpha``:
    bracketed by stepping out from the estimate in s.e. units, then bisected (to ``tol`` s.e.)."""
    bounds = []
    for side in (-1.0, 1.0):
        inner, outer = 0.0, 2.0
        while p_of(beta + side * outer * se) > alpha:
            inner, outer = outer, outer * 2
            if outer > 1e4:
                return float("nan"), float("nan")
        while outer - inner > tol:
            mid = (inner + outer) / 2
            inner, outer = (mid, outer) if p_of(beta + side * mid * se) > alpha else (inner, mid)
        bounds.append(beta + side * (inner + outer) / 2 * se)
    return float(bounds[0]), float(bounds[1])


def driscoll_kraay(
    data: pd.DataFrame,
    *,
    yname: str,
    dname: str,
    idname: str,
    tname: str,
    controls: Sequence[str] = (),
    bandwidth: int | None = None,
) -> RegressionResult:
    r"""Two-way FE OLS with Driscoll-Kraay standard errors {cite}`driscoll_kraay1998`.

    With :math:`h_t = \sum_i \ddot x_{it}\hat u_{it}` (the period sums of the
    scores) and Bartlett weights :math:`w_l = 1 - l/(L+1)`:

    .. math::

        \hat S = \sum_t h_t h_t' + \sum_{l=1}^{L} w_l \sum_{t>l}(h_t h_{t-l}' + h_{t-l} h_t'),\qquad
        \hat V = \frac{N}{N-K}(\ddot X'\ddot X)^{-1}\hat S(\ddot X'\ddot X)^{-1},

    :math:`K` counting every fixed effect (linearmodels' convention;
    ``PanelOLS(...).fit(cov_type="kernel", kernel="bartlett")`` gives the
    same numbers). Default bandwidth :math:`L = \lfloor 4(T/100)^{2/9}\rfloor`
    (Newey-West's rule). With :math:`T = 11` years the long-run variance rests
    on 11 period sums: the s.e. are themselves noisy, and inference uses
    :math:`t_{T-1}`.

    Returns
    -------
    RegressionResult
        ``vcov`` text names the bandwidth; ``extra["bandwidth"]``.
    """
    controls = list(controls)
    frame, y, X, reasons = _fe_design(data, yname, dname, idname, tname, controls, idname)
    n_dropped = len(data) - len(frame)
    N, k = X.shape
    periods = frame[tname].to_numpy()
    yrs = np.unique(periods)
    T, E = len(yrs), frame[idname].nunique()
    L = int(np.floor(4 * (T / 100) ** (2 / 9))) if bandwidth is None else int(bandwidth)
    bread = np.linalg.inv(X.T @ X)
    beta = bread @ (X.T @ y)
    u = y - X @ beta
    H = np.vstack([(X[periods == s] * u[periods == s, None]).sum(axis=0) for s in yrs])
    Sm = H.T @ H
    for lag in range(1, L + 1):
        G = H[lag:].T @ H[:-lag]
        Sm += (1 - lag / (L + 1)) * (G + G.T)
    K = k + E + T - 1
    V = N / (N - K) * bread @ Sm @ bread
    names = [dname, *controls]
    se = np.sqrt(np.diag(V))
    ybar = y - y.mean()
    return RegressionResult(
        params=pd.Series(beta, index=names, name="estimate"),
        std_errors=pd.Series(se, index=names, name="std_error"),
        cov=pd.DataFrame(V, index=names, columns=names), nobs=int(N), dof_resid=T - 1,
        r2=float(1 - (u @ u) / (ybar @ ybar)), r2_kind="within",
        fixed_effects=(idname, tname), controls=bool(controls),
        vcov=f"Driscoll-Kraay (Bartlett, bandwidth {L})", n_dropped=int(n_dropped),
        drop_reasons=dict(reasons), spec=dict(estimator="twfe_dk", yname=yname, dname=dname, idname=idname,
                                   tname=tname, controls=tuple(controls), vcov="DK"),
        extra={"bandwidth": L, "periods": T, "entities": int(E)})
