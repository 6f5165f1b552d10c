r"""The engine of :func:`lib.methods.sensitivity.honest_bounds` under relative magnitudes:
R HonestDiD's conditional least-favourable hybrid (C-LF) confidence set under
:math:`\Delta^{RM}(\bar M)` (Rambachan & Roth 2023), which diff-diff (pinned) does not compute.

A numpy/scipy port of ``computeConditionalCS_DeltaRM(..., hybrid_flag = "LF",
postPeriodMomentsOnly = TRUE)`` and the relative-magnitudes branch of
``createSensitivityResults_relativeMagnitudes`` (``method = "C-LF"``), from
github.com/asheshrambachan/HonestDiD at commit 6813f02 (R/deltarm.R, R/arp-nuisance.R,
R/arp-nonuisance.R, R/utilities.R, R/sensitivityresults.R).

:math:`\Delta^{RM}(\bar M)` is the union, over the period :math:`s` of the largest pre-period
first difference and its sign, of polyhedra :math:`\{\delta : A_{s,\pm}\delta \le 0\}`. For
each :math:`(s,\pm)` the Andrews-Roth-Pakes conditional test with a least-favourable first
stage is inverted over a grid of :math:`\theta = l'\tau`; a grid point is in the set if any
:math:`(s,\pm)` test accepts it.

It differs from R in how the linear programs are solved, not in what is computed. R solves one
LP per grid point, per simulation draw and per step of a Newton/bisection search (over 2 x 10^4
LPs per :math:`\bar M`). Here, for each :math:`(s,\pm)`, the feasible set of the dual of the LP
in ``.test_delta_lp_fn`` does not depend on the data and its vertices are known in closed form
(``_dual_vertices``): every LP value is a max over vertices (one matrix product for the whole
grid or all simulation draws), R's dual solution is the maximising vertex, and the truncation
points of the dual approach (``.vlo_vup_dual_fn``) are exact instead of R's search to 1e-6. The
one input that differs from R is the stream of N(0, 1) draws behind the least-favourable
critical value (``_standard_normal``). ``tests/honest_rm_oracle.py`` holds literal per-point
ports (scipy ``linprog``, R's search, vertex enumeration by brute force) and R's own random
stream; ``tests/test_sensitivity.py`` checks this module against both and against R's output.
"""

import warnings

import numpy as np
from scipy.stats import truncnorm

__all__ = [
    "conditional_cs_relative_magnitudes",
    "conditional_cs_relative_magnitudes_grid",
    "sensitivity_relative_magnitudes",
]

_TOL_LAMBDA = 1e-6  # R: tol_lambda in .lp_conditional_test_fn
_LF_SIMS = 1000  # R: sims default of .compute_least_favorable_cv


# --------------------------------------------------------------------------
# Restriction matrices
# --------------------------------------------------------------------------
def _create_A_RM(n_pre, n_post, mbar, s, max_positive):
    """Port of ``.create_A_RM`` (R/deltarm.R) with ``dropZero = TRUE``.

    Rows impose |delta_t - delta_{t-1}| <= (1 or Mbar) * sign * (delta_s - delta_{s-1})
    for every first difference t (pre: bound 1, post: bound Mbar); columns are
    the n_pre + n_post event-study coefficients (the t = 0 column is dropped).
    The right-hand side d (``.create_d_RM``) is identically zero.
    """
    n_all = n_pre + n_post
    atilde = np.zeros((n_all, n_all + 1))
    for r in range(n_all):
        atilde[r, r : r + 2] = (-1.0, 1.0)
    v_max_dif = np.zeros(n_all + 1)
    v_max_dif[n_pre + s - 1 : n_pre + s + 1] = (-1.0, 1.0)
    if not max_positive:
        v_max_dif = -v_max_dif
    a_ub = np.vstack([np.tile(v_max_dif, (n_pre, 1)), np.tile(mbar * v_max_dif, (n_post, 1))])
    a = np.vstack([atilde - a_ub, -atilde - a_ub])
    a = a[np.einsum("ij,ij->i", a, a) > 1e-10]
    return np.delete(a, n_pre, axis=1)


def _construct_gamma(l_vec):
    """Port of ``.construct_Gamma`` (R/arp-nuisance.R).

    R takes the pivot columns of rref([l, I]) as the rows of Gamma.  Greedy
    pivoting keeps l and every e_j except e_j for j = the last non-zero entry
    of l (the only e_j in the span of l and the preceding e's), which is what
    is built here directly.
    """
    l_vec = np.asarray(l_vec, dtype=float)
    j = np.flatnonzero(l_vec)[-1]
    eye = np.eye(l_vec.size)
    return np.vstack([l_vec, np.delete(eye, j, axis=0)])


# --------------------------------------------------------------------------
# Shared pieces of the ARP machinery
# --------------------------------------------------------------------------
def _standard_normal(seed, size):
    """N(0, 1) draws for the LF simulations: ``np.random.default_rng(seed)``.

    R uses ``set.seed(seed)`` and its own (Mersenne-Twister / inversion)
    stream instead; this is the single place where the two differ.
    """
    return np.random.default_rng(seed).standard_normal(size)


def _rmvnorm(seed, n, sigma):
    """Draws as ``set.seed(seed); mvtnorm::rmvnorm(n, sigma = sigma)`` (method "eigen").

    Row i is z_i' R with z_i the i-th row of an (n, M) standard-normal matrix
    filled row by row and R the symmetric square root of sigma from its
    eigendecomposition, as mvtnorm does.
    """
    evals, evecs = np.linalg.eigh(sigma)
    root = (evecs * np.sqrt(np.maximum(evals, 0.0))) @ evecs.T
    return _standard_normal(seed, (n, sigma.shape[0])) @ root


def _norminvp(p, lo, hi, mu=0.0, sd=1.0):
    """Port of ``.norminvp_generalized``: quantile p of N(mu, sd^2) truncated to [lo, hi].

    R calls ``TruncatedNormal::norminvp``; scipy's ``truncnorm.ppf`` is used here.
    """
    return mu + sd * truncnorm.ppf(p, (lo - mu) / sd, (hi - mu) / sd)


def _dual_vertices(sd, w):
    """Vertices of the dual feasible set {gamma >= 0 : sd'gamma = 1, X'gamma = 0}.

    This is the feasible set of the dual of the LP in ``.test_delta_lp_fn``
    (min eta s.t. y - X delta <= eta * sd), whose value is the max of
    gamma'y over it.  For Delta^RM with postPeriodMomentsOnly the moments are
    the n = n_post post-period first differences twice, X = [X_p; -X_p]
    (rows j and j + n), and X_p (n x (n - 1)) has rank n - 1 with left null
    vector w (w'X_p = 0).  Writing gamma = (g1, g2), X'gamma = 0 iff
    g1 - g2 = t w, so with m = min(g1, g2) every feasible gamma is a convex
    combination of
      p_j = (e_j + e_{j+n}) / (sd_j + sd_{j+n})             (t = 0)
      q_+ = (w+, w-) / (sd1'w+ + sd2'w-),  q_- = (w-, w+) / (sd1'w- + sd2'w+)
    (w+ / w- the positive / negative parts of w).  q_+ and q_- are vertices;
    p_j is one unless w is proportional to e_j (then p_j lies between q_+ and
    q_-).  Returns the vertices as rows of an (n_vertices, 2n) array.
    """
    n = w.size
    wp, wm = np.maximum(w, 0.0), np.maximum(-w, 0.0)
    q_plus = np.r_[wp, wm] / (sd[:n] @ wp + sd[n:] @ wm)
    q_minus = np.r_[wm, wp] / (sd[:n] @ wm + sd[n:] @ wp)
    pairs = [j for j in range(n) if np.any(np.delete(w, j) != 0)]
    p = np.zeros((len(pairs), 2 * n))
    for row, j in enumerate(pairs):
        p[row, [j, j + n]] = 1.0 / (sd[j] + sd[j + n])
    return np.vstack([q_plus, q_minus, p])


# --------------------------------------------------------------------------
# Nuisance-parameter case (n_post >= 2): R/arp-nuisance.R
# --------------------------------------------------------------------------
def _lf_cv_nuisance(vertices, sigma, hybrid_kappa, seed):
    """Port of ``.compute_least_favorable_cv`` (nuisance branch).

    1 - kappa quantile (R's default type 7) of the LP value eta(xi) over
    1000 draws xi ~ N(0, sigma) from a generator freshly seeded with ``seed``
    (R: ``set.seed(seed)``; ``.ARP_computeCI`` uses the default seed 0, so
    every (s, sign) reuses the same underlying normals).
    """
    xi = _rmvnorm(seed, _LF_SIMS, sigma)
    eta = (xi @ vertices.T).max(axis=1)
    return np.quantile(eta, 1.0 - hybrid_kappa)


def _primal_truncation(lam, x, sigma, y):
    """Primal branch of ``.lp_conditional_test_fn``: (vlo, vup, sigma_B) per row of y.

    B is the support of the dual solution lam (k + 1 binding moments);
    Gamma_B, v_B, rho and the max/min over the non-binding moments as in R.
    """
    m = lam.size
    b_idx = lam > _TOL_LAMBDA
    sd = np.sqrt(np.diag(sigma))
    s_b, s_bc = np.eye(m)[b_idx], np.eye(m)[~b_idx]
    w_b_inv = np.linalg.inv(np.column_stack([sd[b_idx], x[b_idx]]))
    gamma_b = np.column_stack([sd[~b_idx], x[~b_idx]]) @ w_b_inv @ s_b - s_bc
    v_b = w_b_inv[0] @ s_b
    sigma2_b = v_b @ sigma @ v_b
    rho = gamma_b @ sigma @ v_b / sigma2_b
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -(y @ gamma_b.T) / rho + (y @ v_b)[:, None]
    vlo = np.max(np.where(rho > 0, bound, -np.inf), axis=1)
    vup = np.min(np.where(rho < 0, bound, np.inf), axis=1)
    return vlo, vup, np.sqrt(sigma2_b)


def _dual_truncation(gamma, vertices, sigma, y, eta, sigma_b):
    """``.lp_dual_fn`` / ``.vlo_vup_dual_fn``: (vlo, vup) per row of y.

    R finds the set of c for which c = max_{g in dual polytope} g'(s_T + b c),
    b = sigma gamma / gamma'sigma gamma, s_T = y - b gamma'y, by LP calls with
    Newton steps and bisection (tolerance 1e-6).  With the vertices at hand the
    set is the interval  max_{g: g'b < 1} g's_T / (1 - g'b) <= c <=
    min_{g: g'b > 1} g's_T / (1 - g'b), computed exactly (a vertex with
    g'b = 1 only requires g'y <= gamma'y, true at the optimum).  As in R, vup
    is +Inf when c = max(100, eta + 20 sigma_B) is in the set and vlo is -Inf
    when c = min(-100, eta - 20 sigma_B) is.
    """
    b = sigma @ gamma / (gamma @ sigma @ gamma)
    s_t = y - np.outer(y @ gamma, b)
    num = s_t @ vertices.T
    den = 1.0 - vertices @ b
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
    vlo = np.max(np.where(den > 1e-10, ratio, -np.inf), axis=1)
    vup = np.min(np.where(den < -1e-10, ratio, np.inf), axis=1)
    high_initial = np.maximum(100.0, eta + 20.0 * sigma_b)
    low_initial = np.minimum(-100.0, eta - 20.0 * sigma_b)
    vup = np.where(vup >= high_initial, np.inf, vup)
    vlo = np.where(vlo <= low_initial, -np.inf, vlo)
    return vlo, vup


def _arp_lf_accept_nuisance(y, x, sigma, vertices, alpha, hybrid_kappa, seed):
    """``.ARP_computeCI`` + ``.lp_conditional_test_fn`` (hybrid_flag = "LF") on a theta grid.

    y is (n_theta, M): the moments y_T(theta) = Y - a theta restricted to
    rowsForARP; x is the (M, k) nuisance design X_T; sigma the (M, M)
    covariance; vertices those of the dual feasible set (``_dual_vertices``).
    The LP value is eta = max over vertices of gamma'y and R's dual solution
    lambda the maximising vertex.  Returns a boolean accept vector.
    """
    k = x.shape[1]
    lf_cv = _lf_cv_nuisance(vertices, sigma, hybrid_kappa, seed)
    mod_size = (alpha - hybrid_kappa) / (1.0 - hybrid_kappa)

    values = y @ vertices.T
    which = values.argmax(axis=1)
    eta = values[np.arange(len(y)), which]
    accept = eta <= lf_cv  # first stage: reject if eta > lf_cv
    for j in np.unique(which[accept]):
        rows = np.flatnonzero(accept & (which == j))
        lam = vertices[j]
        binding = lam > _TOL_LAMBDA
        x_b = x[binding]
        full_rank = x_b.shape[0] > 0 and np.linalg.matrix_rank(x_b) == min(x_b.shape)
        if full_rank and binding.sum() == k + 1:
            vlo, vup, sigma_b = _primal_truncation(lam, x, sigma, y[rows])
        else:
            sigma2_b = lam @ sigma @ lam
            if abs(sigma2_b) < np.finfo(float).eps:
                accept[rows] = eta[rows] <= 0
                continue
            sigma_b = np.sqrt(sigma2_b)
            vlo, vup = _dual_truncation(lam, vertices, sigma, y[rows], eta[rows], sigma_b)
        zlo = vlo / sigma_b
        zup = np.minimum(vup, lf_cv) / sigma_b
        stat = eta[rows] / sigma_b
        inside = (zlo <= stat) & (stat <= zup)
        cval = np.zeros(len(rows))
        cval[inside] = np.maximum(0.0, _norminvp(1.0 - mod_size, zlo[inside], zup[inside]))
        accept[rows] = ~inside | (stat <= cval)
    return accept


# --------------------------------------------------------------------------
# No-nuisance case (n_post == 1): R/arp-nonuisance.R
# --------------------------------------------------------------------------
def _arp_lf_accept_no_nuisance(betahat, sigma, a, thetas, n_pre, alpha, hybrid_kappa, seed):
    """``.APR_computeCI_NoNuis`` with ``.testInIdentifiedSet_LF_Hybrid`` (d = 0) on a theta grid.

    LF critical value: ``.compute_least_favorable_cv(X_T = NULL, ...)``, the
    1 - kappa quantile of the max standardised moment over 1000 draws.  The
    second stage conditions on the location of the maximal standardised moment
    (first maximum, as ``which.max``); as in R, its upper truncation point is
    not capped at the LF critical value.
    """
    sigma_a = a @ sigma @ a.T
    sd_a = np.sqrt(np.diag(sigma_a))
    xi = _rmvnorm(seed, _LF_SIMS, sigma_a) / sd_a
    lf_cv = np.quantile(xi.max(axis=1), 1.0 - hybrid_kappa)
    alpha_tilde = (alpha - hybrid_kappa) / (1.0 - hybrid_kappa)

    a_tilde = a / sd_a[:, None]
    y = betahat[None, :] - np.outer(thetas, np.eye(betahat.size)[n_pre])
    moments = y @ a_tilde.T
    loc = moments.argmax(axis=1)
    max_moment = moments[np.arange(len(y)), loc]
    accept = max_moment <= lf_cv
    for j in np.unique(loc[accept]):
        rows = np.flatnonzero(accept & (loc == j))
        gamma = a_tilde[j]
        abar = a_tilde - a_tilde[j]
        sigmabar = np.sqrt(gamma @ sigma @ gamma)
        c = sigma @ gamma / sigmabar**2
        z = y[rows] - np.outer(y[rows] @ gamma, c)
        ac = abar @ c
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = -(z @ abar.T) / ac
        vlo = np.max(np.where(ac < 0, bound, -np.inf), axis=1)
        vup = np.min(np.where(ac > 0, bound, np.inf), axis=1)
        cval = np.maximum(0.0, _norminvp(1.0 - alpha_tilde, vlo, vup, 0.0, sigmabar))
        accept[rows] = ~(max_moment[rows] > cval)
    return accept


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------
def _fixed_s_accept(betahat, sigma, n_pre, n_post, l_vec, mbar, s, max_positive,
                    thetas, alpha, hybrid_kappa, seed):
    """Port of ``.computeConditionalCS_DeltaRM_fixedS`` with postPeriodMomentsOnly = TRUE.

    n_post >= 2: ``.ARP_computeCI`` on the moments that involve post-period
    coefficients (rowsForARP), with the nuisance design X_T = A_post Gamma^{-1}
    minus its first column.  n_post == 1: A is cut to those rows and the
    no-nuisance test is used.  Returns the accept vector over ``thetas``.
    """
    a = _create_A_RM(n_pre, n_post, mbar, s, max_positive)
    if n_post == 1:
        a = a[a[:, -1] != 0]
        return _arp_lf_accept_no_nuisance(betahat, sigma, a, thetas, n_pre, alpha, hybrid_kappa, seed)
    rows = np.flatnonzero(np.any(a[:, n_pre:] != 0, axis=1))
    a_gamma_inv = a[:, n_pre:] @ np.linalg.inv(_construct_gamma(l_vec))
    y = (a @ betahat)[None, rows] - np.outer(thetas, a_gamma_inv[rows, 0])
    x = a_gamma_inv[rows, 1:]
    sigma_y = (a @ sigma @ a.T)[np.ix_(rows, rows)]
    if not np.allclose(x[:n_post], -x[n_post:], rtol=0.0, atol=1e-12 * max(1.0, np.abs(x).max())):
        raise AssertionError("post-period moments are not +/- pairs")
    # left null vector of X_p: w' A_p Gamma^{-1} = e_1'  <=>  w = A_p^{-T} l
    w = np.linalg.solve(a[rows[:n_post], n_pre:].T, l_vec)
    w[np.abs(w) <= 1e-12 * np.abs(w).max()] = 0.0
    vertices = _dual_vertices(np.sqrt(np.diag(sigma_y)), w)
    return _arp_lf_accept_nuisance(y, x, sigma_y, vertices, alpha, hybrid_kappa, seed)


def conditional_cs_relative_magnitudes_grid(betahat, sigma, n_pre, n_post, mbar, *, l_vec=None,
                                            alpha=0.05, hybrid_kappa=None, grid_points=1000,
                                            grid_lb=None, grid_ub=None, seed=0):
    """Port of ``computeConditionalCS_DeltaRM`` (hybrid_flag = "LF", returnLength = FALSE).

    Returns (grid, accept): the theta grid ``seq(grid.lb, grid.ub, length.out = gridPoints)``
    and a boolean array, True where the test accepts for at least one
    (s, sign), s in -(n_pre - 1), ..., 0.  Default grid: +-20 sd(l'betahat_post)
    around zero, as in R; R's warning when an end point of the grid is accepted
    (``.ARP_computeCI``) is issued too.  For n_post == 1 R tests theta = tau_1
    and uses l_vec only for the default grid width; that is kept.
    """
    betahat = np.asarray(betahat, dtype=float).ravel()
    sigma = np.asarray(sigma, dtype=float)
    if betahat.size != n_pre + n_post or sigma.shape != (betahat.size, betahat.size):
        raise ValueError("betahat / sigma not conformable with n_pre + n_post")
    l_vec = np.eye(n_post)[0] if l_vec is None else np.asarray(l_vec, dtype=float).ravel()
    if l_vec.size != n_post:
        raise ValueError("l_vec must have length n_post")
    hybrid_kappa = alpha / 10 if hybrid_kappa is None else hybrid_kappa
    sd_theta = np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec)
    grid_ub = 20 * sd_theta if grid_ub is None else grid_ub
    grid_lb = -20 * sd_theta if grid_lb is None else grid_lb
    # R's seq(from, to, length.out = n): c(from, from + (1:(n-2)) * by, to)
    by = (grid_ub - grid_lb) / (grid_points - 1)
    grid = grid_lb + np.arange(grid_points) * by
    grid[-1] = grid_ub

    accept = np.zeros(grid_points, dtype=bool)
    for s in range(-(n_pre - 1), 1):
        for max_positive in (True, False):
            accept |= _fixed_s_accept(betahat, sigma, n_pre, n_post, l_vec, mbar, s, max_positive,
                                      grid, alpha, hybrid_kappa, seed)
    if accept[0] or accept[-1]:
        warnings.warn("CI is open at one of the endpoints; CI length may not be accurate", stacklevel=2)
    return grid, accept


def conditional_cs_relative_magnitudes(betahat, sigma, n_pre, n_post, mbar, *, l_vec=None, alpha=0.05,
                                       hybrid_kappa=None, grid_points=1000, grid_lb=None, grid_ub=None,
                                       seed=0):
    """C-LF confidence interval (lb, ub) for l'tau under Delta^RM(mbar).

    As reported by ``createSensitivityResults_relativeMagnitudes``: the min and
    max of the accepted grid points of ``computeConditionalCS_DeltaRM``
    (the accepted set itself may have gaps).  If nothing is accepted R's
    min/max of an empty vector give (Inf, -Inf), returned here too.
    """
    grid, accept = conditional_cs_relative_magnitudes_grid(
        betahat, sigma, n_pre, n_post, mbar, l_vec=l_vec, alpha=alpha, hybrid_kappa=hybrid_kappa,
        grid_points=grid_points, grid_lb=grid_lb, grid_ub=grid_ub, seed=seed)
    if not accept.any():
        return np.inf, -np.inf
    return float(grid[accept].min()), float(grid[accept].max())


def sensitivity_relative_magnitudes(betahat, sigma, n_pre, mbar_grid=None, **kw):
    """Port of ``createSensitivityResults_relativeMagnitudes`` (Delta^RM, method "C-LF").

    n_post is inferred from len(betahat) - n_pre unless given in ``kw``;
    default ``mbar_grid`` is R's ``seq(0, 2, length.out = 10)``.  Other keywords
    go to :func:`conditional_cs_relative_magnitudes`.  Returns a list of
    (mbar, lb, ub).
    """
    n_post = kw.pop("n_post", np.asarray(betahat).size - n_pre)
    mbar_grid = np.linspace(0, 2, 10) if mbar_grid is None else mbar_grid
    return [(float(mb), *conditional_cs_relative_magnitudes(betahat, sigma, n_pre, n_post, mb, **kw))
            for mb in mbar_grid]
