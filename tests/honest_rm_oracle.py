"""Second implementations of the C-LF relative-magnitudes interval (``lib.methods._relative_magnitudes``)
and R's random stream, for ``tests/test_sensitivity.py``.

* :func:`r_standard_normal`: R's ``set.seed(seed); rnorm(n)`` (R >= 3.6: Mersenne-Twister with R's
  seed scrambling, normals by inversion), so that the least-favourable critical values are R's own
  and the port can be compared with R's output point for point.
* :func:`literal_accept`: R's tests written out per grid point, as R runs them: the LP of
  ``.test_delta_lp_fn`` by scipy ``linprog``, the truncation points of ``.vlo_vup_dual_fn`` by R's
  Newton/bisection search with LP calls, ``.testInIdentifiedSet_LF_Hybrid`` for one post-period, and
  the dual vertices (for the simulated critical value) by brute-force enumeration of bases.
"""

from itertools import combinations

import numpy as np
from scipy.optimize import linprog
from scipy.special import ndtri

from lib.methods import _relative_magnitudes as rm

_N, _M = 624, 397


def _r_mt_state(seed):
    """R's RNG_Init for MERSENNE_TWISTER: LCG scrambling of the integer seed."""
    s = int(seed) & 0xFFFFFFFF
    for _ in range(50):
        s = (69069 * s + 1) & 0xFFFFFFFF
    state = []
    for _ in range(_N + 1):
        s = (69069 * s + 1) & 0xFFFFFFFF
        state.append(s)
    return np.array(state[1:], dtype=np.uint64)  # state[0] is mti, reset to 624 by FixupSeeds


def _twist(mt):
    mt = mt.copy()
    for kk in range(_N):
        y = (int(mt[kk]) & 0x80000000) | (int(mt[(kk + 1) % _N]) & 0x7FFFFFFF)
        mt[kk] = int(mt[(kk + _M) % _N]) ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
    return mt


def r_unif(seed, n):
    """``set.seed(seed); runif(n)`` (MT_genrand with R's fixup to (0, 1))."""
    mt = _r_mt_state(seed)
    out = []
    while len(out) < n:
        mt = _twist(mt)
        y = mt.copy()
        y ^= y >> np.uint64(11)
        y ^= (y << np.uint64(7)) & np.uint64(0x9D2C5680)
        y ^= (y << np.uint64(15)) & np.uint64(0xEFC60000)
        y ^= y >> np.uint64(18)
        y &= np.uint64(0xFFFFFFFF)
        out.extend((y.astype(float) * 2.3283064365386963e-10).tolist())
    u = np.array(out[:n])
    i2_32m1 = 2.328306437080797e-10
    u = np.where(u <= 0.0, 0.5 * i2_32m1, u)
    return np.where(1.0 - u <= 0.0, 1.0 - 0.5 * i2_32m1, u)


def r_standard_normal(seed, size):
    """``set.seed(seed); matrix(rnorm(prod(size)), nrow = size[0], byrow = TRUE)``."""
    n = int(np.prod(size))
    u = r_unif(seed, 2 * n)
    big = 134217728.0
    z = ndtri((np.floor(big * u[0::2]) + u[1::2]) / big)
    return z.reshape(size)




# ------------------------------------------------------------------ literal per-point tests
def brute_force_vertices(w):
    """All vertices of {gamma >= 0 : w'gamma = e_1} by enumerating every basis (w is M x r)."""
    m, r = w.shape
    e1 = np.zeros(r)
    e1[0] = 1.0
    found = []
    for basis in combinations(range(m), r):
        wb = w[list(basis)]
        if np.linalg.matrix_rank(wb) < r:
            continue
        g = np.linalg.solve(wb.T, e1)
        scale = np.abs(g).max()
        if np.all(g >= -1e-9 * scale):
            full = np.zeros(m)
            full[list(basis)] = np.where(np.abs(g) <= 1e-9 * scale, 0.0, g)
            found.append(full)
    v = np.vstack(found)
    _, first = np.unique(np.round(v / np.abs(v).max(), 10), axis=0, return_index=True)
    return v[np.sort(first)]


def lp_eta(y, x, sig):
    """``.test_delta_lp_fn``: min eta s.t. y - X delta <= eta sd, and its dual solution."""
    sd = np.sqrt(np.diag(sig))
    k = x.shape[1]
    r = linprog(np.r_[1, np.zeros(k)], A_ub=-np.column_stack([sd, x]), b_ub=-y,
                bounds=[(None, None)] * (k + 1), method="highs")
    return r.fun, -r.ineqlin.marginals


def _max_program(s_t, g, sig, w, c):
    f = s_t + (sig @ g) / (g @ sig @ g) * c
    r = linprog(-f, A_eq=w.T, b_eq=np.r_[1, np.zeros(w.shape[1] - 1)], bounds=[(0, None)] * len(f),
                method="highs")
    return -r.fun, r.x


def _roundeps(x, eps=np.finfo(float).eps ** 0.75):
    return 0.0 if abs(x) < eps else x


def r_vlo_vup(eta, s_t, g, sig, w):
    """``.vlo_vup_dual_fn``: R's Newton steps then bisection (tolerance 1e-6), with LP calls."""
    tol_c = tol_eq = 1e-6
    sb = np.sqrt(g @ sig @ g)
    low_i, high_i = min(-100, eta - 20 * sb), max(100, eta + 20 * sb)
    maxiters, switch = 10000, 10
    bvec = (sig @ g) / (g @ sig @ g)

    def check(c):
        value, sol = _max_program(s_t, g, sig, w, c)
        return abs(c - value) <= tol_eq, sol

    def search(start, upward):
        ok, sol = check(start)
        if ok:
            return np.inf if upward else -np.inf
        dif, it = 0, 1
        mid = _roundeps(sol @ s_t) / (1 - sol @ bvec)
        while True:
            ok, sol = check(mid)
            if ok or it >= maxiters:
                break
            it += 1
            if it >= switch:
                dif = tol_c + 1
                break
            mid = _roundeps(sol @ s_t) / (1 - sol @ bvec)
        lo, hi = (eta, mid) if upward else (mid, eta)
        while dif > tol_c and it < maxiters:
            it += 1
            mid = (lo + hi) / 2
            inside = check(mid)[0]
            if upward:
                lo, hi = (mid, hi) if inside else (lo, mid)
            else:
                lo, hi = (lo, mid) if inside else (mid, hi)
            dif = hi - lo
        return mid

    return search(low_i, False), search(high_i, True)


def _literal_nuisance(y_t, x, sig, alpha, kappa, lf_cv):
    """``.lp_conditional_test_fn`` (hybrid "LF") at one point: 1 = accept."""
    m, k = x.shape
    sd = np.sqrt(np.diag(sig))
    eta, lam = lp_eta(y_t, x, sig)
    mod = (alpha - kappa) / (1 - kappa)
    if eta > lf_cv:
        return 0
    b = lam > 1e-6
    xb = x[b]
    full = xb.shape[0] > 0 and np.linalg.matrix_rank(xb) == min(xb.shape)
    if (not full) or b.sum() != k + 1:
        w = np.column_stack([sd, x])
        s_t = (np.eye(m) - np.outer(sig @ lam, lam) / (lam @ sig @ lam)) @ y_t
        vlo, vup = r_vlo_vup(eta, s_t, lam, sig, w)
        s2 = lam @ sig @ lam
        if abs(s2) < np.finfo(float).eps:
            return int(not eta > 0)
        sb = np.sqrt(s2)
    else:
        sb_, sbc = np.eye(m)[b], np.eye(m)[~b]
        wb = np.column_stack([sd[b], xb])
        gb = np.column_stack([sd[~b], x[~b]]) @ np.linalg.solve(wb, sb_) - sbc
        vb = np.r_[1, np.zeros(b.sum() - 1)] @ np.linalg.solve(wb, sb_)
        sb = np.sqrt(vb @ sig @ vb)
        rho = gb @ sig @ vb / sb**2
        mm = (-gb @ y_t) / rho + vb @ y_t
        vlo = mm[rho > 0].max() if (rho > 0).any() else -np.inf
        vup = mm[rho < 0].min() if (rho < 0).any() else np.inf
    zlo, zup, stat = vlo / sb, min(vup, lf_cv) / sb, eta / sb
    if not (zlo <= stat <= zup):
        return 1
    return int(not stat > max(0, rm._norminvp(1 - mod, zlo, zup)))


def _literal_no_nuisance(y, sig, a, alpha, kappa, lf_cv):
    """``.testInIdentifiedSet_LF_Hybrid`` at one point (d = 0): 1 = accept."""
    st = np.sqrt(np.diag(a @ sig @ a.T))
    at = a / st[:, None]
    nm = at @ y
    loc = int(np.argmax(nm))
    if nm[loc] > lf_cv:
        return 0
    g = at[loc]
    abar = at - at[loc]
    sbar = np.sqrt(g @ sig @ g)
    c = sig @ g / (g @ sig @ g)
    z = y - c * (g @ y)
    ac = abar @ c
    with np.errstate(divide="ignore", invalid="ignore"):
        obj = -(abar @ z) / ac
    vlo = obj[ac < 0].max() if (ac < 0).any() else -np.inf
    vup = obj[ac > 0].min() if (ac > 0).any() else np.inf
    cv = max(0, rm._norminvp(1 - (alpha - kappa) / (1 - kappa), vlo, vup, 0.0, sbar))
    return int(not nm[loc] > cv)


def literal_accept(betahat, sigma, n_pre, n_post, l_vec, mbar, thetas, *, alpha=0.05, seed=0):
    """Accept (True) or reject each theta, testing every (s, sign) point by point as R does."""
    kappa = alpha / 10
    l_vec = np.asarray(l_vec, float)
    out = np.zeros(len(thetas), bool)
    for s in range(-(n_pre - 1), 1):
        for positive in (True, False):
            a = rm._create_A_RM(n_pre, n_post, mbar, s, positive)
            if n_post == 1:
                a = a[a[:, -1] != 0]
                sa = a @ sigma @ a.T
                xi = rm._rmvnorm(seed, 1000, sa) / np.sqrt(np.diag(sa))
                cv = np.quantile(xi.max(axis=1), 1 - kappa)
                for i, th in enumerate(thetas):
                    out[i] |= bool(_literal_no_nuisance(betahat - np.eye(len(betahat))[n_pre] * th,
                                                        sigma, a, alpha, kappa, cv))
                continue
            rows = np.flatnonzero(np.any(a[:, n_pre:] != 0, axis=1))
            agi = a[:, n_pre:] @ np.linalg.inv(rm._construct_gamma(l_vec))
            x = agi[rows, 1:]
            sig = (a @ sigma @ a.T)[np.ix_(rows, rows)]
            vertices = brute_force_vertices(np.column_stack([np.sqrt(np.diag(sig)), x]))
            cv = rm._lf_cv_nuisance(vertices, sig, kappa, seed)
            for i, th in enumerate(thetas):
                out[i] |= bool(_literal_nuisance((a @ betahat)[rows] - agi[rows, 0] * th, x, sig,
                                                 alpha, kappa, cv))
    return out
