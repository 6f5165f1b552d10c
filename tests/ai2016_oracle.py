"""A second, independent implementation of the Abadie-Imbens (2016) estimated-score adjustment of the
nearest-neighbour ATT, the oracle of ``lib.methods.psm.abadie_imbens_2016_se`` in ``tests/test_psm.py``.

It fits the score itself (Fisher scoring), matches on sorted scores with prefix sums (all ties
kept), and computes every piece in its own way; written for the book by a second author from the
paper, checked against the population values of the design in ``tests/test_psm.py`` and against
R ``Matching`` for the unadjusted s.e. Not used at run time.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

__all__ = ["fit_score", "knn_ranges", "ai2016_att_se"]


# --------------------------------------------------------------------------
# Score model
# --------------------------------------------------------------------------
def _link(kind):
    if kind == "logit":
        def F(v):
            return 1.0 / (1.0 + np.exp(-v))

        def f(v):
            e = F(v)
            return e * (1.0 - e)
    elif kind == "probit":
        F = stats.norm.cdf
        f = stats.norm.pdf
    else:
        raise ValueError("score_kind must be 'logit' or 'probit'")
    return F, f


def fit_score(w, Z, kind="logit", tol=1e-10, maxit=100):
    """ML fit of P(W=1|Z) = F(Z theta) by Fisher scoring (Newton for logit).

    Z must already contain the constant.  Returns dict with theta, p, f,
    info (total expected information sum_i f^2/(p(1-p)) Z_i Z_i'), V_theta
    (its inverse) and the per-observation scores.
    """
    F, f = _link(kind)
    w = np.asarray(w, float)
    n, kdim = Z.shape
    theta = np.zeros(kdim)
    if kind == "probit":
        # start from scaled logit-ish guess
        theta[0] = stats.norm.ppf(np.clip(w.mean(), 1e-3, 1 - 1e-3))
    else:
        theta[0] = np.log(w.mean() / (1 - w.mean()))
    for it in range(maxit):
        v = Z @ theta
        p = np.clip(F(v), 1e-12, 1 - 1e-12)
        fv = f(v)
        g = fv * (w - p) / (p * (1 - p))            # d loglik / d v
        score = Z.T @ g
        wt = fv ** 2 / (p * (1 - p))
        info = (Z * wt[:, None]).T @ Z
        step = np.linalg.solve(info, score)
        theta = theta + step
        if np.max(np.abs(step)) < tol:
            break
    else:
        warnings.warn("score ML did not converge")
    v = Z @ theta
    p = F(v)
    fv = f(v)
    wt = fv ** 2 / (p * (1 - p))
    info = (Z * wt[:, None]).T @ Z
    scores = Z * (fv * (w - p) / (p * (1 - p)))[:, None]
    return dict(theta=theta, p=p, f=fv, info=info, V_theta=np.linalg.inv(info),
                scores=scores, n_iter=it + 1)


# --------------------------------------------------------------------------
# Nearest neighbours on a scalar, keeping all ties
# --------------------------------------------------------------------------
def knn_ranges(q, pool_sorted, m, self_pos=None, rtol=1e-12):
    """m nearest neighbours of each query q in a *sorted* 1-d pool, all ties kept.

    Because the pool is sorted, the neighbour set of a query is a contiguous
    range [lo, hi) of sorted positions (minus the query itself when
    ``self_pos`` gives its position in the pool, -1 if not in the pool).

    Returns lo, hi, self_in (bool: self position lies in [lo, hi)).
    """
    q = np.asarray(q, float)
    s = pool_sorted
    n0 = s.size
    nq = q.size
    if self_pos is None:
        self_pos = np.full(nq, -1)
    need = m + (self_pos >= 0).astype(int)
    if np.any(need > n0):
        raise ValueError("not enough units in the pool for the requested matches")
    pos = np.searchsorted(s, q)
    off = np.arange(-(m + 1), m + 1)
    cand = pos[:, None] + off[None, :]
    valid = (cand >= 0) & (cand < n0)
    candc = np.clip(cand, 0, n0 - 1)
    dist = np.abs(s[candc] - q[:, None])
    dist[~valid] = np.inf
    dist[candc == self_pos[:, None]] = np.inf
    dk = np.partition(dist, m - 1, axis=1)[:, m - 1]
    tol = rtol * np.maximum(1.0, np.abs(q)) + 1e-15 + rtol * dk
    lo = np.searchsorted(s, q - dk - tol, side="left")
    hi = np.searchsorted(s, q + dk + tol, side="right")
    self_in = (self_pos >= lo) & (self_pos < hi) & (self_pos >= 0)
    return lo, hi, self_in


class _Group:
    """Units of one treatment arm sorted by score, with prefix sums."""

    def __init__(self, idx, p, y, Z):
        order = np.argsort(p[idx], kind="mergesort")
        self.idx = idx[order]                   # original indices in sorted order
        self.s = p[self.idx]
        self.pos_of = {}                        # not used (kept simple)
        self.rank = np.empty(p.size, int)
        self.rank[:] = -1
        self.rank[self.idx] = np.arange(self.idx.size)
        yy = y[self.idx]
        ZZ = Z[self.idx]
        self.y = yy
        self.Z = ZZ
        self.cy = np.concatenate([[0.0], np.cumsum(yy)])
        self.cZ = np.vstack([np.zeros(Z.shape[1]), np.cumsum(ZZ, axis=0)])
        self.cZy = np.vstack([np.zeros(Z.shape[1]), np.cumsum(ZZ * yy[:, None], axis=0)])

    def nn(self, q, m, self_orig=None):
        sp = None if self_orig is None else self.rank[self_orig]
        return knn_ranges(q, self.s, m, sp)

    def range_stats(self, lo, hi, self_in, self_orig):
        """count, sum y, sum Z, sum Z*y over [lo,hi) minus self if inside."""
        cnt = (hi - lo) - self_in
        sy = self.cy[hi] - self.cy[lo]
        sZ = self.cZ[hi] - self.cZ[lo]
        sZy = self.cZy[hi] - self.cZy[lo]
        if np.any(self_in):
            r = self.rank[self_orig[self_in]]
            sy = sy.copy(); sZ = sZ.copy(); sZy = sZy.copy()
            sy[self_in] -= self.y[r]
            sZ[self_in] -= self.Z[r]
            sZy[self_in] -= self.Z[r] * self.y[r][:, None]
        return cnt, sy, sZ, sZy

    def match_weights(self, lo, hi, self_in, self_orig):
        """K(j) = sum_i 1{j in J(i)}/#J(i) and K'(j) = sum_i 1{j in J(i)}/#J(i)^2."""
        n = self.idx.size
        cnt = (hi - lo) - self_in
        a = 1.0 / cnt
        dK = np.zeros(n + 1); dK2 = np.zeros(n + 1)
        np.add.at(dK, lo, a); np.add.at(dK, hi, -a)
        np.add.at(dK2, lo, a ** 2); np.add.at(dK2, hi, -a ** 2)
        K = np.cumsum(dK)[:n]; K2 = np.cumsum(dK2)[:n]
        if np.any(self_in):
            r = self.rank[self_orig[self_in]]
            np.subtract.at(K, r, a[self_in]); np.subtract.at(K2, r, a[self_in] ** 2)
        return K, K2


def _within_sigma2(g, J, method="ai2006"):
    """Conditional variance of Y_i by matching within its own arm on the score.

    method="ai2006": AI (2006) eq. (14), J_i/(J_i+1) (Y_i - mean of J_i nearest)^2
    method="sample": sample variance (denominator J_i) of {Y_i} and its J_i
        nearest same-arm neighbours (what R's Matching::Match does with Var.calc=J).
    J_i counts ties.  Returned in g's sorted order.
    """
    q = g.s
    lo, hi, si = g.nn(q, J, self_orig=g.idx)
    cnt, sy, _, _ = g.range_stats(lo, hi, si, g.idx)
    ybar = sy / cnt
    if method == "ai2006":
        return cnt / (cnt + 1.0) * (g.y - ybar) ** 2
    if method == "sample":
        cy2 = np.concatenate([[0.0], np.cumsum(g.y ** 2)])
        sy2 = cy2[hi] - cy2[lo] - np.where(si, g.y ** 2, 0.0)
        tot = sy + g.y
        tot2 = sy2 + g.y ** 2
        m = cnt + 1.0
        return (tot2 - tot ** 2 / m) / (m - 1.0)
    raise ValueError("method must be 'ai2006' or 'sample'")


def _local_cov(g, q, L, self_orig, own):
    """Sample covariance of (Z, Y) over the L units of arm g closest to q.

    own: boolean, query unit belongs to arm g -> set is {unit} + (L-1) nearest others.
    Returns (nq, dimZ) array.  Denominator: set size - 1.
    """
    nq = q.size
    dim = g.Z.shape[1]
    out = np.empty((nq, dim))
    # units not in arm g
    o = ~own
    if np.any(o):
        lo, hi, si = knn_ranges(q[o], g.s, L)
        cnt, sy, sZ, sZy = g.range_stats(lo, hi, si, np.full(o.sum(), -1))
        out[o] = (sZy - sZ * (sy / cnt)[:, None]) / (cnt - 1.0)[:, None]
    if np.any(own):
        so = self_orig[own]
        lo, hi, si = g.nn(q[own], max(L - 1, 1), self_orig=so)
        cnt, sy, sZ, sZy = g.range_stats(lo, hi, si, so)
        r = g.rank[so]
        cnt = cnt + 1.0
        sy = sy + g.y[r]
        sZ = sZ + g.Z[r]
        sZy = sZy + g.Z[r] * g.y[r][:, None]
        out[own] = (sZy - sZ * (sy / cnt)[:, None]) / (cnt - 1.0)[:, None]
    return out


def _prep(y, w, X, score_kind, add_const=True):
    y = np.asarray(y, float).ravel()
    w = np.asarray(w).astype(int).ravel()
    X = np.asarray(X, float)
    if X.ndim == 1:
        X = X[:, None]
    Z = np.column_stack([np.ones(len(y)), X]) if add_const else X
    if not set(np.unique(w)) <= {0, 1}:
        raise ValueError("w must be 0/1")
    return y, w, Z


# --------------------------------------------------------------------------
# ATT
# --------------------------------------------------------------------------
def ai2016_att_se(y, w, X, score_kind="logit", k=1, var_matches=2,
                  cov_matches=2, pscore=None, fit=None, return_matches=False,
                  sigma2_method="ai2006"):
    """NN matching ATT on the estimated score with AI (2006) and AI (2016) s.e.

    Parameters
    ----------
    y, w, X : outcome, 0/1 treatment, covariates (n x p, *without* constant).
    score_kind : 'logit' or 'probit' (ML on [1, X]).
    k : number of matches per treated unit (with replacement, ties kept).
    var_matches : within-arm matches for sigma^2(X_i, W_i) (Stata nn(2)).
    cov_matches : size of the same-arm group used for Cov(X, Y | p, W=w).
    pscore : optional known score to match on instead of the estimated one
        (then only the unadjusted AI 2006 s.e. is meaningful; the adjustment
        is still computed with the fitted score model unless ``fit`` given).
    fit : optional result of ``fit_score`` to reuse.
    sigma2_method : 'ai2006' (AI 2006 eq. 14; default) or 'sample' (as R Matching).

    Returns dict with att, se_ai2006 (score treated as known, population ATT),
    se_ai2006_cond (conditional / sample-ATT version), se_ai2016 (adjusted),
    var pieces, c_t, dtau_dtheta, u (= c_t - dtau), info (total Fisher
    information), V_theta, theta, pscore, K (match weights of controls).
    """
    y, w, Z = _prep(y, w, X, score_kind)
    n = y.size
    if fit is None:
        fit = fit_score(w, Z, score_kind)
    p = fit["p"] if pscore is None else np.asarray(pscore, float)
    fv = fit["f"]
    i1 = np.flatnonzero(w == 1)
    i0 = np.flatnonzero(w == 0)
    N1 = i1.size
    g1 = _Group(i1, p, y, Z)
    g0 = _Group(i0, p, y, Z)

    # ---- matching treated -> controls -----------------------------------
    lo, hi, si = g0.nn(p[i1], k)
    cnt, sy, _, _ = g0.range_stats(lo, hi, si, np.full(N1, -1))
    y0hat_t = sy / cnt
    att = np.mean(y[i1] - y0hat_t)
    K, K2 = g0.match_weights(lo, hi, si, np.full(N1, -1))   # g0 sorted order

    # ---- AI (2006) variance, score treated as known ---------------------
    s2_0 = _within_sigma2(g0, var_matches, sigma2_method)                   # g0 sorted order
    s2_1 = _within_sigma2(g1, var_matches, sigma2_method)                   # g1 sorted order
    # treated part: (Y_i - Yhat0_i - att)^2  (population version, AI 2006 Thm 7)
    v_tau = np.sum((y[i1] - y0hat_t - att) ** 2)
    v_ctrl = np.sum((K ** 2 - K2) * s2_0)
    var_06 = (v_tau + v_ctrl) / N1 ** 2
    # conditional (sample ATT) version: sum (W_i - (1-W_i) K_i)^2 sigma^2_i
    var_06_cond = (np.sum(s2_1) + np.sum(K ** 2 * s2_0)) / N1 ** 2

    # ---- AI (2016) pieces ----------------------------------------------
    # mubar(w, p_i) for all units, leave-self-out, k nearest in arm w
    mub = np.empty((2, n))
    for a, g in ((0, g0), (1, g1)):
        so = np.where(w == a, np.arange(n), -1)
        sp = np.where(so >= 0, g.rank[np.maximum(so, 0)], -1)
        lo_, hi_, si_ = knn_ranges(p, g.s, k, sp)
        c_, sy_, _, _ = g.range_stats(lo_, hi_, si_, so)
        mub[a] = sy_ / c_
    # local covariances Cov(X, Y | p, W=a) for all units
    cov = np.empty((2, n, Z.shape[1]))
    for a, g in ((0, g0), (1, g1)):
        cov[a] = _local_cov(g, p, cov_matches, np.arange(n), own=(w == a))
    pe = fit["p"] if pscore is None else p
    termA = Z * (fv * (mub[1] - mub[0] - att))[:, None]
    c_t = (termA + fv[:, None] * (cov[1] + (pe / (1 - pe))[:, None] * cov[0])).sum(0) / N1
    dtau = (termA + fv[:, None] * (cov[1] - cov[0])).sum(0) / N1
    u = (fv[:, None] * cov[0] / (1 - pe)[:, None]).sum(0) / N1
    Vth = fit["V_theta"]                      # = (N * I_theta)^{-1}
    adj = -c_t @ Vth @ c_t + dtau @ Vth @ dtau
    var_16 = var_06 + adj
    if var_16 <= 0:
        warnings.warn("adjusted variance is not positive; se_ai2016 set to nan")
    out = dict(
        att=att, n=n, n1=N1, n0=i0.size,
        se_ai2006=np.sqrt(var_06), se_ai2006_cond=np.sqrt(var_06_cond),
        se_ai2016=np.sqrt(var_16) if var_16 > 0 else np.nan,
        var_ai2006=var_06, var_ai2016=var_16, var_adjustment=adj,
        var_parts=dict(tau_part=v_tau / N1 ** 2, control_noise_part=v_ctrl / N1 ** 2,
                       minus_cIc=-c_t @ Vth @ c_t, plus_dId=dtau @ Vth @ dtau),
        c_t=c_t, dtau_dtheta=dtau, u=u,
        info=fit["info"], info_per_obs=fit["info"] / n, V_theta=Vth,
        theta=fit["theta"], pscore=p, score_kind=score_kind,
        K_controls=dict(index=g0.idx, K=K, K2=K2),
    )
    if return_matches:
        out["matches"] = [g0.idx[a:b] for a, b in zip(lo, hi)]
    return out
