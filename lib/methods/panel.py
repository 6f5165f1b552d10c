r"""Numerics shared by every fixed-effects method in the book.

Three layers, all on plain NumPy arrays so that later chapters (placebo
permutations, mediation bootstrap, event studies) can call them many times:

* :func:`within_transform` / :func:`demean` -- the two-way within
  transformation (city and year means removed), exact or by alternating
  projections;
* :func:`cluster_covariance` (CRV1), :func:`hetero_covariance` (HC1) and
  :func:`iid_covariance` -- sandwich estimators with an explicit
  small-sample factor, and :func:`fe_dof_k`, which counts the parameters
  ``K`` that enter it;
* :func:`fe_ols` (many outcomes at once) and :func:`fe_ols_treatments`
  (many single-treatment regressions at once) -- a small two-way FE engine.

It is the one two-way FE engine: ``lib.methods.did.twfe``, the event study, PSM-DID, the
placebo draws and the bootstraps all run on it; linearmodels, pyfixest and statsmodels are
test oracles (``tests/test_panel.py``, ``tests/test_did.py``). See ``METHODS.md``.

References
----------
Correia, S. (2016). *A feasible estimator for linear models with multi-way
fixed effects*. Working paper (reghdfe).
Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to
cluster-robust inference. *Journal of Human Resources*, 50(2), 317-372.
Gaure, S. (2013). OLS with multiple high dimensional category variables.
*Computational Statistics & Data Analysis*, 66, 8-18.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = [
    "FEOLSFit",
    "TreatmentsFit",
    "cluster_covariance",
    "codes",
    "demean",
    "fe_dof_k",
    "fe_ols",
    "fe_ols_treatments",
    "hetero_covariance",
    "iid_covariance",
    "within_transform",
]

# unit-by-period counts C are dense while they hold at most this many cells per row (or
# this many in all); sparser panels (many units and many periods) keep C sparse
_DENSE_COUNTS_PER_ROW = 2
_DENSE_COUNTS_FLOOR = 1 << 20

KFixef = Literal["nonnested", "full", "none"]
_K_FIXEF = ("nonnested", "full", "none")
_VCOV_KINDS = ("CRV1", "hetero", "iid")


# --------------------------------------------------------------------- helpers
def codes(values) -> tuple[np.ndarray, int]:
    """Integer codes ``0..L-1`` of a 1-D label array and the number of levels ``L``.

    Missing labels raise a ``ValueError``: fixed effects and clusters must be
    complete (select complete cases first).
    """
    ser = pd.Series(np.asarray(values))
    if ser.isna().any():
        raise ValueError(
            f"{int(ser.isna().sum())} missing values in a fixed-effect or cluster "
            "identifier; drop those rows first (lib.data.model_frame)."
        )
    c, uniques = pd.factorize(ser, sort=True)
    return c.astype(np.intp), len(uniques)


def _indicator(c: np.ndarray, n_levels: int) -> sparse.csr_matrix:
    """Sparse ``L x n`` group-indicator matrix."""
    n = c.shape[0]
    return sparse.csr_matrix((np.ones(n), (c, np.arange(n))), shape=(n_levels, n))


def _as_2d(a) -> tuple[np.ndarray, bool]:
    a = np.asarray(a, dtype=float)
    if a.ndim == 1:
        return a[:, None], True
    if a.ndim != 2:
        raise ValueError(f"expected a 1-D or 2-D array, got shape {a.shape}")
    return a, False


def _check_finite(A: np.ndarray) -> None:
    # a NaN or inf makes its column's sum non-finite: one pass, no n x p boolean temporary
    if not np.isfinite(A.sum(axis=0)).all() and not np.isfinite(A).all():
        raise ValueError("demean: X has missing or infinite values; select complete cases first.")


def _check_weights(weights, n: int) -> np.ndarray | None:
    if weights is None:
        return None
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,) or np.any(~np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("weights must be a finite, positive array with one value per row")
    return w


class _Groups:
    """One factor's codes ``0..L-1`` (every level present) and its weighted level sizes.

    Sums by level use ``np.add.reduceat`` over contiguous runs when the rows are sorted by
    the factor (a panel sorted by unit), else ``np.bincount``; both avoid building a sparse
    indicator matrix and keep temporaries at one column.
    """

    def __init__(self, c: np.ndarray, n_levels: int, weights: np.ndarray | None = None):
        self.c, self.L = c, int(n_levels)
        n = c.shape[0]
        self.sorted = False
        if n and bool((c[1:] >= c[:-1]).all()):
            starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
            if starts.size == self.L:
                self.sorted, self.starts = True, starts
                self.counts = np.diff(np.r_[starts, n])
        self.size = np.bincount(c, weights=weights, minlength=self.L).astype(float)

    def sums(self, v: np.ndarray) -> np.ndarray:
        """``(L,)`` sums of the ``(n,)`` vector ``v`` by level."""
        if self.sorted:
            return np.add.reduceat(v, self.starts)
        return np.bincount(self.c, weights=v, minlength=self.L)

    def expand(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``a[c]``: a level-wise ``(L,)`` vector spread to the rows (into ``out`` if given)."""
        return np.repeat(a, self.counts) if self.sorted else np.take(a, self.c, out=out)


class _TwoWay:
    """The two effects of one sample, built once: the demeaning, ``K`` and CRV1 scores share it.

    ``balanced``: every (unit, period) pair exactly once; ``grid``: also in unit-major,
    period-minor row order, so a column reshapes to an ``E x T`` view.
    """

    def __init__(self, cu, nu, ct, nt, weights: np.ndarray | None = None):
        self.n = n = cu.shape[0]
        self.w = weights
        self.u, self.t = _Groups(cu, nu, weights), _Groups(ct, nt, weights)
        nu, nt = self.u.L, self.t.L
        self.balanced = bool(n and n == nu * nt
                             and np.bincount(cu * nt + ct, minlength=n).max() == 1)
        self.grid = bool(self.balanced and self.u.sorted and (
            ct.reshape(nu, nt) == np.arange(nt)).all())
        self._n_comp = 1 if self.balanced else None
        self._system = None
        self._buffer = None

    def buffer(self) -> np.ndarray:
        """A reusable ``(n,)`` scratch vector: fresh 8 MB temporaries per column cost page faults."""
        if self._buffer is None:
            self._buffer = np.empty(self.n)
        return self._buffer

    def weighted(self, x: np.ndarray) -> np.ndarray:
        return x if self.w is None else np.multiply(self.w, x, out=self.buffer())

    # -------------------------------------------------------------- components
    def n_components(self) -> int:
        """Connected components ``c`` of the unit-period graph."""
        if self._n_comp is None:
            u, t = self.u, self.t
            graph = sparse.coo_matrix((np.ones(self.n), (u.c, t.c)), shape=(u.L, t.L))
            self._n_comp = int(connected_components(
                sparse.bmat([[None, graph], [graph.T, None]]), directed=False)[0])
        return self._n_comp

    # ---------------------------------------------------------------- demeaning
    def demean_(self, Z: np.ndarray, *, method: str = "auto", tol: float = 1e-12,
                maxiter: int = 100_000, exact_max_levels: int = 2_000) -> None:
        """Two-way demean the columns of the float64 array ``Z`` in place (F order is fastest)."""
        if method == "auto":
            method = "exact" if min(self.u.L, self.t.L) <= exact_max_levels else "map"
        cols = [Z[:, j] for j in range(Z.shape[1])]
        if method == "exact" and self.balanced and self.w is None:
            self._closed_form(cols)
        elif method == "exact":
            self._fwl(cols)
        else:
            self._map(cols, tol, maxiter)

    def _closed_form(self, cols) -> None:
        u, t = self.u, self.t
        for x in cols:
            gm = x.mean()
            if self.grid and x.flags.c_contiguous:
                v = x.reshape(u.L, t.L)  # a view: the in-place updates reach x
                # means as matrix-vector products: numpy's axis reductions over short rows are slow
                um, tm = v @ np.full(t.L, 1.0 / t.L), np.full(u.L, 1.0 / u.L) @ v
                v -= um[:, None]
                v -= tm - gm
            else:
                um, tm = u.sums(x) / u.size, t.sums(x) / t.size
                x -= u.expand(um, out=self.buffer())
                x -= t.expand(tm - gm, out=self.buffer())

    def _fwl_system(self):
        """Big/small factors, ``C`` (big x small weights), and the grounded Laplacian's factor."""
        if self._system is None:
            from scipy import linalg

            big, small = (self.u, self.t) if self.t.L <= self.u.L else (self.t, self.u)
            nb, L = big.L, small.L
            if nb * L <= max(_DENSE_COUNTS_PER_ROW * self.n, _DENSE_COUNTS_FLOOR):
                C = np.bincount(big.c * L + small.c, weights=self.w,
                                minlength=nb * L).reshape(nb, L)
                CtDC = C.T @ (C / big.size[:, None])
                P = (C > 0).astype(float)
                link = (P.T @ P) > 0
            else:
                C = sparse.csr_matrix((np.ones(self.n) if self.w is None else self.w,
                                       (big.c, small.c)), shape=(nb, L))
                CtDC = (C.T @ sparse.diags(1.0 / big.size) @ C).toarray()
                P = C.copy()
                P.data[:] = 1.0
                link = (P.T @ P).toarray() > 0
            M = np.diag(small.size) - CtDC
            # M 1 = 0 on each component: fix the first level of each at zero (grounded Laplacian)
            n_comp, labels = connected_components(sparse.csr_matrix(link), directed=False)
            self._n_comp = int(n_comp)
            free = np.ones(L, dtype=bool)
            free[np.unique(labels, return_index=True)[1]] = False
            Mf = M[np.ix_(free, free)]
            solve = None
            if free.any():
                try:
                    factor = linalg.cho_factor(Mf)
                    solve = lambda R: linalg.cho_solve(factor, R)  # noqa: E731
                except linalg.LinAlgError:  # numerically semi-definite: least squares
                    solve = lambda R: np.linalg.lstsq(Mf, R, rcond=None)[0]  # noqa: E731
            self._system = big, small, C, free, solve
        return self._system

    def _fwl(self, cols) -> None:
        big, small, C, free, solve = self._fwl_system()
        R = np.empty((small.L, len(cols)))
        for j, x in enumerate(cols):
            x -= big.expand(big.sums(self.weighted(x)) / big.size, out=self.buffer())
            R[:, j] = small.sums(self.weighted(x))
        if solve is None:  # one level per component: the big effects absorb the small ones
            return
        b = np.zeros_like(R)
        b[free] = solve(R[free])
        F = (C @ b) / big.size[:, None]  # big-level means of the fitted small effects
        for j, x in enumerate(cols):
            x -= small.expand(b[:, j], out=self.buffer())
            x += big.expand(F[:, j], out=self.buffer())

    def _map(self, cols, tol: float, maxiter: int) -> None:
        u, t = self.u, self.t
        scale = [max(float(np.abs(x).max()), np.finfo(float).tiny) for x in cols]
        for _ in range(maxiter):
            done = True
            for x, s in zip(cols, scale):
                mu = u.sums(self.weighted(x)) / u.size
                x -= u.expand(mu, out=self.buffer())
                mt = t.sums(self.weighted(x)) / t.size
                x -= t.expand(mt, out=self.buffer())
                done &= max(np.abs(mu).max(), np.abs(mt).max()) <= tol * s
            if done:
                return
        raise RuntimeError(
            f"alternating projections did not converge to {tol:g} in {maxiter} sweeps; "
            "use method='exact' or a larger maxiter.")


# ------------------------------------------------------------ within transform
def _design(unit, time, n: int, weights, method: str):
    """The two-way structure of ``n`` rows (checked labels, weights and method) and the
    checked weights."""
    cu, nu = codes(unit)
    ct, nt = codes(time)
    if cu.shape[0] != n or ct.shape[0] != n:
        raise ValueError(f"unit ({cu.shape[0]}) and time ({ct.shape[0]}) must have n={n} rows")
    w = _check_weights(weights, n)
    if method not in ("auto", "exact", "map"):
        raise ValueError(f"method must be 'auto', 'exact' or 'map', got {method!r}")
    return _TwoWay(cu, nu, ct, nt, w), w


def demean(
    X,
    unit,
    time,
    *,
    weights=None,
    method: Literal["auto", "exact", "map"] = "auto",
    tol: float = 1e-12,
    maxiter: int = 100_000,
    exact_max_levels: int = 2_000,
) -> np.ndarray:
    r"""Two-way within transformation of the columns of ``X`` (array interface).

    Returns :math:`\ddot x = x - \hat\alpha_{i} - \hat\gamma_{t}`, the residual of
    the (weighted) least-squares projection of each column on unit and time
    dummies.

    Parameters
    ----------
    X : array_like, shape (n,) or (n, p)
        Columns to transform. Must be finite.
    unit, time : array_like, shape (n,)
        Fixed-effect labels (any hashable values; no missing values).
    weights : array_like, shape (n,), optional
        Positive analytic weights; the projection is weighted least squares.
    method : {"auto", "exact", "map"}
        ``"exact"`` removes the means of the dimension with more levels (the
        units) and then projects on the demeaned dummies :math:`\tilde D` of the
        other one (Frisch-Waugh-Lovell), solving the :math:`L\times L` normal
        equations :math:`\tilde D'W\tilde D\,b = \tilde D'W\tilde x`; that matrix
        is :math:`\mathrm{diag}(s_t) - C'\mathrm{diag}(1/s_i)C` (:math:`C` the
        unit-by-period weight counts), a graph Laplacian, solved with one level per
        connected component fixed at zero. It is exact on unbalanced and even
        disconnected panels. A balanced, unweighted panel uses the closed form
        :math:`x_{it}-\bar x_{i\cdot}-\bar x_{\cdot t}+\bar x`.
        ``"map"`` is the method of alternating projections (Gaure 2013), run
        until the largest mean removed in a sweep is below ``tol`` times the
        column's scale. ``"auto"`` is ``"exact"`` when the smaller dimension has
        at most ``exact_max_levels`` levels, else ``"map"``.
    tol : float
        Convergence tolerance of ``"map"`` (relative to each column's scale).
    maxiter : int
        Maximum sweeps of ``"map"``; a ``RuntimeError`` is raised if reached.

    Returns
    -------
    numpy.ndarray
        Same shape as ``X``.
    """
    Xa, was_1d = _as_2d(X)
    _check_finite(Xa)
    n = Xa.shape[0]
    design, w = _design(unit, time, n, weights, method)
    out = np.array(Xa, dtype=float, order="F")  # a copy, demeaned column by column in place
    design.demean_(out, method=method, tol=tol, maxiter=maxiter,
                                       exact_max_levels=exact_max_levels)
    return out[:, 0] if was_1d else out


def within_transform(
    frame: pd.DataFrame,
    columns: str | Sequence[str],
    unit: str,
    time: str,
    *,
    weights: str | np.ndarray | None = None,
    method: Literal["auto", "exact", "map"] = "auto",
    tol: float = 1e-12,
) -> np.ndarray:
    r"""Two-way demeaned copies of ``frame[columns]`` (DataFrame interface).

    .. math::

        \ddot x_{it} = x_{it} - \hat\alpha_i - \hat\gamma_t,\qquad
        (\hat\alpha,\hat\gamma) = \arg\min \sum_{it} w_{it}(x_{it}-\alpha_i-\gamma_t)^2 .

    Works on unbalanced panels; see :func:`demean` for the algorithms.

    Parameters
    ----------
    frame : pandas.DataFrame
        Complete cases (no missing values in ``columns``, ``unit``, ``time``).
    columns : str or sequence of str
        Columns to transform.
    unit, time : str
        Columns holding the unit and time identifiers.
    weights : str or array, optional
        Column name or array of positive analytic weights.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(frame), len(columns))`` (or ``(len(frame),)`` for one
        column given as a string), in the row order of ``frame``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"i": [1, 1, 2, 2], "t": [1, 2, 1, 2], "y": [1., 2., 3., 5.]})
    >>> within_transform(df, "y", "i", "t").round(3).tolist()
    [0.25, -0.25, -0.25, 0.25]
    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in [*cols, unit, time] if c not in frame.columns]
    if missing:
        raise KeyError(f"within_transform: columns {missing} not in frame")
    w = frame[weights].to_numpy(float) if isinstance(weights, str) else weights
    X = frame[cols].to_numpy(dtype=float)
    out = demean(X, frame[unit].to_numpy(), frame[time].to_numpy(), weights=w,
                 method=method, tol=tol)
    return out[:, 0] if isinstance(columns, str) else out


# ----------------------------------------------------------------- dof and SEs
def fe_dof_k(
    k: int,
    unit,
    time,
    cluster=None,
    *,
    k_fixef: KFixef = "nonnested",
) -> int:
    r"""Number of parameters ``K`` in the small-sample factor of a two-way FE fit.

    Let :math:`E` and :math:`T` be the unit and time levels and :math:`c` the
    number of connected components of the unit-time graph (1 in any panel in
    which the units are linked through common periods), so the fixed effects
    span :math:`E+T-c` dimensions (the intercept included).

    * ``"full"`` -- :math:`K = k + E + T - c`: every fixed effect counted, as
      in OLS with unit and year dummies plus an intercept (statsmodels),
      linearmodels ``PanelOLS`` (which assumes :math:`c = 1`), and reghdfe or
      fixest when the errors are not clustered.
    * ``"nonnested"`` -- a fixed effect whose every level lies within one
      cluster (e.g. city effects with city clusters) is not counted, but one
      parameter is kept for the intercept: with city clusters
      :math:`K = k + T - c + 1` (:math:`= k + T`). This is Stata reghdfe's
      default ("fixed effect nested within cluster; treated as redundant")
      and fixest's/pyfixest's default ``ssc(k_fixef="nonnested")``.
    * ``"none"`` -- :math:`K = k`.

    ``cluster=None`` (iid or HC1 errors) makes ``"nonnested"`` equal
    ``"full"``.
    """
    if k_fixef not in _K_FIXEF:
        raise ValueError(f"k_fixef must be one of {_K_FIXEF}, got {k_fixef!r}")
    if k_fixef == "none":
        return int(k)
    design = _TwoWay(*codes(unit), *codes(time))
    return _dof_k(k, design, None if cluster is None else codes(cluster)[0], k_fixef)


def _nested(fe: _Groups, cl: np.ndarray) -> bool:
    """Every level of ``fe`` lies within one cluster (``cl``: cluster codes per row)."""
    if cl is fe.c:
        return True
    if fe.L < cl.max() + 1:  # nested would put every cluster's rows in its own levels
        return False
    rep = np.empty(fe.L, dtype=cl.dtype)
    rep[fe.c] = cl  # some cluster of each level; nested iff it is every row's cluster
    return bool(np.array_equal(rep[fe.c], cl))


def _dof_k(k: int, design: _TwoWay, cluster: np.ndarray | None, k_fixef: KFixef) -> int:
    """:func:`fe_dof_k` on a built design; ``cluster`` holds cluster codes per row."""
    if k_fixef not in _K_FIXEF:
        raise ValueError(f"k_fixef must be one of {_K_FIXEF}, got {k_fixef!r}")
    if k_fixef == "none":
        return int(k)
    k_fe = design.u.L + design.t.L - design.n_components()
    if k_fixef == "full" or cluster is None:
        return int(k + k_fe)
    drop = n_nested = 0
    for fe in (design.u, design.t):
        if _nested(fe, cluster):
            drop += fe.L
            n_nested += 1
    # keep one parameter (the intercept) when any effect is swept out
    return int(k + k_fe - drop + (1 if n_nested else 0))


def _bread(X: np.ndarray) -> np.ndarray:
    xtx = X.T @ X
    return np.linalg.inv(xtx)


def collinear_columns(X: np.ndarray, *, tol: float = 1e-12) -> list[int]:
    """Positions of the columns of ``X`` (already within-transformed) that are linear
    combinations of the others: the pivots a rank-revealing QR of the scaled Gram matrix puts
    last. ``np.linalg.inv`` of a singular ``X'X`` returns numbers, not an error, so the fit
    checks first."""
    return _collinear_gram(X.T @ X, tol=tol)


def _collinear_gram(xtx: np.ndarray, *, tol: float = 1e-12) -> list[int]:
    """:func:`collinear_columns` from the Gram matrix ``X'X``."""
    from scipy import linalg

    d = np.sqrt(np.clip(np.diag(xtx), 0.0, None))
    zero = [int(j) for j in np.flatnonzero(d == 0)]
    keep = np.flatnonzero(d > 0)
    if keep.size == 0:
        return zero
    S = xtx[np.ix_(keep, keep)] / np.outer(d[keep], d[keep])
    _, R, piv = linalg.qr(S, pivoting=True)
    diag = np.abs(np.diag(R))
    rank = int((diag > tol * diag[0]).sum())
    return sorted(zero + [int(keep[j]) for j in piv[rank:]])


def cluster_covariance(
    X,
    residuals,
    clusters,
    *,
    dof_k: int,
    bread: np.ndarray | None = None,
) -> np.ndarray:
    r"""One-way cluster-robust covariance, CRV1 (Stata/reghdfe/fixest convention).

    .. math::

        \hat V = \frac{G}{G-1}\,\frac{N-1}{N-K}\,
        (\ddot X'\ddot X)^{-1}
        \Big(\sum_{g=1}^{G} \ddot X_g'\hat u_g \hat u_g'\ddot X_g\Big)
        (\ddot X'\ddot X)^{-1}

    Parameters
    ----------
    X : array_like, shape (n, k)
        Regressors as used in the fit (within-transformed for FE models,
        multiplied by :math:`\sqrt{w}` for weighted fits).
    residuals : array_like, shape (n,) or (n, m)
        Residuals (times :math:`\sqrt{w}` if weighted); ``m`` outcomes at once.
    clusters : array_like, shape (n,)
        Cluster labels; ``G`` is their number of distinct values.
    dof_k : int
        ``K`` in :math:`(N-1)/(N-K)`: the number of parameters the fit
        estimated that the correction should count -- the ``k`` slopes plus the
        fixed-effect parameters chosen by :func:`fe_dof_k` (``k + T`` for a
        city-and-year FE model clustered by city under the reghdfe
        convention; ``k + E + T - 1`` when all effects are counted).
    bread : array, optional
        :math:`(X'X)^{-1}` if already computed.

    Returns
    -------
    numpy.ndarray
        ``(k, k)``, or ``(m, k, k)`` for 2-D residuals.
    """
    X = np.asarray(X, dtype=float)
    U, was_1d = _as_2d(residuals)
    out = _crv1(X, U, _Groups(*codes(clusters)), dof_k=dof_k, bread=bread)
    return out[0] if was_1d else out


def _crv1(X: np.ndarray, U: np.ndarray, clusters: _Groups, *, dof_k: int,
          bread: np.ndarray | None = None) -> np.ndarray:
    r"""CRV1 for ``(n, m)`` residuals; the scores :math:`\sum_{i\in g} x_{ij}u_i` are summed
    one regressor at a time (one outcome: an ``n``-vector temporary, no sparse indicator)."""
    n, k = X.shape
    G = clusters.L
    if G < 2:
        raise ValueError("cluster_covariance needs at least 2 clusters")
    if n - dof_k <= 0:
        raise ValueError(f"no residual degrees of freedom: N={n}, K={dof_k}")
    B = _bread(X) if bread is None else bread
    factor = G / (G - 1) * (n - 1) / (n - dof_k)
    m = U.shape[1]
    if m == 1:
        S = np.empty((1, G, k))
        buf = np.empty(n)
        for j in range(k):
            S[0, :, j] = clusters.sums(np.multiply(X[:, j], U[:, 0], out=buf))
    else:  # many outcomes: one sparse product per regressor covers all of them
        ind = _indicator(clusters.c, G)
        S = np.empty((m, G, k))
        for j in range(k):
            S[:, :, j] = (ind @ (X[:, j:j + 1] * U)).T
    out = factor * (B @ np.einsum("mgk,mgl->mkl", S, S) @ B)
    return (out + out.transpose(0, 2, 1)) / 2


def hetero_covariance(X, residuals, *, dof_k: int, bread=None) -> np.ndarray:
    r"""HC1: :math:`\frac{N}{N-K}(X'X)^{-1}(\sum_i x_i x_i'\hat u_i^2)(X'X)^{-1}`."""
    X = np.asarray(X, dtype=float)
    U, was_1d = _as_2d(residuals)
    n = X.shape[0]
    B = _bread(X) if bread is None else bread
    meat = np.empty((U.shape[1], X.shape[1], X.shape[1]))
    for o in range(U.shape[1]):
        Xu = X * np.abs(U[:, o])[:, None]  # x_i |u_i|: its cross-product is sum x_i x_i' u_i^2
        meat[o] = Xu.T @ Xu
    out = n / (n - dof_k) * (B @ meat @ B)
    out = (out + out.transpose(0, 2, 1)) / 2
    return out[0] if was_1d else out


def iid_covariance(X, residuals, *, dof_k: int, bread=None) -> np.ndarray:
    r"""Classical: :math:`\hat\sigma^2 (X'X)^{-1}`, :math:`\hat\sigma^2 = \hat u'\hat u/(N-K)`."""
    X = np.asarray(X, dtype=float)
    U, was_1d = _as_2d(residuals)
    n = X.shape[0]
    B = _bread(X) if bread is None else bread
    s2 = (U**2).sum(axis=0) / (n - dof_k)
    out = s2[:, None, None] * B[None]
    return out[0] if was_1d else out


# ---------------------------------------------------------------------- engine
@dataclass(frozen=True)
class FEOLSFit:
    """Arrays from :func:`fe_ols` (``m`` outcomes, ``k`` regressors).

    ``params`` is ``(k,)`` or ``(m, k)``; ``cov`` ``(k, k)`` or ``(m, k, k)``;
    ``resid`` ``(n,)`` or ``(n, m)`` (within residuals, unweighted);
    ``r2_within`` a float or ``(m,)``.
    """

    params: np.ndarray
    cov: np.ndarray
    resid: np.ndarray
    r2_within: np.ndarray | float
    nobs: int
    dof_k: int
    n_clusters: int | None
    dof_resid: int
    vcov: str
    extra: dict = field(default_factory=dict)

    @property
    def std_errors(self) -> np.ndarray:
        return np.sqrt(np.diagonal(self.cov, axis1=-2, axis2=-1))


def _check_vcov_kind(vcov: str) -> None:
    if vcov not in _VCOV_KINDS:
        raise ValueError(f"vcov must be one of {_VCOV_KINDS}, got {vcov!r}")


def fe_ols(
    y,
    X,
    unit,
    time,
    cluster=None,
    *,
    vcov: Literal["CRV1", "hetero", "iid"] = "CRV1",
    k_fixef: KFixef = "nonnested",
    weights=None,
    method: Literal["auto", "exact", "map"] = "auto",
    tol: float = 1e-12,
    names: Sequence[str] | None = None,
) -> FEOLSFit:
    r"""Two-way fixed-effects OLS on within-transformed data.

    .. math::

        y_{it} = x_{it}'\beta + \alpha_i + \gamma_t + \varepsilon_{it},\qquad
        \hat\beta = (\ddot X'W\ddot X)^{-1}\ddot X'W\ddot y

    with CRV1, HC1 or classical covariance (see :func:`cluster_covariance`),
    ``K`` from :func:`fe_dof_k`, and within R²
    :math:`1-\sum \hat u^2/\sum \ddot y^2` (the two-way demeaned outcome; the
    "within R²" of reghdfe and pyfixest).

    Parameters
    ----------
    y : array_like, shape (n,) or (n, m)
        One or ``m`` outcomes sharing the design (demeaned together).
    X : array_like, shape (n, k)
        Regressors (no intercept: the effects absorb it).
    unit, time : array_like, shape (n,)
        Fixed-effect labels.
    cluster : array_like, shape (n,), optional
        Cluster labels; required for ``vcov="CRV1"``.
    vcov : {"CRV1", "hetero", "iid"}
    k_fixef : {"nonnested", "full", "none"}
        How fixed effects enter ``K``; see :func:`fe_dof_k`.
    weights : array_like, optional
        Analytic weights (WLS).
    names : sequence of str, optional
        Names of the columns of ``X``, for the error when some are collinear
        (:func:`collinear_columns`; a ``ValueError``, never a silent fit).

    Returns
    -------
    FEOLSFit

    Notes
    -----
    Rows must already be complete cases with singletons removed (as
    ``lib.methods.did.twfe`` does). For many *treatment* columns that each enter
    their own regression, use :func:`fe_ols_treatments`.
    """
    _check_vcov_kind(vcov)
    Y, y1d = _as_2d(y)
    Xa, _ = _as_2d(X)
    n, k = Xa.shape
    m = Y.shape[1]
    if Y.shape[0] != n:
        raise ValueError(f"y has {Y.shape[0]} rows and X has {n}")
    if vcov == "CRV1" and cluster is None:
        raise ValueError("vcov='CRV1' needs cluster labels")
    # one F-ordered copy of [y, X], demeaned and weighted in place: no other n x p temporaries
    Z = np.empty((n, m + k), order="F")
    Z[:, :m], Z[:, m:] = Y, Xa
    _check_finite(Z)
    design, w = _design(unit, time, n, weights, method)
    design.demean_(Z, method=method, tol=tol)
    groups = _Groups(*codes(cluster)) if vcov == "CRV1" else None
    fit = _fit_demeaned(Z, m, design, groups, vcov=vcov, k_fixef=k_fixef, names=names)
    if y1d:
        return FEOLSFit(fit.params[0], fit.cov[0], fit.resid[:, 0], float(fit.r2_within[0]),
                        fit.nobs, fit.dof_k, fit.n_clusters, fit.dof_resid, vcov)
    return fit


def _fit_demeaned(Z: np.ndarray, m: int, design: _TwoWay, clusters: _Groups | None, *,
                  vcov: str, k_fixef: KFixef, names: Sequence[str] | None = None) -> FEOLSFit:
    """OLS of the first ``m`` columns of the demeaned ``Z = [y, X]`` on the others.

    ``Z`` is overwritten (multiplied by the square roots of the weights for weighted fits). Returns 2-D
    ``params`` ``(m, k)``, ``cov`` ``(m, k, k)`` and ``resid`` ``(n, m)``.
    """
    n, k = Z.shape[0], Z.shape[1] - m
    rw = None if design.w is None else np.sqrt(design.w)
    if rw is not None:
        for j in range(Z.shape[1]):
            Z[:, j] *= rw
    Yw, Xw = Z[:, :m], Z[:, m:]
    gram = Z.T @ Z  # one pass gives X'X, X'y and y'y
    xtx = gram[m:, m:]
    bad = _collinear_gram(xtx)
    if bad:
        label = [names[j] for j in bad] if names is not None else bad
        raise ValueError(f"fe_ols: regressor(s) {label} are collinear with the other regressors "
                         "and the fixed effects (e.g. a full set of dummies, or dummies whose sum "
                         "a fixed effect absorbs); drop one of each collinear set.")
    B = np.linalg.inv(xtx)
    params = (B @ gram[m:, :m]).T  # (m, k)
    Uw = Xw @ params.T
    np.subtract(Yw, Uw, out=Uw)
    r2 = 1.0 - np.einsum("ij,ij->j", Uw, Uw) / np.einsum("ij,ij->j", Yw, Yw)
    dof_k = _dof_k(k, design, clusters.c if vcov == "CRV1" else None, k_fixef)
    if vcov == "CRV1":
        cov = _crv1(Xw, Uw, clusters, dof_k=dof_k, bread=B)
        G = clusters.L
        dof_resid = G - 1
    elif vcov == "hetero":
        cov = hetero_covariance(Xw, Uw, dof_k=dof_k, bread=B)
        G, dof_resid = None, n - dof_k
    else:
        cov = iid_covariance(Xw, Uw, dof_k=dof_k, bread=B)
        G, dof_resid = None, n - dof_k
    U = Uw if rw is None else Uw / rw[:, None]
    return FEOLSFit(params, cov, U, r2, n, dof_k, G, dof_resid, vcov)


@dataclass(frozen=True)
class TreatmentsFit:
    """Coefficient and s.e. of each treatment column (``(m,)`` arrays)."""

    coef: np.ndarray
    std_error: np.ndarray
    nobs: int
    dof_k: int
    n_clusters: int | None
    dof_resid: int


def fe_ols_treatments(
    y,
    D,
    controls,
    unit,
    time,
    cluster=None,
    *,
    vcov: Literal["CRV1", "hetero", "iid"] = "CRV1",
    k_fixef: KFixef = "nonnested",
    method: Literal["auto", "exact", "map"] = "auto",
) -> TreatmentsFit:
    r"""Many regressions :math:`y = \beta_j d_j + W\delta_j + \alpha_i + \gamma_t + u`, one per column of ``D``.

    By Frisch-Waugh-Lovell, :math:`\hat\beta_j = \tilde d_j'\tilde y/\tilde d_j'\tilde d_j`
    where tildes are two-way demeaned and residualised on the demeaned
    controls, and the CRV1 variance of :math:`\hat\beta_j` is
    :math:`\frac{G}{G-1}\frac{N-1}{N-K}\sum_g(\sum_{i\in g}\tilde d_{ij}\hat u_{ij})^2/(\tilde d_j'\tilde d_j)^2`
    with ``K = 1 + n_controls`` plus the fixed-effect count -- exactly the
    ``[0, 0]`` element of :func:`fe_ols` for each design (checked in tests).
    One demeaning serves every column: the placebo chapter's 1,000 random
    treatments cost one matrix product.

    Parameters
    ----------
    y : array_like, shape (n,)
    D : array_like, shape (n, m)
        Treatment columns.
    controls : array_like, shape (n, p) or None
    unit, time, cluster : array_like, shape (n,)

    Returns
    -------
    TreatmentsFit
    """
    _check_vcov_kind(vcov)
    yv = np.asarray(y, dtype=float).reshape(-1)
    Da, _ = _as_2d(D)
    n, m = Da.shape
    W = np.zeros((n, 0)) if controls is None else _as_2d(controls)[0]
    p = W.shape[1]
    Z = demean(np.column_stack([yv, W, Da]), unit, time, method=method)
    yd, Wd, Dd = Z[:, 0], Z[:, 1:1 + p], Z[:, 1 + p:]
    if p:
        Q = np.linalg.lstsq(Wd, np.column_stack([yd, Dd]), rcond=None)[0]
        R = np.column_stack([yd, Dd]) - Wd @ Q
        yt, Dt = R[:, 0], R[:, 1:]
    else:
        yt, Dt = yd, Dd
    dd = (Dt**2).sum(axis=0)
    if np.any(dd <= 1e-12 * n):
        bad = np.flatnonzero(dd <= 1e-12 * n).tolist()
        raise ValueError(f"treatment columns {bad} are absorbed by the fixed effects and controls")
    beta = (Dt.T @ yt) / dd
    # residuals of the full regression y ~ d_j + W: yt - beta_j * Dt_j
    U = yt[:, None] - Dt * beta[None, :]
    dof_k = fe_dof_k(1 + p, unit, time, cluster if vcov == "CRV1" else None, k_fixef=k_fixef)
    if vcov == "CRV1":
        if cluster is None:
            raise ValueError("vcov='CRV1' needs cluster labels")
        c, G = codes(cluster)
        S = _indicator(c, G) @ (Dt * U)  # (G, m)
        var = G / (G - 1) * (n - 1) / (n - dof_k) * (np.asarray(S) ** 2).sum(axis=0) / dd**2
        dof_resid = G - 1
    elif vcov == "hetero":
        var = n / (n - dof_k) * ((Dt * U) ** 2).sum(axis=0) / dd**2
        G, dof_resid = None, n - dof_k
    else:
        var = (U**2).sum(axis=0) / (n - dof_k) / dd
        G, dof_resid = None, n - dof_k
    return TreatmentsFit(beta, np.sqrt(var), n, dof_k, G, dof_resid)
