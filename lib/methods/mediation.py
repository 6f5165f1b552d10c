r"""Mediation analysis: the three-step method, the Sobel test and a cluster bootstrap (§5).

The paper's mechanism tests (Tables 11-13) follow the three-step method of
Baron & Kenny (1986) with two-way fixed effects:

.. math::

    Y_{it} &= c\,D_{it} + X_{it}'\gamma_1 + \mu_i + \nu_t + \varepsilon_{it}
    &&\text{(eq. 7, total effect)}\\
    M_{it} &= a\,D_{it} + X_{it}'\gamma_2 + \mu_i + \nu_t + u_{it}
    &&\text{(eq. 9)}\\
    Y_{it} &= c'\,D_{it} + b\,M_{it} + X_{it}'\gamma_3 + \mu_i + \nu_t + e_{it}
    &&\text{(eq. 10)}

On one estimation sample OLS gives the identity :math:`c = c' + a b` exactly,
so the indirect effect :math:`a b` is also the change in the treatment
coefficient when the mediator enters. Inference on :math:`a b`:

* the Sobel (1982) delta-method z, :func:`sobel`;
* a cluster bootstrap (resampling cities with replacement) percentile
  interval, computed by :func:`bootstrap_paths` exactly but without a
  regression per replication: a resample is a vector of city frequency
  weights, the city means do not change under city-constant weights, and every
  weighted cross-product is a weighted sum of per-city cross-products, so all
  replications are one matrix product and a batch of small solves.

What the method can show is limited: the mediator is itself an outcome of
the policy, and reading :math:`a b` causally needs sequential ignorability
(no unobserved confounder of mediator and outcome, Imai, Keele & Tingley
2010); see the mechanisms chapter.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import sparse, stats

from lib.methods.inference import bca_interval
from lib.methods.results import RegressionResult

__all__ = [
    "MediationResult",
    "three_step",
    "sobel",
    "indirect_tests",
    "path_scores",
    "cluster_draws",
    "bootstrap_paths",
    "jackknife_paths",
    "implied_t_a",
    "MediationSensitivity",
    "sequential_ignorability_sensitivity",
    "truth_gaps",
    "indirect_plot",
]


# ----------------------------------------------------------------------- Sobel
def sobel(a: float, se_a: float, b: float, se_b: float) -> tuple[float, float]:
    r"""Sobel (1982) test of the indirect effect :math:`a b`.

    .. math::

        z = \frac{a\,b}{\sqrt{b^2 s_a^2 + a^2 s_b^2}}, \qquad p = 2\,\Phi(-|z|),

    the first-order delta-method standard error of :math:`a b` (no
    :math:`s_a^2 s_b^2` term; Stata ``sgmediation``'s "Sobel").

    Parameters
    ----------
    a, se_a : float
        Effect of the treatment on the mediator (eq. 9) and its s.e.
    b, se_b : float
        Effect of the mediator on the outcome given the treatment (eq. 10)
        and its s.e.

    Returns
    -------
    (z, p) : tuple of float

    Examples
    --------
    >>> z, p = sobel(0.5, 0.1, 0.4, 0.1)
    >>> round(z, 4)
    3.1235
    """
    if se_a < 0 or se_b < 0:
        raise ValueError(f"standard errors must be non-negative, got se_a={se_a}, se_b={se_b}")
    den = np.sqrt(b**2 * se_a**2 + a**2 * se_b**2)
    if den == 0:
        raise ValueError("sobel: b²·se_a² + a²·se_b² is zero; the test is undefined")
    z = float(a * b / den)
    return z, float(2 * stats.norm.sf(abs(z)))


def indirect_tests(a: float, se_a: float, b: float, se_b: float, cov_ab: float = 0.0) -> pd.DataFrame:
    r"""Delta-method tests of the indirect effect :math:`ab`, one row each: s.e., z and p.

    .. math::

        s^2_{ab} = b^2 s_a^2 + a^2 s_b^2 + 2ab\,s_{ab}\ (\text{Sobel with covariance}),\quad
        + s_a^2 s_b^2\ (\text{Aroian}),\quad - s_a^2 s_b^2\ (\text{Goodman}),

    Sobel (1982) without the covariance term; the covariance :math:`s_{ab}` of :math:`\hat a` and
    :math:`\hat b` is zero for the two regressions' OLS errors under homoskedasticity, but not
    under clustering (:func:`path_scores`). Goodman's s.e. is NaN when its variance is negative.
    """
    v = {"Sobel": b**2 * se_a**2 + a**2 * se_b**2}
    v["Sobel with covariance"] = v["Sobel"] + 2 * a * b * cov_ab
    v["Aroian"] = v["Sobel"] + se_a**2 * se_b**2
    v["Goodman"] = v["Sobel"] - se_a**2 * se_b**2
    rows = {}
    for name, var in v.items():
        se = float(np.sqrt(var)) if var > 0 else float("nan")
        z = a * b / se if se > 0 else float("nan")
        rows[name] = {"std_error": se, "z": z, "p": float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan}
    out = pd.DataFrame(rows).T
    out.index.name = "test"
    return out


def path_scores(frame: pd.DataFrame, *, yname: str, dname: str, mediator: str, idname: str,
                tname: str, controls: Sequence[str], cluster: str,
                effects: str = "twoway") -> tuple[np.ndarray, dict[str, float]]:
    r"""Per-cluster influence sums of :math:`\hat a` (eq. 9) and :math:`\hat b` (eq. 10), the
    pieces of their joint cluster-robust covariance.

    With :math:`\ddot Z_a = [\ddot D, \ddot X]` and :math:`\ddot Z_b = [\ddot D, \ddot M, \ddot X]`
    the fixed-effects-demeaned regressors (Frisch-Waugh) and :math:`\hat u, \hat e` the two
    residuals, :math:`\psi_{a,i} = e_D'(\ddot Z_a'\ddot Z_a)^{-1}\ddot Z_{a,i}\hat u_i`,
    :math:`\psi_{b,i} = e_M'(\ddot Z_b'\ddot Z_b)^{-1}\ddot Z_{b,i}\hat e_i`, and the returned
    ``(G, 2)`` array holds :math:`S_g = \sum_{i \in g}(\psi_{a,i}, \psi_{b,i})`. Then
    :math:`\hat V = c\,S'S` with :math:`c = G/(G-1)` (R ``sandwich::vcovCL(type = "HC0")``) or
    times :math:`(N-1)/(N-K)` per equation (CRV1, :func:`lib.methods.did.twfe`'s s.e.). ``frame``
    holds the complete common sample. The dict gives ``n`` and ``G``.
    """
    from lib.methods.panel import codes, demean

    if effects not in ("twoway", "unit", "none"):
        raise ValueError(f"effects must be 'twoway', 'unit' or 'none', got {effects!r}")
    ids, yrs = frame[idname].to_numpy(), frame[tname].to_numpy()
    # as lib.methods.did.twfe: an effect not absorbed is one level, demeaning by it removes the mean
    if effects != "twoway":
        yrs = np.zeros(len(frame), dtype=int)
    if effects == "none":
        ids = np.zeros(len(frame), dtype=int)
    Z = demean(frame[[yname, mediator, dname, *controls]].to_numpy(float), ids, yrs)
    y, m, x = Z[:, 0], Z[:, 1], Z[:, 2:]            # x = [D, controls]
    za = x
    zb = np.column_stack([x[:, :1], m, x[:, 1:]])
    psi = []
    for zz, dep, row in ((za, m, 0), (zb, y, 1)):
        coef, *_ = np.linalg.lstsq(zz, dep, rcond=None)
        resid = dep - zz @ coef
        psi.append((zz @ np.linalg.pinv(zz.T @ zz)[row]) * resid)
    c, G = codes(frame[cluster].to_numpy())
    S = np.zeros((G, 2))
    np.add.at(S, c, np.column_stack(psi))
    return S, {"n": float(len(frame)), "G": float(G)}


def implied_t_a(sobel_z: float, t_b: float) -> float:
    r"""The t statistic of :math:`a` implied by a printed Sobel z and the t of :math:`b`.

    Dividing numerator and denominator of the Sobel z by :math:`s_a s_b`
    gives :math:`z^{-2} = t_a^{-2} + t_b^{-2}`, so
    :math:`|t_a| = (z^{-2} - t_b^{-2})^{-1/2}`; ``nan`` when
    :math:`|z| \ge |t_b|` (impossible: :math:`|z| < \min(|t_a|, |t_b|)`).
    """
    rest = 1.0 / sobel_z**2 - 1.0 / t_b**2
    return float(1.0 / np.sqrt(rest)) if rest > 0 else float("nan")


# ------------------------------------------------------------------- bootstrap
def cluster_draws(n_clusters: int, reps: int, seed: int) -> np.ndarray:
    """``(reps, n_clusters)`` cluster indices drawn with replacement (seeded).

    Row ``r`` is replication ``r``'s resample of clusters; the same draws drive
    the vectorised bootstrap and any per-replication reference loop.
    """
    if reps < 0 or n_clusters < 1:
        raise ValueError(f"need reps >= 0 and n_clusters >= 1, got {reps}, {n_clusters}")
    return np.random.default_rng(seed).integers(0, n_clusters, size=(reps, n_clusters))


def _draw_weights(draws: np.ndarray, n_clusters: int) -> np.ndarray:
    """Frequency of each cluster in each replication, ``(reps, n_clusters)``."""
    reps = draws.shape[0]
    flat = (draws + n_clusters * np.arange(reps)[:, None]).ravel()
    return np.bincount(flat, minlength=reps * n_clusters).reshape(reps, n_clusters).astype(float)


def bootstrap_paths(frame: pd.DataFrame, *, yname: str, dname: str, mediator: str,
                    idname: str, tname: str, controls: Sequence[str] = (),
                    cluster: str | None = None, reps: int = 1000, seed: int = 20241123,
                    draws: np.ndarray | None = None, chunk: int = 250,
                    progress: bool | str = False, effects: str = "twoway",
                    weights: np.ndarray | None = None) -> pd.DataFrame:
    r"""Cluster bootstrap of the three-step paths, vectorised across replications.

    A resample of clusters with replacement equals the original rows with
    frequency weights :math:`w_g` (the number of times cluster :math:`g` is
    drawn; a cluster drawn twice as two relabelled copies has the same fitted
    effects as one copy with weight 2). For each replication the function
    returns the weighted two-way FE estimates of eqs. 7, 9 and 10.

    Exactness. Cities are nested in clusters, so weights are constant within
    a city and the weighted within-city demeaning equals the unweighted one:
    :math:`\tilde z_{it} = z_{it} - \bar z_{i}` is computed once. The year
    effects then enter as within-city-demeaned year dummies (FWL). With
    :math:`Z = [\tilde D, \tilde X, \tilde M, \tilde Y, \tilde\Delta]` and
    per-cluster cross-products :math:`C_g = Z_g'Z_g`, replication :math:`r`'s
    normal equations are sub-blocks of

    .. math:: S_r = \textstyle\sum_g w_{rg}\, C_g,

    one ``(reps x G) @ (G x p²)`` product; each path is a batched solve of a
    :math:`p \le k + T + 1` system. Columns are scaled to unit variance first
    (coefficients are scaled back) to keep the normal equations well
    conditioned.

    With ``effects="unit"`` the year dummies are left out; with ``"none"`` no
    city demeaning is done and an intercept enters instead (the columns are
    centred at their sample means first, which moves only the intercept). Both
    stay exact for the same reason: the weights are constant within a city.

    Parameters
    ----------
    frame : pandas.DataFrame
        The estimation sample: complete cases, singletons dropped (as
        :func:`three_step` builds it).
    yname, dname, mediator, idname, tname, controls
        As in :func:`three_step`.
    cluster : str, optional
        Resampling unit (default ``idname``); every city must lie in one
        cluster.
    reps : int
        Replications (ignored when ``draws`` is given).
    seed : int
        Seed of :func:`cluster_draws`.
    draws : ndarray, optional
        ``(reps, G)`` cluster indices (codes of the sorted cluster labels).
    chunk : int
        Replications per batch (memory ``chunk * p²`` floats; the progress
        bar advances per batch).
    progress : bool or "auto"
        A tqdm progress bar on stderr; ``"auto"`` shows it only on a terminal.
    effects : {"twoway", "unit", "none"}
        Fixed effects of every path, as in :func:`three_step`.
    weights : ndarray, optional
        ``(reps, G)`` cluster frequencies used instead of ``draws`` (e.g. the jackknife's, one
        cluster at weight 0: :func:`jackknife_paths`).

    Returns
    -------
    pandas.DataFrame
        One row per replication: ``a``, ``b``, ``indirect`` (a·b), ``direct``
        (c'), ``total`` (c), and ``ssr_a``, ``ssr_b``, the residual sums of squares of eqs. 9
        and 10 (frequency-weighted: the resample's). Replications whose resample leaves a path
        unidentified (e.g. no treated city drawn) are NaN.
    """
    controls = list(controls)
    cluster = cluster or idname
    f = frame.sort_values([idname, tname])
    n = len(f)
    cl_codes, cl_levels = pd.factorize(f[cluster], sort=True)
    G = len(cl_levels)
    per_city = f.groupby(idname)[cluster].nunique()
    if (per_city > 1).any():
        raise ValueError(f"bootstrap_paths: cities {per_city.index[per_city > 1].tolist()[:5]} "
                         f"lie in several {cluster!r} clusters; the resampling unit must "
                         f"contain whole cities.")
    if weights is not None:
        weights = np.asarray(weights, float)
        if weights.ndim != 2 or weights.shape[1] != G or (weights < 0).any():
            raise ValueError(f"weights must be (reps, {G}) non-negative frequencies; got shape "
                             f"{weights.shape}")
        R = weights.shape[0]
    else:
        if draws is None:
            draws = cluster_draws(G, reps, seed)
        draws = np.asarray(draws)
        if draws.ndim != 2 or draws.shape[1] != G or draws.min(initial=0) < 0 or \
                draws.max(initial=0) >= G:
            raise ValueError(f"draws must be (reps, {G}) integer codes in [0, {G}); got "
                             f"shape {draws.shape}")
        R = draws.shape[0]

    if effects not in ("twoway", "unit", "none"):
        raise ValueError(f"effects must be 'twoway', 'unit' or 'none', got {effects!r}")
    if effects == "twoway":
        years = pd.factorize(f[tname], sort=True)[0]
        T = years.max() + 1
        extra = np.zeros((n, T - 1))
        rows = np.flatnonzero(years > 0)
        extra[rows, years[rows] - 1] = 1.0
    else:
        extra = np.zeros((n, 0))
    Z = np.column_stack([f[[dname, *controls, mediator, yname]].to_numpy(float), extra])
    if effects == "none":
        Z = np.column_stack([Z - Z.mean(axis=0), np.ones(n)])   # the intercept is the last column
    else:
        city = pd.factorize(f[idname])[0]
        Sc = sparse.csr_matrix((np.ones(n), (city, np.arange(n))), shape=(city.max() + 1, n))
        Z = Z - (Sc @ Z / np.asarray(Sc.sum(axis=1)))[city]
    scale = Z.std(axis=0)
    scale[scale == 0] = 1.0
    Z = Z / scale
    p = Z.shape[1]
    Sg = sparse.csr_matrix((np.ones(n), (cl_codes, np.arange(n))), shape=(G, n))
    C = np.asarray(Sg @ (Z[:, :, None] * Z[:, None, :]).reshape(n, p * p))  # (G, p²)

    k = len(controls)
    i_d, i_x = 0, list(range(1, 1 + k))
    i_m, i_y = 1 + k, 2 + k
    i_t = list(range(3 + k, p))
    paths = {  # name: (outcome column, regressors, position of the reported coefficient)
        "a": (i_m, [i_d, *i_x, *i_t], 0),
        "b": (i_y, [i_d, i_m, *i_x, *i_t], 1),
        "direct": (i_y, [i_d, i_m, *i_x, *i_t], 0),
        "total": (i_y, [i_d, *i_x, *i_t], 0),
    }
    unscale = {"a": scale[i_m] / scale[i_d], "b": scale[i_y] / scale[i_m],
               "direct": scale[i_y] / scale[i_d], "total": scale[i_y] / scale[i_d]}
    out = {name: np.full(R, np.nan) for name in paths}
    ssr = {"a": np.full(R, np.nan), "b": np.full(R, np.nan)}   # residual sums of squares, eqs. 9, 10

    bar = _progress_bar(R, progress)
    for start in range(0, R, chunk):
        stop = min(start + chunk, R)
        W = weights[start:stop] if weights is not None else _draw_weights(draws[start:stop], G)
        S = (W @ C).reshape(stop - start, p, p)
        for name, (yi, xi, pos) in paths.items():
            A = S[:, xi][:, :, xi]
            rhs = S[:, xi, yi]
            sol = _batched_solve(A, rhs)
            out[name][start:stop] = sol[:, pos] * unscale[name]
            if name in ssr:   # e'e = y'y - b'X'y, in the outcome's original units
                ssr[name][start:stop] = (S[:, yi, yi] - (rhs * sol).sum(axis=1)) * scale[yi] ** 2
        if bar is not None:
            bar.update(stop - start)
    if bar is not None:
        bar.close()
    res = pd.DataFrame(out)
    res.insert(2, "indirect", res["a"] * res["b"])
    res["ssr_a"], res["ssr_b"] = ssr["a"], ssr["b"]
    res.index.name = "rep"
    return res


def jackknife_paths(frame: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """The three-step paths with one cluster left out at a time (row ``g``: cluster ``g`` of the
    sorted labels at weight 0), exactly, through :func:`bootstrap_paths`' weights; the
    acceleration of the BCa interval (:func:`lib.methods.inference.bca_interval`) uses them.
    Takes :func:`bootstrap_paths`' arguments except ``reps``, ``seed``, ``draws``, ``weights``."""
    cluster = kwargs.get("cluster") or kwargs["idname"]
    G = frame[cluster].nunique()
    out = bootstrap_paths(frame, weights=1.0 - np.eye(G), **kwargs)
    out.index.name = "left_out"
    return out


def _batched_solve(A: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve each ``A[r] x = rhs[r]``; rows with a singular ``A[r]`` give NaN."""
    try:
        return np.linalg.solve(A, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.full(rhs.shape, np.nan)
        for r in range(A.shape[0]):
            try:
                out[r] = np.linalg.solve(A[r], rhs[r])
            except np.linalg.LinAlgError:
                pass
        return out


def _progress_bar(total: int, progress: bool | str):
    if progress == "auto":
        progress = sys.stderr.isatty() and not os.environ.get("PYTEST_CURRENT_TEST")
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="cluster bootstrap", unit="rep", file=sys.stderr)


# --------------------------------------------------------------------- result
@dataclass(frozen=True)
class MediationResult:
    r"""The three-step mediation fit for one mediator.

    Attributes
    ----------
    yname, dname, mediator : str
    total : RegressionResult
        Eq. 7: outcome on the treatment (and controls), the total effect c.
    a_path : RegressionResult
        Eq. 9: mediator on the treatment, a.
    b_path : RegressionResult
        Eq. 10: outcome on the treatment and the mediator: b and the direct
        effect c'.
    indirect : float
        a·b (equals c - c' on the common sample).
    sobel_z, sobel_p : float
        :func:`sobel` of a and b.
    cov_ab : float
        Covariance of :math:`\hat a` and :math:`\hat b` from their joint cluster-robust
        estimation (:func:`path_scores`, CRV1 factors of the two equations, geometric mean);
        NaN without clusters. :attr:`tests` uses it.
    bootstrap_ci : tuple of float
        Percentile 95% interval of a·b over the cluster bootstrap (NaN when
        ``bootstrap_reps == 0``).
    bootstrap_draws : pandas.DataFrame
        One row per replication (``a``, ``b``, ``indirect``, ``direct``,
        ``total``); empty without a bootstrap.
    bca_ci : tuple of float
        Bias-corrected and accelerated 95% interval of a·b from the same replications
        (:func:`lib.methods.inference.bca_interval`, acceleration from ``jackknife_draws``).
    jackknife_draws : pandas.DataFrame
        The paths with one cluster left out at a time (:func:`jackknife_paths`); empty without
        a bootstrap.
    residual_ss : dict
        ``"a"``, ``"b"``: residual sums of squares of eqs. 9 and 10 on the common sample (for
        :func:`sequential_ignorability_sensitivity`).
    nobs, n_dropped : int
        Rows of the common sample and rows of ``data`` left out.
    drop_reasons : dict
        Rows dropped per column (and singletons).
    spec : dict
        The arguments used.
    """

    yname: str
    dname: str
    mediator: str
    total: RegressionResult
    a_path: RegressionResult
    b_path: RegressionResult
    indirect: float
    sobel_z: float
    sobel_p: float
    bootstrap_ci: tuple[float, float]
    bootstrap_draws: pd.DataFrame
    nobs: int
    n_dropped: int
    drop_reasons: dict[str, int] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    cov_ab: float = float("nan")
    bca_ci: tuple[float, float] = (float("nan"), float("nan"))
    jackknife_draws: pd.DataFrame = field(default_factory=pd.DataFrame)
    residual_ss: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------ shortcuts
    @property
    def a(self) -> float:
        return float(self.a_path.params[self.dname])

    @property
    def se_a(self) -> float:
        return float(self.a_path.std_errors[self.dname])

    @property
    def b(self) -> float:
        return float(self.b_path.params[self.mediator])

    @property
    def se_b(self) -> float:
        return float(self.b_path.std_errors[self.mediator])

    @property
    def direct(self) -> float:
        """c', the treatment coefficient of eq. 10."""
        return float(self.b_path.params[self.dname])

    @property
    def total_effect(self) -> float:
        """c, the treatment coefficient of eq. 7."""
        return float(self.total.params[self.dname])

    @property
    def indirect_se(self) -> float:
        """Delta-method (Sobel) s.e. of a·b."""
        return float(np.sqrt(self.b**2 * self.se_a**2 + self.a**2 * self.se_b**2))

    @property
    def tests(self) -> pd.DataFrame:
        """:func:`indirect_tests` of a·b: Sobel, Sobel with the a-b covariance, Aroian, Goodman."""
        return indirect_tests(self.a, self.se_a, self.b, self.se_b,
                              0.0 if np.isnan(self.cov_ab) else self.cov_ab)

    @property
    def bootstrap_se(self) -> float:
        """Standard deviation of a·b over the bootstrap replications."""
        d = self.bootstrap_draws
        return float(d["indirect"].std(ddof=1)) if len(d) > 1 else float("nan")

    @property
    def proportion_mediated(self) -> float:
        """a·b / c."""
        return self.indirect / self.total_effect

    # --------------------------------------------------------------- output
    def tidy(self) -> pd.DataFrame:
        """One row per path: estimate, s.e., statistic, p, 95% CI, N."""
        rows = []
        for name, res, term in (("total c (eq. 7)", self.total, self.dname),
                                ("a (eq. 9)", self.a_path, self.dname),
                                ("b (eq. 10)", self.b_path, self.mediator),
                                ("direct c' (eq. 10)", self.b_path, self.dname)):
            r = res.tidy().loc[term]
            rows.append({"path": name, "estimate": r["estimate"], "std_error": r["std_error"],
                         "statistic": r["t"], "p": r["p"], "ci_lower": r["ci_lower"],
                         "ci_upper": r["ci_upper"], "ci_kind": "t", "nobs": res.nobs})
        boot = np.isfinite(self.bootstrap_ci[0])
        half = 1.959963984540054 * self.indirect_se
        rows.append({"path": "indirect a·b", "estimate": self.indirect,
                     "std_error": self.indirect_se, "statistic": self.sobel_z,
                     "p": self.sobel_p,
                     "ci_lower": self.bootstrap_ci[0] if boot else self.indirect - half,
                     "ci_upper": self.bootstrap_ci[1] if boot else self.indirect + half,
                     "ci_kind": (f"cluster bootstrap percentile ({len(self.bootstrap_draws)} reps)"
                                 if boot else "normal (Sobel)"), "nobs": self.nobs})
        return pd.DataFrame(rows).set_index("path")

    def table(self, *, title: str | None = None, notes: str | Sequence[str] | None = None):
        """Eqs. 7, 9 and 10 side by side, with a·b, the Sobel z and the bootstrap CI."""
        from lib.present.tables import format_number, regression_table

        cols = {f"(eq. 7) {self.yname}": self.total, f"(eq. 9) {self.mediator}": self.a_path,
                f"(eq. 10) {self.yname}": self.b_path}
        last = list(cols)[-1]
        lo, hi = self.bootstrap_ci
        ci = (f"[{format_number(lo)}, {format_number(hi)}]" if np.isfinite(lo) else "")
        extra = {"a·b": {last: format_number(self.indirect, 5)},
                 "Sobel z": {last: f"{self.sobel_z:.2f}"},
                 "bootstrap 95% CI of a·b": {last: ci}}
        note = (f"a·b and the Sobel z use a from eq. 9 and b from eq. 10; the bootstrap "
                f"resamples cities ({len(self.bootstrap_draws)} replications, percentile "
                f"interval). All three models use the same {self.nobs:,} city-years.")
        return regression_table(cols, keep=[self.dname, self.mediator], extra_rows=extra,
                                title=title, notes=[note, *([notes] if isinstance(notes, str)
                                                            else list(notes or []))])

    def plot(self, *, truth: Mapping[str, float] | None = None, ax: Any = None):
        """Path diagram: treatment → mediator → outcome with a, b, c' (s.e.).

        ``truth`` may map ``"a"``, ``"b"``, ``"direct"``, ``"indirect"`` to the
        true values, printed under the estimates.
        """
        from matplotlib.patches import FancyBboxPatch

        from lib.present import figures

        fig, ax = figures.new_axes(ax, figsize=(7.0, 3.6))
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 6)
        ax.axis("off")
        truth = dict(truth or {})
        nodes = {"d": (1.4, 1.6, self.dname), "m": (5.0, 5.0, self.mediator),
                 "y": (8.6, 1.6, self.yname)}
        for x, y, text in nodes.values():
            ax.add_patch(FancyBboxPatch((x - 1.0, y - 0.45), 2.0, 0.9,
                                        boxstyle="round,pad=0.05", fc="white",
                                        ec=figures.PALETTE["book"], lw=1.5))
            ax.text(x, y, text, ha="center", va="center", fontsize=11, fontweight="bold")

        def arrow(p, q):
            ax.annotate("", xy=q, xytext=p, arrowprops=dict(arrowstyle="-|>", lw=1.6,
                                                            color=figures.PALETTE["book"]))

        def label(name, est, se, key):
            s = f"{name} = {est:.4g} (s.e. {se:.2g})"
            if key in truth and truth[key] is not None and np.isfinite(truth[key]):
                s += f"\ntruth {truth[key]:.4g}"
            return s

        arrow((2.2, 2.1), (4.2, 4.5))
        arrow((5.8, 4.5), (7.8, 2.1))
        arrow((2.45, 1.6), (7.55, 1.6))
        ax.text(2.6, 3.6, label("a", self.a, self.se_a, "a"), ha="right", va="center",
                fontsize=9)
        ax.text(7.4, 3.6, label("b", self.b, self.se_b, "b"), ha="left", va="center",
                fontsize=9)
        se_c = float(self.b_path.std_errors[self.dname])
        ax.text(5.0, 1.35, label("c'", self.direct, se_c, "direct"), ha="center", va="top",
                fontsize=9)
        lo, hi = self.bootstrap_ci
        boot = f"; bootstrap 95% CI [{lo:.4g}, {hi:.4g}]" if np.isfinite(lo) else ""
        ind = f"indirect a·b = {self.indirect:.4g} (Sobel z = {self.sobel_z:.2f}{boot})"
        if "indirect" in truth and truth["indirect"] is not None and np.isfinite(truth["indirect"]):
            ind += f"; truth {truth['indirect']:.4g}"
        ax.text(5.0, 0.05, ind, ha="center", va="bottom", fontsize=9)
        return fig


# ------------------------------------------------------------------ estimator
def three_step(
    data: pd.DataFrame,
    *,
    yname: str,
    dname: str,
    mediator: str,
    idname: str,
    tname: str,
    controls: Sequence[str] = (),
    vcov: dict[str, str] | str,
    bootstrap_reps: int = 0,
    seed: int = 20241123,
    progress: bool | str = False,
    effects: str = "twoway",
) -> MediationResult:
    r"""Three-step mediation with two-way fixed effects (the paper's eqs. 7, 9, 10).

    .. math::

        Y_{it} &= c\,D_{it} + X_{it}'\gamma_1 + \mu_i + \nu_t + \varepsilon_{it} \\
        M_{it} &= a\,D_{it} + X_{it}'\gamma_2 + \mu_i + \nu_t + u_{it} \\
        Y_{it} &= c'\,D_{it} + b\,M_{it} + X_{it}'\gamma_3 + \mu_i + \nu_t + e_{it}

    All three are estimated by :func:`lib.methods.did.twfe` on **one** sample, the
    complete cases of outcome, treatment, mediator, controls and identifiers
    (singletons dropped), so that :math:`c = c' + ab` holds exactly. Inference:
    CRV1 s.e. (see :func:`lib.methods.did.twfe`), the Sobel z of :math:`ab`
    (:func:`sobel`) and, with ``bootstrap_reps > 0``, a percentile interval
    from a cluster bootstrap that resamples the ``vcov`` clusters (cities by
    default) with replacement and re-estimates a and b with the same fixed
    effects in every replication (:func:`bootstrap_paths`, exact and
    vectorised).

    Parameters
    ----------
    data : pandas.DataFrame
        City-year panel.
    yname, dname, mediator : str
        Outcome, treatment dummy and mediator columns.
    idname, tname : str
        City and year identifiers.
    controls : sequence of str
        Controls (the same in every equation).
    vcov : {"CRV1": column} or "hetero" or "iid"
        Inference of the three regressions; the bootstrap resamples the CRV1
        column's clusters (cities otherwise).
    bootstrap_reps : int
        Cluster-bootstrap replications (0 = none).
    seed : int
        Seed of the bootstrap draws (:func:`cluster_draws`).
    progress : bool or "auto"
        tqdm progress bar for the bootstrap (``"auto"``: only on a terminal).
    effects : {"twoway", "unit", "none"}
        Fixed effects of all three equations (:func:`lib.methods.did.twfe`'s
        ``effects``): unit and period, unit only, or none; the bootstrap
        re-estimates the paths with the same effects.

    Returns
    -------
    MediationResult

    Raises
    ------
    KeyError
        A named column is not in ``data``.
    ValueError
        The mediator equals the outcome or treatment, or no rows are left.

    References
    ----------
    Baron & Kenny (1986); Sobel (1982); Imai, Keele & Tingley (2010);
    Jiang (2022) on the limits of the three-step method in economics.

    Examples
    --------
    >>> med = three_step(panel, yname="Inno", dname="CBEC", mediator="Diginf",
    ...                  controls=CONTROLS, vcov={"CRV1": "city_id"},
    ...                  bootstrap_reps=1000, seed=1)             # doctest: +SKIP
    >>> med.indirect, med.sobel_z, med.bootstrap_ci               # doctest: +SKIP
    """
    from lib.methods.did import _parse_vcov, estimation_frame, twfe

    controls = list(controls)
    if mediator in (yname, dname) or mediator in controls:
        raise ValueError(f"three_step: mediator {mediator!r} must differ from the outcome, the "
                         f"treatment and the controls")
    if int(bootstrap_reps) != bootstrap_reps or bootstrap_reps < 0:
        raise ValueError(f"bootstrap_reps must be a non-negative integer, got {bootstrap_reps!r}")
    kind, ccol = _parse_vcov(vcov)
    needed = [yname, dname, mediator, *controls, idname, tname] + ([ccol] if ccol else [])
    frame, reasons = estimation_frame(data, needed, idname=idname, tname=tname, fn="three_step")
    n_dropped = len(data) - len(frame)
    mask = data.index.isin(frame.index)

    kw = dict(idname=idname, tname=tname, vcov=vcov, sample=mask, effects=effects)

    def fix(res: RegressionResult) -> RegressionResult:
        # the sample mask hides the common-sample drops from twfe; report them
        return dataclasses.replace(res, n_dropped=n_dropped, drop_reasons=dict(reasons))

    total = fix(twfe(data, yname=yname, dname=dname, controls=controls, **kw))
    a_path = fix(twfe(data, yname=mediator, dname=dname, controls=controls, **kw))
    b_path = fix(twfe(data, yname=yname, dname=dname, controls=[mediator, *controls], **kw))
    a, se_a = float(a_path.params[dname]), float(a_path.std_errors[dname])
    b, se_b = float(b_path.params[mediator]), float(b_path.std_errors[mediator])
    z, p = sobel(a, se_a, b, se_b)
    cov_ab = float("nan")
    if kind == "CRV1":   # the joint covariance, with the CRV1 factor of each equation
        S, info = path_scores(frame, yname=yname, dname=dname, mediator=mediator, idname=idname,
                              tname=tname, controls=controls, cluster=ccol, effects=effects)
        n, G = info["n"], info["G"]
        fa = G / (G - 1) * (n - 1) / (n - a_path.extra["dof_k"])
        fb = G / (G - 1) * (n - 1) / (n - b_path.extra["dof_k"])
        cov_ab = float(np.sqrt(fa * fb) * S[:, 0] @ S[:, 1])

    cl = ccol if kind == "CRV1" else idname
    full = bootstrap_paths(frame, yname=yname, dname=dname, mediator=mediator, idname=idname,
                           tname=tname, controls=controls, cluster=cl, effects=effects,
                           weights=np.ones((1, frame[cl].nunique())))
    residual_ss = {"a": float(full["ssr_a"].iloc[0]), "b": float(full["ssr_b"].iloc[0])}
    if bootstrap_reps:
        draws = bootstrap_paths(frame, yname=yname, dname=dname, mediator=mediator,
                                idname=idname, tname=tname, controls=controls,
                                cluster=ccol if kind == "CRV1" else idname,
                                reps=int(bootstrap_reps), seed=seed, progress=progress,
                                effects=effects)
        ok = draws["indirect"].dropna()
        ci = (float(np.quantile(ok, 0.025)), float(np.quantile(ok, 0.975)))
        jack = jackknife_paths(frame, yname=yname, dname=dname, mediator=mediator,
                               idname=idname, tname=tname, controls=controls,
                               cluster=ccol if kind == "CRV1" else idname, effects=effects)
        bca = bca_interval(a * b, draws["indirect"].to_numpy(), jack["indirect"].to_numpy())
    else:
        draws = pd.DataFrame(columns=["a", "b", "indirect", "direct", "total", "ssr_a", "ssr_b"],
                             dtype=float)
        jack = draws.copy()
        ci = bca = (float("nan"), float("nan"))

    spec = dict(estimator="three_step", yname=yname, dname=dname, mediator=mediator,
                idname=idname, tname=tname, controls=tuple(controls),
                vcov=dict(vcov) if isinstance(vcov, dict) else vcov,
                bootstrap_reps=int(bootstrap_reps), seed=int(seed), effects=effects)
    return MediationResult(yname=yname, dname=dname, mediator=mediator, total=total,
                           a_path=a_path, b_path=b_path, indirect=a * b, sobel_z=z, sobel_p=p,
                           bootstrap_ci=ci, bootstrap_draws=draws, nobs=int(len(frame)),
                           n_dropped=int(n_dropped), drop_reasons=dict(reasons), spec=spec,
                           cov_ab=cov_ab, bca_ci=bca, jackknife_draws=jack, residual_ss=residual_ss)


# ------------------------------------------------------------------ sensitivity
@dataclass(frozen=True)
class MediationSensitivity:
    """The indirect effect as a function of the correlation ρ of the mediator's and the outcome's
    errors (:func:`sequential_ignorability_sensitivity`).

    ``curve``: index ρ, columns ``acme`` and the pointwise cluster-bootstrap ``lower``, ``upper``
    (NaN without a bootstrap). ``rho_zero``: the ρ at which the indirect effect is zero.
    ``mediator``, ``level``, ``reps``: what was computed.
    """

    curve: pd.DataFrame
    rho_zero: float
    mediator: str
    level: float
    reps: int

    def at(self, rho: float) -> float:
        """The indirect effect at one ρ (interpolated on the grid)."""
        c = self.curve
        return float(np.interp(rho, c.index.to_numpy(float), c["acme"].to_numpy()))

    def table(self, rhos: Sequence[float] = (-0.5, -0.3, -0.1, 0.0, 0.1, 0.3, 0.5), title: str | None = None):
        from lib.present.tables import frame_table

        c = self.curve
        rows = c.loc[c.index[np.isclose(c.index.to_numpy(float)[:, None], np.asarray(rhos)[None, :]).any(axis=1)]]
        return frame_table(rows.rename(columns={"acme": "indirect effect"}).rename_axis("ρ"),
                           title=title or f"Indirect effect of {self.mediator} by error correlation ρ",
                           float_format="{:.5f}",
                           notes=[f"The indirect effect is zero at ρ = {self.rho_zero:.3f}. Interval: "
                                  f"{100 * self.level:.0f} % pointwise cluster-bootstrap percentile "
                                  f"({self.reps} replications)." if self.reps else
                                  f"The indirect effect is zero at ρ = {self.rho_zero:.3f}."])

    def plot(self, *, truth: float | None = None, ax: Any = None):
        from lib.present.figures import band_plot

        c = self.curve
        return band_plot(c.index.to_numpy(float), c["acme"], c["lower"], c["upper"], truth=truth,
                         ax=ax, xlabel="ρ, correlation of the mediator's and the outcome's errors",
                         ylabel=f"indirect effect through {self.mediator}", vertical_line=self.rho_zero,
                         estimate_label="book: indirect effect at ρ",
                         band_label=f"{100 * self.level:.0f}% pointwise bootstrap interval")


def _acme_of_rho(a, b, ratio, rho):
    r""":math:`a\,(b - \rho\,\sigma_3/(\sigma_2\sqrt{1-\rho^2}))`, broadcast over draws and ρ."""
    return a * (b - rho * ratio / np.sqrt(1.0 - rho**2))


def sequential_ignorability_sensitivity(med: MediationResult, *, rhos: Sequence[float] | None = None,
                                        level: float = 0.95) -> MediationSensitivity:
    r"""Imai, Keele & Yamamoto's (2010) sensitivity of the indirect effect to a correlation
    :math:`\rho` between the errors of the mediator (eq. 9) and the outcome (eq. 10), in the
    linear case without a treatment-mediator interaction (R ``mediation::medsens`` for two
    ``lm`` fits).

    Sequential ignorability says :math:`\rho = 0`. Under :math:`\rho \ne 0` the slope of the
    mediator is :math:`b(\rho) = \hat b - \rho\,\hat\sigma_3/(\hat\sigma_2\sqrt{1-\rho^2})`, so

    .. math::

        \delta(\rho) = \hat a\Big(\hat b - \frac{\rho\,\hat\sigma_3}{\hat\sigma_2\sqrt{1-\rho^2}}\Big)
        = \hat a\,\frac{\hat\sigma_1}{\hat\sigma_2}\Big(\tilde\rho - \rho\sqrt{\frac{1-\tilde\rho^2}{1-\rho^2}}\Big),

    :math:`\hat\sigma_2, \hat\sigma_3` the residual s.d. of eqs. 9 and 10 and, in IKY's form,
    :math:`\hat\sigma_1` that of eq. 7 and :math:`\tilde\rho` the correlation of the residuals of
    eqs. 7 and 9 (the two forms are equal by Frisch-Waugh). :math:`\delta(0) = \hat a\hat b` and
    :math:`\delta(\rho) = 0` at :math:`\rho = \tilde\rho`. With fixed effects the residuals are
    those of the within regressions. The pointwise interval at each :math:`\rho` is the percentile
    interval of :math:`\delta(\rho)` over the cluster bootstrap's draws of
    :math:`(\hat a, \hat b, \hat\sigma_3/\hat\sigma_2)` (``med.bootstrap_draws``), which respects
    the clustering; medsens uses the normal approximation instead.
    """
    if not med.residual_ss:
        raise ValueError("sequential_ignorability_sensitivity: the result has no residual sums of "
                         "squares; fit it with three_step")
    rhos = np.round(np.linspace(-0.5, 0.5, 41), 10) if rhos is None else np.asarray(rhos, float)
    if (np.abs(rhos) >= 1).any():
        raise ValueError("rhos must lie strictly between -1 and 1")
    ratio = np.sqrt(med.residual_ss["b"] / med.residual_ss["a"])
    acme = _acme_of_rho(med.a, med.b, ratio, rhos)
    d = med.bootstrap_draws
    lo = hi = np.full(rhos.size, np.nan)
    if len(d):
        ok = d[["a", "b", "ssr_a", "ssr_b"]].dropna()
        r = np.sqrt(ok["ssr_b"].to_numpy() / ok["ssr_a"].to_numpy())
        draws = _acme_of_rho(ok["a"].to_numpy()[:, None], ok["b"].to_numpy()[:, None], r[:, None], rhos[None, :])
        q = (1 - level) / 2
        lo, hi = np.quantile(draws, q, axis=0), np.quantile(draws, 1 - q, axis=0)
    # delta(rho) = 0 where rho / sqrt(1 - rho^2) = b / ratio
    t = med.b / ratio
    rho_zero = float(t / np.sqrt(1 + t**2))
    curve = pd.DataFrame({"acme": acme, "lower": lo, "upper": hi}, index=pd.Index(rhos, name="rho"))
    return MediationSensitivity(curve=curve, rho_zero=rho_zero, mediator=med.mediator, level=level,
                                reps=len(d))


# ------------------------------------------------------------------ comparisons
def truth_gaps(results: Mapping[str, MediationResult],
               truth: pd.DataFrame | None) -> pd.DataFrame:
    r"""How far each mediator's estimates are from the truth, one row per mediator.

    Columns: ``a_gap_se`` = :math:`(\hat a - a)/\widehat{se}(\hat a)` and
    ``b_gap_se`` likewise (cluster-robust s.e.), ``ab_covered``: whether the
    cluster-bootstrap percentile interval of :math:`\hat a\hat b` contains the
    true :math:`ab` (``False`` when there is no bootstrap or no truth), and
    the estimates and truths themselves. ``truth`` is ``data.truth.indirect``
    (columns ``a``, ``b``, ``indirect``); ``None`` (a reader's own panel)
    gives NaN gaps and ``ab_covered`` False.
    """
    rows = {}
    for m, med in results.items():
        tr = truth.loc[m] if truth is not None and m in truth.index else None
        a_t = float(tr["a"]) if tr is not None else np.nan
        b_t = float(tr["b"]) if tr is not None else np.nan
        ab_t = float(tr["indirect"]) if tr is not None else np.nan
        lo, hi = med.bootstrap_ci
        rows[m] = {"a": med.a, "a_truth": a_t, "a_gap_se": (med.a - a_t) / med.se_a,
                   "b": med.b, "b_truth": b_t, "b_gap_se": (med.b - b_t) / med.se_b,
                   "ab": med.indirect, "ab_truth": ab_t, "ab_ci_lower": lo, "ab_ci_upper": hi,
                   "ab_covered": bool(np.isfinite(ab_t) and np.isfinite(lo) and lo <= ab_t <= hi)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("mediator")


def indirect_plot(results: Mapping[str, MediationResult], *,
                  truth: Mapping[str, float] | pd.Series | None = None, ax: Any = None):
    """Forest plot of the indirect effects a·b: bootstrap 95% CI (Sobel CI without draws)."""
    from lib.present import figures

    rows = []
    for name, med in results.items():
        t = med.tidy().loc["indirect a·b"]
        rows.append({"label": name, "estimate": t["estimate"], "ci_lower": t["ci_lower"],
                     "ci_upper": t["ci_upper"],
                     "truth": float(pd.Series(truth).get(name, np.nan)) if truth is not None
                     else np.nan})
    frame = pd.DataFrame(rows)
    fig, ax = figures.new_axes(ax, figsize=(7.0, 2.0 + 0.6 * len(frame)))
    return figures.coefficient_plot(frame, truth="truth" if truth is not None else None, ax=ax,
                                    xlabel="Indirect effect a·b on Inno (95% cluster-bootstrap CI)",
                                    estimate_label="book estimate (95% bootstrap CI)")
