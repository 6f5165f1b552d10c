r"""Propensity-score matching and PSM-DID (the paper's §4.3.2, eq. 8, Tables 5-6, Fig. 3).

What Stata's ``psmatch2`` + ``pstest`` do (Leuven & Sianesi 2003), in five steps:

1. :func:`propensity_score` -- the probit of eq. (8) (logit as an option),
   with its table, McFadden pseudo-R² and LR χ²;
2. :func:`common_support` -- treated rows whose score lies outside the
   controls' score range are dropped and counted (``psmatch2, common``);
3. :func:`nn_match` (1:k nearest neighbour with replacement, optional caliper,
   two tie rules) and :func:`kernel_match` (Epanechnikov kernel, bandwidth
   0.06 as ``psmatch2``'s default), each returning a :class:`Matching` whose
   ATT is

   .. math::

       \widehat{ATT} = \frac{1}{N_1^{S}} \sum_{i \in T\cap S}
       \Big(Y_i - \sum_{j \in C} w_{ij} Y_j\Big), \qquad \sum_j w_{ij} = 1,

   with the Abadie-Imbens (2006) analytic s.e. for nearest neighbour and a
   city (cluster) bootstrap (:func:`bootstrap_att`) for the kernel;
4. :func:`balance_table` -- ``pstest``'s table: means unmatched and matched,
   t-tests, standardised % bias and % reduction, and the summary rows (mean
   and median |bias|, pseudo-R², LR χ², Rubin's B and R);
5. :func:`psm_did` -- the baseline two-way FE regression re-estimated on the
   matched sample (matching weights) or on the common-support sample.

:func:`cohort_match` is the stricter design the paper does not run: one
cross-section per adoption cohort, covariates measured in the year before
adoption, pilots matched to never-treated cities only, and the matched
difference-in-differences of Heckman, Ichimura & Todd (1997) as the outcome.

Numerics live in standalone functions on arrays; the result classes are thin
frozen wrappers with ``tidy()``/``table()``. ``METHODS.md``-style conventions
and tolerances are in the docstrings and ``tests/test_psm.py``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from lib.methods.results import RegressionResult

__all__ = [
    "PSMError",
    "InvalidBootstrapWarning",
    "PropensityScore",
    "Matching",
    "BootstrapATT",
    "propensity_score",
    "common_support",
    "nn_match",
    "kernel_match",
    "match_weights_nn",
    "match_weights_nn_greedy",
    "balance_smd",
    "match_weights_kernel",
    "abadie_imbens_se",
    "psmatch2_se",
    "abadie_imbens_2016_se",
    "crump_alpha",
    "trim_overlap",
    "clustered_se",
    "clustered_variance_shares",
    "RosenbaumBounds",
    "rosenbaum_bounds",
    "cluster_multiplicities",
    "batched_binary_mle",
    "bootstrap_att",
    "kernel_att_sorted",
    "kernel_att_city",
    "nn_att_city",
    "balance_table",
    "balance_summary",
    "psm_did",
    "cohort_match",
    "CohortMatch",
    "implied_treated_share",
    "ci_covers",
    "support_plot",
    "love_plot",
]

_TIE_TOL = 1e-12  # scores closer than this count as tied (float noise in |p_i - p_j|)


class InvalidBootstrapWarning(UserWarning):
    """A plain bootstrap of nearest-neighbour matching was asked for: it is not a valid s.e.
    (Abadie & Imbens 2008), because the number of times a control is used does not behave
    smoothly under resampling."""


def _warn_nn_bootstrap(where: str) -> None:
    import warnings

    warnings.warn(f"{where}: the bootstrap is not a valid s.e. for nearest-neighbour matching "
                  "(Abadie & Imbens 2008); use the Abadie-Imbens s.e. of nn_match, or kernel "
                  "matching, or pass comparison_only=True to say the bootstrap is shown for "
                  "comparison only.", InvalidBootstrapWarning, stacklevel=3)


class PSMError(ValueError):
    """Bad input to a matching step; the message names the column and rows and says the fix."""


def _progress_bar(total: int, progress: bool | str, desc: str):
    if progress == "auto":
        progress = sys.stderr.isatty() and not os.environ.get("PYTEST_CURRENT_TEST")
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="rep", file=sys.stderr)


# ======================================================================= score
@dataclass(frozen=True)
class PropensityScore:
    """A fitted propensity score on the complete cases of a panel.

    Attributes
    ----------
    frame : DataFrame
        The rows used (complete on treatment, covariates, outcome, id, time),
        original index, with added columns ``_score`` and ``_index`` (the
        linear predictor :math:`x'\\hat\\beta`).
    result : RegressionResult
        The probit/logit (from :func:`lib.methods.did.selection_logit`): coefficients,
        s.e., ``r2`` = McFadden pseudo-R², ``extra["llf"]``, ``["llnull"]``.
    treatment, covariates, outcome, idname, tname, kind
        The arguments used.
    trimmed : dict
        Empty, or what :func:`trim_overlap` removed: ``alpha``, ``lower``, ``upper``,
        ``treated`` and ``control`` rows dropped.
    """

    frame: pd.DataFrame
    result: RegressionResult
    treatment: str
    covariates: tuple[str, ...]
    outcome: str | None
    idname: str | None
    tname: str | None
    kind: str
    trimmed: dict = field(default_factory=dict)

    @property
    def score(self) -> pd.Series:
        return self.frame["_score"]

    @property
    def treat(self) -> np.ndarray:
        return self.frame[self.treatment].to_numpy(dtype=int)

    @property
    def pseudo_r2(self) -> float:
        return float(self.result.r2)

    @property
    def lr_chi2(self) -> float:
        return float(2 * (self.result.extra["llf"] - self.result.extra["llnull"]))

    @property
    def lr_p(self) -> float:
        return float(stats.chi2.sf(self.lr_chi2, len(self.covariates)))

    def counts(self) -> dict[str, int]:
        t = self.treat
        return {"rows": len(t), "treated": int(t.sum()), "control": int((1 - t).sum()),
                "dropped": int(self.result.n_dropped)}


def _check_binary(frame: pd.DataFrame, col: str) -> np.ndarray:
    v = frame[col]
    bad = ~v.isin([0, 1, True, False])
    if bad.any():
        rows = list(frame.index[bad][:5])
        raise PSMError(f"treatment column {col!r} must be 0/1; {int(bad.sum())} rows are not "
                       f"(first row labels {rows}, values {list(v[bad].unique()[:5])}). "
                       f"Fix: recode it to 0/1.")
    t = v.to_numpy(dtype=int)
    if t.min() == t.max():
        raise PSMError(f"treatment column {col!r} is {t[0]} in all {len(t)} complete rows; "
                       "matching needs treated and control rows.")
    return t


def _check_covariates(frame: pd.DataFrame, t: np.ndarray, covariates: Sequence[str],
                      treatment: str) -> None:
    for c in covariates:
        x = frame[c].to_numpy(dtype=float)
        for g, name in ((1, "treated"), (0, "control")):
            xg = x[t == g]
            if np.ptp(xg) == 0:
                raise PSMError(
                    f"covariate {c!r} is constant ({xg[0]:g}) in all {xg.size} {name} rows "
                    f"({treatment} == {g}); its standardised bias and t-test are undefined and "
                    "the score model is nearly separated. Fix: drop it from the matching "
                    "variables or check its coding.")
        x1, x0 = x[t == 1], x[t == 0]
        if x1.min() > x0.max() or x1.max() < x0.min():
            raise PSMError(
                f"covariate {c!r} perfectly predicts {treatment!r}: treated values "
                f"[{x1.min():g}, {x1.max():g}] and control values [{x0.min():g}, {x0.max():g}] "
                "do not overlap, so no treated row has a comparable control (the probit MLE does "
                "not exist). Fix: drop or coarsen it, or restrict the sample to the overlap.")


def propensity_score(
    data: pd.DataFrame,
    *,
    treatment: str,
    covariates: Sequence[str],
    outcome: str | None,
    idname: str | None = None,
    tname: str | None = None,
    kind: Literal["probit", "logit"] = "probit",
    vcov: dict[str, str] | str | None = None,
) -> PropensityScore:
    r"""Propensity score by probit (the paper's eq. 8) or logit, pooled over rows.

    .. math::

        \Pr(D_{it}=1 \mid x_{it}) = F(\alpha + x_{it}'\beta), \qquad
        \hat p_{it} = F(\hat\alpha + x_{it}'\hat\beta),

    :math:`F = \Phi` (probit) or :math:`\Lambda` (logit), by maximum
    likelihood through :func:`lib.methods.did.selection_logit` (statsmodels).

    Parameters
    ----------
    data : DataFrame
        City-year panel.
    treatment : str
        0/1 column matched on: ``"CBEC"`` (treated city-years, the book's
        default and what the paper's Table 6 counts imply) or ``"treated"``
        (ever-pilot cities, the literal reading of eq. 8).
    covariates : sequence of str
        Matching variables (Table 5's eight by default).
    outcome : str or None
        Also required to be non-missing, so that score, matching and ATT use
        the same rows (the paper's N = 3,316).
    idname, tname : str, optional
        Unit and period columns of a panel. Leave both out for a cross-section
        (one row per unit): nothing is invented, the bootstrap then resamples
        rows.
    kind : {"probit", "logit"}
    vcov : optional
        Covariance of the score table; default CRV1 by ``idname``, or HC1 on a
        cross-section (the score itself does not depend on it).

    Returns
    -------
    PropensityScore

    Raises
    ------
    PSMError
        Treatment not 0/1 or constant; a covariate constant within the treated
        or the control rows; a covariate that perfectly predicts treatment.
    """
    from lib.methods.did import _check_columns, selection_logit
    from lib.data import model_frame

    covariates = tuple(covariates)
    if kind not in ("probit", "logit"):
        raise PSMError(f"kind must be 'probit' or 'logit', got {kind!r}")
    cols = [treatment, *covariates, *([outcome] if outcome else []),
            *(c for c in (idname, tname) if c)]
    _check_columns(data, cols, "propensity_score")
    if vcov is None:
        vcov = {"CRV1": idname} if idname else "hetero"
    frame, dropped = model_frame(data, cols)
    frame = frame.copy()
    t = _check_binary(frame, treatment)
    frame[treatment] = t
    _check_covariates(frame, t, covariates, treatment)
    try:
        res = selection_logit(frame, treated=treatment, covariates=covariates, idname=idname,
                              tname=tname, kind=kind, vcov=vcov)
    except ValueError as err:
        raise PSMError(f"propensity_score: {err}") from err
    res = _with_drops(res, len(data) - len(frame),
                      {k: v for k, v in dropped.items() if k != "total" and v})
    beta = res.params.to_numpy()
    X = np.column_stack([np.ones(len(frame)), frame[list(covariates)].to_numpy(float)])
    index = X @ beta
    frame["_index"] = index
    frame["_score"] = special.ndtr(index) if kind == "probit" else special.expit(index)
    return PropensityScore(frame=frame, result=res, treatment=treatment, covariates=covariates,
                           outcome=outcome, idname=idname, tname=tname, kind=kind)


def _with_drops(res: RegressionResult, n_dropped: int, reasons: dict[str, int]) -> RegressionResult:
    import dataclasses

    return dataclasses.replace(res, n_dropped=int(n_dropped), drop_reasons=dict(reasons))


# ================================================================ support
def common_support(score, treat) -> np.ndarray:
    r"""``psmatch2, common``: treated rows with a score outside the controls' range are off.

    .. math::

        S = \{i : D_i = 0\} \cup \{i : D_i = 1,\ \min_{j:D_j=0} p_j \le p_i \le
        \max_{j:D_j=0} p_j\}

    Returns a boolean array, ``True`` on support (every control is on).
    """
    p = np.asarray(score, dtype=float)
    d = np.asarray(treat, dtype=int)
    if not (d == 0).any():
        raise PSMError("common_support: no control rows")
    lo, hi = p[d == 0].min(), p[d == 0].max()
    return (d == 0) | ((p >= lo) & (p <= hi))


def crump_alpha(score) -> float:
    r"""Crump, Hotz, Imbens & Mitnik's (2009) optimal trimming threshold :math:`\alpha`.

    With :math:`g(x) = 1/(p(x)(1-p(x)))`, no trimming (:math:`\alpha = 0`) when
    :math:`\max g \le 2\,\bar g`; otherwise :math:`\gamma = 1/(\alpha(1-\alpha))` solves

    .. math:: \gamma = 2\,E\big[g(X) \mid g(X) \le \gamma\big],

    on the sample (the smallest :math:`k` with :math:`g_{(k)} \le 2\bar g_{(1..k)} < g_{(k+1)}`,
    :math:`\bar g_{(1..k)}` the mean of the :math:`k` smallest), and
    :math:`\alpha = 1/2 - \sqrt{1/4 - 1/\gamma}`. The rule minimises the asymptotic variance of
    the ATE on the kept population; Crump et al. find :math:`\alpha \approx 0.1` in many data.
    """
    p = np.asarray(score, dtype=float)
    if p.size == 0 or (p <= 0).any() or (p >= 1).any():
        raise PSMError("crump_alpha: scores must lie strictly between 0 and 1")
    g = np.sort(1.0 / (p * (1.0 - p)))
    if g[-1] <= 2.0 * g.mean():
        return 0.0
    bound = 2.0 * np.cumsum(g) / np.arange(1, g.size + 1)
    nxt = np.r_[g[1:], np.inf]
    k = int(np.flatnonzero((g <= bound) & (bound < nxt))[0])
    gamma = float(bound[k])
    return float(0.5 - np.sqrt(0.25 - 1.0 / gamma))


def trim_overlap(score: PropensityScore, alpha: float | Literal["crump"] = "crump") -> PropensityScore:
    r"""The score's sample restricted to :math:`\alpha \le \hat p \le 1 - \alpha`, treated and
    controls alike (Crump et al. 2009): ``alpha="crump"`` takes :func:`crump_alpha`.

    The score is not re-estimated; what was removed is in ``trimmed``. Trimming changes the
    estimand: the ATT is then the effect on the treated rows of the kept region, not on all
    treated rows. Crump et al.'s rule targets the ATE; where treatment is rare, most rows have a
    small score and the rule removes many controls and treated rows of low score that an ATT does
    not need removed, which the counts show.
    """
    p = score.frame["_score"].to_numpy()
    a = crump_alpha(p) if alpha == "crump" else float(alpha)
    if not 0 <= a < 0.5:
        raise PSMError(f"trim_overlap: alpha must lie in [0, 0.5), got {a!r}")
    keep = (p >= a) & (p <= 1 - a)
    t = score.treat
    dropped = {"treated": int(((~keep) & (t == 1)).sum()), "control": int(((~keep) & (t == 0)).sum())}
    if not (keep & (t == 1)).any() or not (keep & (t == 0)).any():
        raise PSMError(f"trim_overlap: alpha = {a:.4f} leaves no {'treated' if not (keep & (t == 1)).any() else 'control'} "
                       f"row ({dropped['treated']} treated and {dropped['control']} control rows "
                       "fall outside); pass a smaller alpha.")
    import dataclasses

    return dataclasses.replace(score, frame=score.frame.loc[keep],
                               trimmed={"alpha": a, "lower": a, "upper": 1 - a, **dropped})


# ================================================================ weights
def match_weights_nn(p_treated, p_control, *, k: int = 5, caliper: float | None = None,
                     ties: Literal["keep", "random", "first"] = "keep", seed: int = 0) -> np.ndarray:
    r"""Weights of 1:k nearest-neighbour matching with replacement on the score.

    Row :math:`i` of the ``(n_T, n_C)`` result holds :math:`w_{ij} = 1/|M_i|`
    for the controls :math:`M_i` matched to treated :math:`i`, else 0.

    Parameters
    ----------
    p_treated, p_control : array_like
        Scores of the treated and the control rows.
    k : int
        Neighbours per treated row (5 as in the paper).
    caliper : float, optional
        Maximum :math:`|p_i - p_j|`; matches beyond it are dropped, and a
        treated row with none left gets an all-zero row (off support).
    ties : {"keep", "random", "first"}
        ``"keep"`` (``psmatch2``'s ``ties``): every control whose distance
        equals the k-th smallest (within 1e-12) is matched, so
        :math:`|M_i| \ge k`. ``"random"``: exactly ``k``; ties at the k-th
        distance are broken by one random order of the controls drawn with
        ``numpy.random.default_rng(seed)``. ``"first"``: exactly ``k``, ties
        going to the controls first in the data (``psmatch2`` without ``ties``,
        which breaks them by the current sort order).
    seed : int
        Seed of the tie-breaking order (``ties="random"`` only).
    """
    pt = np.asarray(p_treated, dtype=float)
    pc = np.asarray(p_control, dtype=float)
    nc = pc.size
    if k < 1 or int(k) != k:
        raise PSMError(f"k must be a positive integer, got {k!r}")
    if nc < k:
        raise PSMError(f"nn_match: {nc} control rows for k = {k} neighbours")
    if ties not in ("keep", "random", "first"):
        raise PSMError(f"ties must be 'keep', 'random' or 'first', got {ties!r}")
    D = np.abs(pt[:, None] - pc[None, :])
    W = np.zeros_like(D)
    dk = np.partition(D, k - 1, axis=1)[:, k - 1:k]
    if ties == "keep":
        M = D <= dk + _TIE_TOL
    else:
        # strictly nearer controls are in; the rest of the k come from the controls tied at
        # the k-th distance, taken in one seeded random order of all controls
        M = D < dk - _TIE_TOL
        need = k - M.sum(axis=1, keepdims=True)
        tied = np.abs(D - dk) <= _TIE_TOL
        rank = np.empty(nc)
        order = np.arange(nc) if ties == "first" else np.random.default_rng(seed).permutation(nc)
        rank[order] = np.arange(nc)
        key = np.where(tied, rank[None, :], np.inf)
        pos = np.argsort(np.argsort(key, axis=1, kind="stable"), axis=1, kind="stable")
        M |= tied & (pos < need)
    if caliper is not None:
        M &= D <= caliper
    cnt = M.sum(axis=1, keepdims=True)
    np.divide(M, cnt, out=W, where=cnt > 0)
    return W


def match_weights_nn_greedy(p_treated, p_control, *, k: int = 1, caliper: float | None = None,
                            order: Literal["largest", "smallest", "data", "random"] = "largest",
                            seed: int = 0) -> np.ndarray:
    r"""Weights of greedy 1:k nearest-neighbour matching **without** replacement on the score.

    The treated rows take their turn in ``order`` (``"largest"`` score first, MatchIt's default
    for a propensity score; ``"smallest"``; ``"data"``, the rows' order; ``"random"``, one
    seeded permutation); each takes its ``k`` nearest controls not yet taken (a tie at equal
    distance goes to the control first in the data), so a control is used at most once and
    :math:`w_{ij} = 1/|M_i|`. A treated row that finds no control left (or none within
    ``caliper``) gets fewer matches, or an all-zero row (off support). The same matches as R
    ``Matching::Match(replace = FALSE, ties = FALSE)`` on rows sorted in that order
    (``tests/goldens``). Greedy matching depends on the order; it is not optimal matching.
    """
    pt = np.asarray(p_treated, dtype=float)
    pc = np.asarray(p_control, dtype=float)
    if k < 1 or int(k) != k:
        raise PSMError(f"k must be a positive integer, got {k!r}")
    if order not in ("largest", "smallest", "data", "random"):
        raise PSMError(f"order must be 'largest', 'smallest', 'data' or 'random', got {order!r}")
    if pc.size < k:
        raise PSMError(f"nn matching without replacement: {pc.size} control rows for k = {k}")
    turn = {"largest": lambda: np.argsort(-pt, kind="stable"),
            "smallest": lambda: np.argsort(pt, kind="stable"),
            "data": lambda: np.arange(pt.size),
            "random": lambda: np.random.default_rng(seed).permutation(pt.size)}[order]()
    free = np.ones(pc.size, bool)
    W = np.zeros((pt.size, pc.size))
    for i in turn:
        d = np.where(free, np.abs(pc - pt[i]), np.inf)
        if caliper is not None:
            d[d > caliper] = np.inf
        take = np.argsort(d, kind="stable")[:k]   # stable: equal distances go in data order
        take = take[np.isfinite(d[take])]
        if take.size:
            W[i, take] = 1.0 / take.size
            free[take] = False
    return W


def _epanechnikov(p_eval, p, bandwidth: float) -> np.ndarray:
    r""":math:`K((p_j - p_i)/h)`, rows ``p_eval``, columns ``p``, :math:`K(u) = \tfrac34(1-u^2)` on
    :math:`|u| < 1`."""
    u = (np.asarray(p, dtype=float)[None, :] - np.asarray(p_eval, dtype=float)[:, None]) / bandwidth
    return np.where(np.abs(u) < 1, 0.75 * (1 - u * u), 0.0)


def match_weights_kernel(p_treated, p_control, *, bandwidth: float = 0.06,
                         control_mult=None) -> np.ndarray:
    r"""Epanechnikov kernel-matching weights (``psmatch2, kernel``, default bandwidth 0.06).

    .. math::

        w_{ij} = \frac{m_j K\big((p_j - p_i)/h\big)}{\sum_{l} m_l K\big((p_l - p_i)/h\big)},
        \qquad K(u) = \tfrac34 (1-u^2)\,\mathbf 1\{|u|<1\},

    with :math:`m_j = 1` (or bootstrap multiplicities ``control_mult``). A
    treated row with no control within the bandwidth gets an all-zero row.
    """
    if not bandwidth > 0:
        raise PSMError(f"bandwidth must be positive, got {bandwidth!r}")
    K = _epanechnikov(p_treated, p_control, bandwidth)
    if control_mult is not None:
        K = K * np.asarray(control_mult, dtype=float)[None, :]
    s = K.sum(axis=1, keepdims=True)
    W = np.zeros_like(K)
    np.divide(K, s, out=W, where=s > 0)
    return W


# ================================================================ matching
@dataclass(frozen=True)
class Matching:
    """A matched sample and its ATT.

    Attributes
    ----------
    method : str
        ``"nn"`` or ``"kernel"``.
    att, se : float
        ATT on the treated rows on support, and its s.e.
    se_kind : str
        How ``se`` was computed (``"Abadie-Imbens (2006)"`` or ``"cluster bootstrap ..."``).
    weights : ndarray
        ``(n_T, n_C)`` matching weights, one row per treated row (all-zero rows
        are off support).
    treated_index, control_index : Index
        Row labels of the treated and control rows of ``score.frame``.
    on_support : ndarray of bool
        Per treated row.
    score : PropensityScore
    outcome : str
    spec : dict
        Arguments used (k, caliper, ties, bandwidth ...).
    extra : dict
        ``"bootstrap"``: a :class:`BootstrapATT` when one was run.
    """

    method: str
    att: float
    se: float
    se_kind: str
    weights: np.ndarray
    treated_index: pd.Index
    control_index: pd.Index
    on_support: np.ndarray
    score: PropensityScore
    outcome: str
    spec: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ counts
    @property
    def n_treated(self) -> int:
        """Treated rows on support (those the ATT averages over)."""
        return int(self.on_support.sum())

    @property
    def n_off_support(self) -> int:
        return int((~self.on_support).sum())

    @property
    def n_control(self) -> int:
        """Control rows in the sample (all are on support)."""
        return len(self.control_index)

    @property
    def n_control_used(self) -> int:
        """Controls with positive weight (matched at least once)."""
        return int((self.control_weights() > 0).sum())

    def counts(self) -> dict[str, int]:
        return {"treated_on_support": self.n_treated, "treated_off_support": self.n_off_support,
                "control": self.n_control, "control_matched": self.n_control_used,
                "total": self.n_treated + self.n_off_support + self.n_control}

    # ------------------------------------------------------------------ weights
    def control_weights(self) -> np.ndarray:
        """:math:`K_j = \\sum_i w_{ij}`: how often each control is used (``psmatch2``'s ``_weight``)."""
        return self.weights[self.on_support].sum(axis=0)

    def row_weights(self) -> pd.Series:
        """``psmatch2``'s ``_weight`` per row of ``score.frame``: 1 for treated on support,
        :math:`K_j` for controls, 0 for off-support treated and unused controls."""
        w = pd.Series(0.0, index=self.score.frame.index, name="_weight")
        w.loc[self.treated_index] = self.on_support.astype(float)
        w.loc[self.control_index] = self.control_weights()
        return w

    def treated_rows(self) -> pd.DataFrame:
        """The on-support treated rows of ``score.frame`` (what the ATT averages over)."""
        return self.score.frame.loc[self.treated_index[self.on_support]]

    def matched_differences(self) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`d_i = Y_i - \sum_j w_{ij}Y_j` of the on-support treated rows (their mean is
        ``att``), and the controls' outcomes: ``(d, y_control)``."""
        f = self.score.frame
        yt = f.loc[self.treated_index, self.outcome].to_numpy(float)[self.on_support]
        yc = f.loc[self.control_index, self.outcome].to_numpy(float)
        return yt - self.weights[self.on_support] @ yc, yc

    def true_att(self, truth, *, support_only: bool = True) -> float:
        """The true ATT over exactly the treated rows this estimate averages over.

        Mean of :math:`\\tau_{it}` (``truth.effects``; zero for rows without a
        non-zero effect, e.g. pre-adoption years when matching on ``treated``).
        ``support_only=False`` averages over every treated row of the score
        sample instead, off-support rows included (the estimand before
        ``psmatch2, common`` trims it).
        """
        if truth is None:
            return float("nan")
        rows = (self.treated_rows() if support_only
                else self.score.frame.loc[self.treated_index])
        s = self.score
        if s.idname is None or s.tname is None:
            raise PSMError("true_att: the truth is kept per unit and period; fit the score with "
                           "idname= and tname=")
        eff = truth.effects.set_index(["city_id", "year"])["tau"]
        keys = pd.MultiIndex.from_frame(rows[[s.idname, s.tname]].astype("int64"))
        return float(eff.reindex(keys).fillna(0.0).mean())

    # ------------------------------------------------------------------ output
    def tidy(self) -> pd.DataFrame:
        z = self.att / self.se if self.se > 0 else np.nan
        p = 2 * stats.norm.sf(abs(z)) if np.isfinite(z) else np.nan
        return pd.DataFrame({"estimate": [self.att], "std_error": [self.se], "z": [z], "p": [p],
                             "ci_lower": [self.att - 1.959963984540054 * self.se],
                             "ci_upper": [self.att + 1.959963984540054 * self.se],
                             **{k: [v] for k, v in self.counts().items()},
                             "se_kind": [self.se_kind]},
                            index=pd.Index([f"ATT ({self.method})"], name="term"))

    def summary(self) -> str:
        return self.tidy().T.to_string()

    def table(self, title: str | None = None):
        """The ATT, its s.e. and the sample counts as a book :class:`lib.present.tables.Table`."""
        from lib.present.tables import frame_table

        t = self.tidy().drop(columns="se_kind")
        return frame_table(t, title=title or f"Matched ATT ({self.method})",
                           notes=f"S.e.: {self.se_kind}.")

    def plot(self, ax=None):
        """Score densities before and after matching (:func:`support_plot`)."""
        return support_plot(self, ax=ax)

    def _repr_html_(self) -> str:
        return self.tidy().T.to_html()


def _split(score: PropensityScore, outcome: str):
    f = score.frame
    t = score.treat
    if outcome not in f.columns:
        raise PSMError(f"outcome {outcome!r} is not in the score's frame; pass outcome= to "
                       "propensity_score so its missing rows are dropped before matching")
    tri = f.index[t == 1]
    cti = f.index[t == 0]
    p = f["_score"].to_numpy()
    y = f[outcome].to_numpy(float)
    return tri, cti, p[t == 1], p[t == 0], y[t == 1], y[t == 0]


def _finish(method, W, on, tri, cti, yt, yc, score, outcome, spec, se, se_kind, extra=None):
    if not on.any():
        raise PSMError(f"{method} matching: no treated row has a control on support "
                       f"({len(tri)} treated rows, {len(cti)} controls); widen the bandwidth or "
                       "caliper, or check the score model.")
    att = float(np.mean(yt[on] - W[on] @ yc))
    return Matching(method=method, att=att, se=se, se_kind=se_kind, weights=W,
                    treated_index=tri, control_index=cti, on_support=on, score=score,
                    outcome=outcome, spec=spec, extra=extra or {})


def _treated_on_support(pt: np.ndarray, pc: np.ndarray, common: bool, method: str) -> np.ndarray:
    """Mask of treated scores inside the controls' range (all True without ``common``)."""
    on = common_support(np.r_[pt, pc], np.r_[np.ones(pt.size, int), np.zeros(pc.size, int)])[:pt.size] \
        if common else np.ones(pt.size, bool)
    if not on.any():
        raise PSMError(f"{method}: no treated row is on the common support ({pt.size} treated "
                       f"rows, control scores in [{pc.min():.4g}, {pc.max():.4g}]).")
    return on


def nn_match(score: PropensityScore, *, outcome: str | None = None, k: int = 5,
             caliper: float | None = None, ties: Literal["keep", "random", "first"] = "keep",
             seed: int = 0, common: bool = True, var_matches: int = 2, replace: bool = True,
             order: Literal["largest", "smallest", "data", "random"] = "largest",
             conditional_variance: Literal["abadie_imbens", "sample"] = "abadie_imbens",
             cluster: str | None = None) -> Matching:
    r"""1:k nearest-neighbour matching, with replacement (``psmatch2, neighbor(k)``, the default)
    or greedy without (``replace=False``, :func:`match_weights_nn_greedy`, in ``order``).

    .. math::

        \widehat{ATT} = \frac{1}{N_1}\sum_{i: D_i=1, i\in S}
        \Big(Y_i - \frac{1}{|M_i|}\sum_{j\in M_i} Y_j\Big)

    S.e.: Abadie & Imbens (2006) (:func:`abadie_imbens_se`), treating the
    score as known. The bootstrap is not valid for nearest-neighbour
    matching (Abadie & Imbens 2008); :func:`bootstrap_att` offers it for
    comparison only.

    Parameters
    ----------
    score : PropensityScore
    outcome : str, optional
        Default: the score's outcome.
    k, caliper, ties, seed
        See :func:`match_weights_nn` (``ties`` applies with replacement only).
    common : bool
        Drop treated rows outside the controls' score range first.
    var_matches : int
        Same-group neighbours :math:`J` for the conditional variances of the s.e.
    replace, order
        Without replacement, the greedy order of the treated rows.
    conditional_variance : {"abadie_imbens", "sample"}
        How :func:`abadie_imbens_se` estimates :math:`\sigma^2(X_j)`.
    cluster : str, optional
        A column of ``score.frame`` whose rows are not independent (the unit of a panel): the
        s.e. is then :func:`clustered_se` by it, and the Abadie-Imbens s.e. is kept in
        ``extra["se_unclustered"]``.
    """
    outcome = outcome or score.outcome
    tri, cti, pt, pc, yt, yc = _split(score, outcome)
    on = _treated_on_support(pt, pc, common, "nn matching")
    W = np.zeros((pt.size, pc.size))
    if replace:
        W[on] = match_weights_nn(pt[on], pc, k=k, caliper=caliper, ties=ties, seed=seed)
    else:
        W[on] = match_weights_nn_greedy(pt[on], pc, k=k, caliper=caliper, order=order, seed=seed)
    on = on & (W.sum(axis=1) > 0)
    if not on.any():
        raise PSMError(f"nn matching: no treated row has a control within the caliper {caliper}.")
    se = abadie_imbens_se(W[on], yt[on], yc, pt[on], pc, var_matches=var_matches,
                          conditional_variance=conditional_variance)
    spec = dict(method="nn", k=k, caliper=caliper, ties=ties, seed=seed, common=common,
                var_matches=var_matches, outcome=outcome, replace=replace,
                order=None if replace else order, conditional_variance=conditional_variance,
                cluster=cluster)
    m = _finish("nn", W, on, tri, cti, yt, yc, score, outcome, spec, se,
                "Abadie-Imbens (2006), score treated as known")
    if cluster is None:
        return m
    import dataclasses

    n_clusters = int(score.frame[cluster].nunique()) if cluster in score.frame.columns else 0
    return dataclasses.replace(m, se=clustered_se(m, cluster=cluster),
                               se_kind=f"clustered by {cluster} ({n_clusters} clusters), score "
                                       "treated as known",
                               extra={**m.extra, "se_unclustered": se})


def kernel_match(score: PropensityScore, *, outcome: str | None = None, bandwidth: float = 0.06,
                 common: bool = True, bootstrap_reps: int = 0, seed: int = 0,
                 reestimate_score: bool = False, progress: bool | str = "auto") -> Matching:
    r"""Epanechnikov kernel matching (``psmatch2, kernel kerneltype(epan) bwidth(0.06)``).

    .. math::

        \widehat{ATT} = \frac{1}{N_1}\sum_{i: D_i=1, i\in S}
        \Big(Y_i - \sum_j w_{ij} Y_j\Big),\quad
        w_{ij} = \frac{K((p_j-p_i)/h)}{\sum_l K((p_l-p_i)/h)}

    Treated rows outside the controls' score range (``common``) or with no
    control within ``bandwidth`` are off support and counted. S.e.: the city
    bootstrap of :func:`bootstrap_att` when ``bootstrap_reps > 0`` (no
    analytic s.e. is computed; ``se`` is NaN otherwise).
    """
    outcome = outcome or score.outcome
    tri, cti, pt, pc, yt, yc = _split(score, outcome)
    on = _treated_on_support(pt, pc, common, "kernel matching")
    W = np.zeros((pt.size, pc.size))
    W[on] = match_weights_kernel(pt[on], pc, bandwidth=bandwidth)
    n_no_control = int((on & (W.sum(axis=1) == 0)).sum())
    on = on & (W.sum(axis=1) > 0)
    spec = dict(method="kernel", kernel="epanechnikov", bandwidth=bandwidth, common=common,
                outcome=outcome, bootstrap_reps=bootstrap_reps, seed=seed,
                reestimate_score=reestimate_score)
    extra: dict[str, Any] = {"n_no_control_in_bandwidth": n_no_control}
    se, se_kind = float("nan"), "none (bootstrap_reps = 0)"
    if bootstrap_reps:
        boot = bootstrap_att(score, method="kernel", outcome=outcome, bandwidth=bandwidth,
                             reps=bootstrap_reps, seed=seed, reestimate_score=reestimate_score,
                             common=common, progress=progress)
        extra["bootstrap"] = boot
        se = boot.se
        se_kind = boot.describe()
    return _finish("kernel", W, on, tri, cti, yt, yc, score, outcome, spec, se, se_kind, extra)


# ======================================================== Abadie-Imbens s.e.
def _same_group_variance(p: np.ndarray, y: np.ndarray, J: int,
                         kind: Literal["abadie_imbens", "sample"] = "abadie_imbens") -> np.ndarray:
    r"""Conditional variances from the J nearest other units of the same group on the score.

    ``"abadie_imbens"``: :math:`\hat\sigma^2_i = \frac{J}{J+1}(Y_i - \bar Y_{J(i)})^2`
    (Abadie & Imbens 2006, eq. 14; Stata ``teffects``). ``"sample"``: the sample variance
    (divisor :math:`n-1`) of :math:`Y_i` and its neighbours, all units tied at the J-th distance
    included (R ``Matching``'s ``Var.calc``)."""
    n = p.size
    if n < 2:
        return np.zeros(n)
    J = min(J, n - 1)
    if kind == "abadie_imbens":
        D = np.abs(p[:, None] - p[None, :])
        np.fill_diagonal(D, np.inf)
        nb = np.argpartition(D, J - 1, axis=1)[:, :J]
        ybar = y[nb].mean(axis=1)
        return J / (J + 1) * (y - ybar) ** 2
    if kind != "sample":
        raise PSMError(f"conditional_variance must be 'abadie_imbens' or 'sample', got {kind!r}")
    M = _nearest_others(p, J)
    M[np.arange(n), np.arange(n)] = 1.0   # the unit itself
    cnt = M.sum(axis=1)
    mean = (M @ y) / cnt
    return ((M @ (y * y)) - cnt * mean**2) / (cnt - 1)


def abadie_imbens_se(W, y_treated, y_control, p_treated, p_control, *, var_matches: int = 2,
                     conditional_variance: Literal["abadie_imbens", "sample"] = "abadie_imbens") -> float:
    r"""Abadie-Imbens (2006) s.e. of the matching ATT (population ATT, with replacement).

    .. math::

        \hat V = \frac{1}{N_1^2}\Big[\sum_{i:D_i=1}\big(Y_i - \hat Y_i(0) - \widehat{ATT}\big)^2
        + \sum_{j:D_j=0}\big(K_j^2 - K_j^{(2)}\big)\,\hat\sigma^2_j\Big],

    :math:`K_j = \sum_i w_{ij}` (times control :math:`j` is used, weighted),
    :math:`K_j^{(2)} = \sum_i w_{ij}^2`; for 1:M matching without ties this is
    Abadie, Drukker, Herr & Imbens's (2004) :math:`K_M(j)(K_M(j)-1)/M^2`.
    :math:`\hat\sigma^2_j` from :func:`_same_group_variance` with
    ``var_matches`` neighbours (Stata ``teffects``' default 2), by ``conditional_variance``
    (``"sample"`` reproduces R ``Matching``'s ``se`` exactly, ``tests/goldens``). The score is
    treated as known (Abadie & Imbens 2016 give the correction for an
    estimated score).

    ``W`` has only the on-support treated rows.
    """
    W = np.asarray(W, float)
    yt = np.asarray(y_treated, float)
    yc = np.asarray(y_control, float)
    n1 = yt.size
    tau_i = yt - W @ yc
    att = tau_i.mean()
    Kj = W.sum(axis=0)
    K2 = (W ** 2).sum(axis=0)
    used = Kj > 0
    s2 = np.zeros(yc.size)
    s2[used] = _same_group_variance(np.asarray(p_control, float), yc, var_matches,
                                    conditional_variance)[used]
    v = ((tau_i - att) ** 2).sum() + ((Kj ** 2 - K2) * s2).sum()
    return float(np.sqrt(v) / n1)


def _nearest_others(p: np.ndarray, J: int) -> np.ndarray:
    """``(n, n)`` 0/1 matrix: the J nearest *other* units of each unit on the score, all units tied
    at the J-th distance included."""
    D = np.abs(p[:, None] - p[None, :])
    np.fill_diagonal(D, np.inf)
    J = min(J, p.size - 1)
    dJ = np.partition(D, J - 1, axis=1)[:, J - 1:J]
    return (D <= dJ + _TIE_TOL).astype(float)


def _local_covariance(M: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row i: the sample covariance (divisor n - 1) of the columns of ``X`` with ``y`` over the units
    marked in row i of the 0/1 matrix ``M``."""
    cnt = M.sum(axis=1)[:, None]
    mx, my = (M @ X) / cnt, (M @ y)[:, None] / cnt
    return ((M @ (X * y[:, None])) - cnt * mx * my) / (cnt - 1)


def abadie_imbens_2016_se(match: Matching, *, cov_matches: int = 2) -> float:
    r"""Abadie & Imbens (2016) s.e. of the nearest-neighbour ATT, adjusted for a score estimated by
    probit or logit maximum likelihood (the default of Stata ``teffects psmatch``).

    .. math::

        \hat V_{adj} = \hat V_{AI} - \hat c_t'\hat V_\theta\hat c_t
        + \widehat{\partial\tau_t/\partial\theta}'\hat V_\theta\,\widehat{\partial\tau_t/\partial\theta},

    :math:`\hat V_{AI}` the Abadie-Imbens (2006) variance (:func:`abadie_imbens_se`, the match's
    conditional-variance rule), :math:`\hat V_\theta = (\sum_i f_i^2 X_iX_i'/(p_i(1-p_i)))^{-1}` the
    inverse expected information of the score model (:math:`f = F'` at :math:`X_i'\hat\theta`,
    :math:`X_i` with the constant), and, summing over the on-support treated rows and the controls,

    .. math::

        \hat c_t = \frac{1}{N_1}\sum_i f_i\Big[X_i(\hat\mu_1(p_i) - \hat\mu_0(p_i) - \widehat{ATT})
        + \hat C_1(p_i) + \frac{p_i}{1-p_i}\hat C_0(p_i)\Big], \quad
        \widehat{\partial\tau_t/\partial\theta} = \frac{1}{N_1}\sum_i f_i\Big[X_i(\hat\mu_1 - \hat\mu_0
        - \widehat{ATT}) + \hat C_1(p_i) - \hat C_0(p_i)\Big].

    :math:`\hat\mu_w(p_i)`: the mean outcome of the k nearest group-w rows on the score, the row
    itself left out (its matches for a treated row's :math:`\hat\mu_0`); :math:`\hat C_w(p_i)`: the
    sample covariance of :math:`(X, Y)` over the ``cov_matches`` group-w rows closest to
    :math:`p_i` (the row itself and its nearest neighbours when it is in group w), an estimate of
    :math:`\mathrm{Cov}(X, \mu(w, X) \mid p(X))`. The same pieces are in ``psmatch2.ado``
    4.0.14's ``ai()`` correction. The rows are treated as independent, and the adjustment can
    make the variance negative in small samples (then NaN). Checked against a separate
    implementation and by coverage in ``tests/test_psm.py``.
    """
    if match.method != "nn" or not match.spec.get("replace", True):
        raise PSMError("abadie_imbens_2016_se: nearest-neighbour matching with replacement only")
    s = match.score
    if s.result is None or not s.covariates:
        raise PSMError("abadie_imbens_2016_se needs a score fitted by propensity_score (its model "
                       "and covariates)")
    f = s.frame
    t = s.treat
    k, ties = int(match.spec["k"]), match.spec.get("ties", "keep")
    X_all = np.column_stack([np.ones(len(f)), f[list(s.covariates)].to_numpy(float)])
    p_all, idx = f["_score"].to_numpy(), f["_index"].to_numpy()
    dens_all = stats.norm.pdf(idx) if s.kind == "probit" else p_all * (1 - p_all)
    V = np.linalg.inv((X_all * (dens_all**2 / (p_all * (1 - p_all)))[:, None]).T @ X_all)
    y_all = f[match.outcome].to_numpy(float)
    on = match.on_support
    rows_t = np.flatnonzero(t == 1)[on]
    rows_c = np.flatnonzero(t == 0)
    pt, pc, yt, yc = p_all[rows_t], p_all[rows_c], y_all[rows_t], y_all[rows_c]
    Xt, Xc = X_all[rows_t], X_all[rows_c]
    W = match.weights[on]
    att = float(np.mean(yt - W @ yc))
    v_ai = abadie_imbens_se(W, yt, yc, pt, pc, var_matches=int(match.spec.get("var_matches", 2)),
                            conditional_variance=match.spec.get("conditional_variance", "abadie_imbens"))**2
    # local means, leaving the row itself out
    Mtt, Mcc = _nearest_others(pt, k), _nearest_others(pc, k)
    mu1_t, mu0_t = (Mtt @ yt) / Mtt.sum(axis=1), W @ yc
    Wct = match_weights_nn(pc, pt, k=k, ties=ties, seed=int(match.spec.get("seed", 0)))
    mu1_c, mu0_c = Wct @ yt, (Mcc @ yc) / Mcc.sum(axis=1)
    # local covariances: own group = the row and its cov_matches - 1 nearest; other group = the
    # cov_matches nearest
    L = int(cov_matches)
    if L < 2:
        raise PSMError(f"cov_matches must be at least 2, got {cov_matches!r}")
    own_t = _nearest_others(pt, L - 1) + np.eye(pt.size)
    own_c = _nearest_others(pc, L - 1) + np.eye(pc.size)
    C1_t, C0_c = _local_covariance(own_t, Xt, yt), _local_covariance(own_c, Xc, yc)
    C0_t = _local_covariance(match_weights_nn(pt, pc, k=L, ties="keep") > 0, Xc, yc)
    C1_c = _local_covariance(match_weights_nn(pc, pt, k=L, ties="keep") > 0, Xt, yt)
    n1 = pt.size
    parts = []
    for X, dens, p, a, C1, C0 in ((Xt, dens_all[rows_t], pt, mu1_t - mu0_t - att, C1_t, C0_t),
                                  (Xc, dens_all[rows_c], pc, mu1_c - mu0_c - att, C1_c, C0_c)):
        base = X * (dens * a)[:, None] + dens[:, None] * C1
        parts.append((base + (dens * p / (1 - p))[:, None] * C0, base - dens[:, None] * C0))
    c = (parts[0][0].sum(axis=0) + parts[1][0].sum(axis=0)) / n1
    d = (parts[0][1].sum(axis=0) + parts[1][1].sum(axis=0)) / n1
    v = v_ai - c @ V @ c + d @ V @ d
    return float(np.sqrt(v)) if v > 0 else float("nan")


def psmatch2_se(match: Matching) -> float:
    r"""``psmatch2``'s approximate s.e. of the ATT (its default for kernel and nearest-neighbour
    matching without ``ai()``):

    .. math:: \hat V = \frac{\hat\sigma_1^2}{N_1} + \frac{\sum_{j\in C} K_j^2}{N_1^2}\,\hat\sigma_0^2,

    :math:`\hat\sigma_1^2, \hat\sigma_0^2` the sample variances of the outcome over the
    on-support treated rows and over the controls, :math:`K_j = \sum_i w_{ij}` (``_weight``).
    It assumes independent rows, weights fixed, and an outcome variance that is the same within
    each group and does not depend on the score (Leuven & Sianesi's help file; their code,
    ``psmatch2.ado`` 4.0.14, ``_mktab``, computes exactly this).
    """
    _, yc = match.matched_differences()
    f = match.score.frame
    yt = f.loc[match.treated_index, match.outcome].to_numpy(float)[match.on_support]
    n1 = yt.size
    K = match.control_weights()
    v1 = yt.var(ddof=1) if n1 > 1 else 0.0
    return float(np.sqrt(v1 / n1 + yc.var(ddof=1) * (K ** 2).sum() / n1 ** 2))


def _nw_leave_cluster_out(p_eval, g_eval, p, y, g, h):
    """Epanechnikov Nadaraya-Watson mean of ``y`` at ``p_eval`` from the points of other clusters
    than each evaluation point's own (all points where no other cluster is within ``h``)."""
    K = _epanechnikov(p_eval, p, h)
    other = K * (g[None, :] != g_eval[:, None])
    s_other, s_all = other.sum(axis=1), K.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(s_other > 0, (other @ y) / s_other, (K @ y) / s_all)
    return np.where(np.isfinite(out), out, y.mean())


def clustered_se(match: Matching, *, cluster: str | None = None, bandwidth: float = 0.06) -> float:
    r"""Cluster-robust s.e. of a matching ATT (nearest-neighbour or kernel), the book's
    construction for panels whose rows are not independent.

    The matching estimator is linear in the outcomes given the matches:
    :math:`\widehat{ATT} - ATT = N_1^{-1}\big[\sum_{i\in T}(Y_i - \sum_j w_{ij}\mu_0(p_j) - ATT)
    - \sum_{j\in C} K_j\,\varepsilon_j\big]`, with :math:`\mu_0(p) = E[Y \mid p, D=0]`,
    :math:`\varepsilon_j = Y_j - \mu_0(p_j)` and :math:`K_j = \sum_i w_{ij}` (an identity, up to
    :math:`\mu_0` being estimated). Each row's term is summed within its cluster and

    .. math::

        \hat V = \frac{G}{G-1}\,\frac{1}{N_1^2}\sum_{g=1}^{G}\Big(\sum_{i\in T\cap g} \hat u_i
        - \sum_{j \in C\cap g} K_j\hat\varepsilon_j\Big)^2,

    the Abadie-Imbens (2006) decomposition with the treated and control terms of one cluster
    added before squaring (the weights treated as fixed, as theirs). :math:`\hat\mu_0` is an
    Epanechnikov kernel regression of the control outcomes on the score with ``bandwidth``,
    leaving out the evaluated control's own cluster, so that a cluster's common shock stays in
    its residuals. With one row per cluster and no common shocks it estimates the same variance
    as :func:`abadie_imbens_se`. ``cluster`` defaults to the score's unit column. Unlike the plain
    bootstrap, valid for nearest-neighbour matching (it does not resample the matches).
    """
    S, n1 = _cluster_sums(match, cluster, bandwidth)
    G = S.size
    return float(np.sqrt(G / (G - 1) * (S**2).sum()) / n1)


def clustered_variance_shares(match: Matching, *, cluster: str | None = None,
                              bandwidth: float = 0.06) -> pd.Series:
    r"""Each cluster's share of :func:`clustered_se`'s variance, :math:`S_g^2/\sum_h S_h^2`, largest
    first (index: the cluster labels). A share near 1 means one cluster drives the estimate's
    uncertainty, and neither this s.e. nor a cluster bootstrap can then be trusted."""
    S, _ = _cluster_sums(match, cluster, bandwidth)
    share = pd.Series(S**2 / (S**2).sum(), index=S.index)
    return share.sort_values(ascending=False)


def _cluster_sums(match: Matching, cluster: str | None, bandwidth: float) -> tuple[pd.Series, int]:
    """The per-cluster sums :math:`S_g` of :func:`clustered_se` and :math:`N_1`."""
    s = match.score
    cluster = cluster or s.idname
    if cluster is None:
        raise PSMError("clustered_se: the score has no unit column; pass cluster=")
    f = s.frame
    if cluster not in f.columns:
        raise PSMError(f"clustered_se: cluster column {cluster!r} is not in the score's frame")
    on = match.on_support
    W = match.weights[on]
    d, yc = match.matched_differences()
    fc = f.loc[match.control_index]
    pc = fc["_score"].to_numpy()
    gt, gc = f.loc[match.treated_index, cluster].to_numpy()[on], fc[cluster].to_numpy()
    mu = _nw_leave_cluster_out(pc, gc, pc, yc, gc, bandwidth)
    # Y_i - sum_j w_ij mu_j - ATT = d_i + sum_j w_ij (Y_j - mu_j) - ATT
    terms = np.r_[d + W @ (yc - mu) - d.mean(), -W.sum(axis=0) * (yc - mu)]
    labels, code = np.unique(np.r_[gt, gc], return_inverse=True)
    if labels.size < 2:
        raise PSMError("clustered_se needs at least two clusters")
    return pd.Series(np.bincount(code, weights=terms, minlength=labels.size), index=labels), int(d.size)


# ============================================================== bootstrap
def cluster_multiplicities(clusters, reps: int, seed: int) -> np.ndarray:
    """``(reps, G)`` counts: how often each cluster is drawn when ``G`` clusters are drawn
    with replacement, ``numpy.random.default_rng(seed)``; clusters in sorted-label order."""
    labels = np.unique(np.asarray(clusters))
    G = labels.size
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, G, size=(reps, G))
    offs = (np.arange(reps)[:, None] * G + draws).ravel()
    return np.bincount(offs, minlength=reps * G).reshape(reps, G).astype(float)


def batched_binary_mle(X, y, w, *, kind: str = "probit", beta0=None, tol: float = 1e-10,
                       maxiter: int = 50) -> np.ndarray:
    r"""Weighted probit/logit MLE for many weight vectors at once (Newton-Raphson).

    Maximises :math:`\sum_i w_{bi}\,\ell_i(\beta_b)` for each row ``b`` of
    ``w`` (``(B, n)``, e.g. bootstrap multiplicities), all replications
    iterated together: gradients are one ``(B, n) @ (n, k)`` product and the
    Hessians one batched ``(B, k, n) @ (n, k)`` product. Probit uses the exact
    Hessian :math:`-\sum w\,\lambda(\lambda + x'\beta)\,xx'` with
    :math:`\lambda = q\,\phi(q x'\beta)/\Phi(q x'\beta)`, :math:`q = 2y-1`
    (computed through ``log_ndtr`` so that tails do not overflow).

    Returns ``(B, k)`` coefficients (NaN rows where the Newton step failed).
    """
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    w = np.atleast_2d(np.asarray(w, float))
    B, n = w.shape
    k = X.shape[1]
    beta = np.zeros((B, k)) if beta0 is None else np.broadcast_to(np.asarray(beta0, float), (B, k)).copy()
    q = 2 * y - 1
    XX = (X[:, :, None] * X[:, None, :]).reshape(n, k * k)  # row outer products, once
    active = np.ones(B, bool)
    for _ in range(maxiter):
        xb = beta[active] @ X.T                              # (b, n)
        wa = w[active]
        if kind == "probit":
            z = q * xb
            lam = q * np.exp(-0.5 * z * z - 0.5 * np.log(2 * np.pi) - special.log_ndtr(z))
            g = (wa * lam) @ X
            h = wa * lam * (lam + xb)
        else:
            pr = special.expit(xb)
            g = (wa * (y - pr)) @ X
            h = wa * pr * (1 - pr)
        H = (h @ XX).reshape(-1, k, k)                       # all Hessians in one GEMM
        try:
            step = np.linalg.solve(H, g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(Hb, gb, rcond=None)[0] for Hb, gb in zip(H, g)])
        beta[active] += step
        done = np.abs(step).max(axis=1) < tol * (1 + np.abs(beta[active]).max(axis=1))
        idx = np.flatnonzero(active)
        active[idx[done]] = False
        if not active.any():
            break
    beta[active] = np.nan  # did not converge
    return beta


def kernel_att_sorted(pt, yt, mt, pc, yc, mc, *, bandwidth: float = 0.06, common: bool = True):
    r"""Kernel-matching ATT for many replications at once, in :math:`O(B\,n\log n)`.

    Because the Epanechnikov kernel is a quadratic in :math:`p_j` on
    :math:`|p_j-p_i|<h`, each treated row's kernel sums are prefix-sum
    differences over the controls sorted by score:

    .. math::

        \sum_j m_j K_{ij} Y_j = \tfrac34\Big[S^{Y}_0 - \big(S^Y_2 - 2p_iS^Y_1 +
        p_i^2S^Y_0\big)/h^2\Big],\qquad S^Y_r = \sum_{|p_j-p_i|<h} m_j Y_j p_j^r,

    and likewise without :math:`Y` for the denominator. No ``(n_T, n_C)``
    kernel matrix is formed.

    Parameters
    ----------
    pt, yt, mt : arrays ``(B, n_T)`` or ``(n_T,)``
        Treated scores, outcomes, multiplicities (0 = not drawn).
    pc, yc, mc : arrays ``(B, n_C)`` or ``(n_C,)``
        The same for controls.

    Returns
    -------
    att : ndarray ``(B,)``
        NaN where no drawn treated row has a drawn control within ``bandwidth``.
    n_on : ndarray ``(B,)``
        Treated rows (with multiplicity) on support per replication.
    """
    mt = np.atleast_2d(np.asarray(mt, float))
    mc = np.atleast_2d(np.asarray(mc, float))
    B = max(mt.shape[0], mc.shape[0])
    nt, nc = mt.shape[1], mc.shape[1]
    pt, yt = (np.broadcast_to(np.atleast_2d(np.asarray(a, float)), (B, nt)) for a in (pt, yt))
    pc, yc = (np.broadcast_to(np.atleast_2d(np.asarray(a, float)), (B, nc)) for a in (pc, yc))
    mt, mc = np.broadcast_to(mt, (B, nt)), np.broadcast_to(mc, (B, nc))
    # centre the scores per replication so the quadratic's cancellation stays small
    centre = np.median(pc, axis=1, keepdims=True)
    order = np.argsort(pc, axis=1, kind="stable")
    ps = np.take_along_axis(pc, order, axis=1) - centre
    ms = np.take_along_axis(mc, order, axis=1)
    ys = np.take_along_axis(yc, order, axis=1)
    zeros = np.zeros((B, 1))
    pref = {}
    for r in range(3):
        base = ms * ps ** r
        pref[("m", r)] = np.concatenate([zeros, np.cumsum(base, axis=1)], axis=1)
        pref[("y", r)] = np.concatenate([zeros, np.cumsum(base * ys, axis=1)], axis=1)
    q = pt - centre
    # one global searchsorted: shift replication b by 4b (scores lie in [-1, 1] after centring)
    shift = 4.0 * np.arange(B)[:, None]
    flat = (ps + shift).ravel()
    lo = np.searchsorted(flat, (q - bandwidth + shift).ravel(), side="right").reshape(B, nt)
    hi = np.searchsorted(flat, (q + bandwidth + shift).ravel(), side="left").reshape(B, nt)
    lo -= (np.arange(B) * nc)[:, None]
    hi -= (np.arange(B) * nc)[:, None]
    lo = np.clip(lo, 0, nc)
    hi = np.clip(hi, 0, nc)

    def window(key):
        P = pref[key]
        return np.take_along_axis(P, hi, axis=1) - np.take_along_axis(P, lo, axis=1)

    h2 = bandwidth ** 2
    den = 0.75 * (window(("m", 0)) - (window(("m", 2)) - 2 * q * window(("m", 1))
                                      + q * q * window(("m", 0))) / h2)
    num = 0.75 * (window(("y", 0)) - (window(("y", 2)) - 2 * q * window(("y", 1))
                                      + q * q * window(("y", 0))) / h2)
    on = (mt > 0) & (den > 1e-9) & (hi > lo)
    if common:
        drawn = mc > 0
        pmin = np.where(drawn, pc, np.inf).min(axis=1, keepdims=True)
        pmax = np.where(drawn, pc, -np.inf).max(axis=1, keepdims=True)
        on &= (pt >= pmin) & (pt <= pmax)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(on, yt - num / np.where(on, den, 1.0), 0.0)
        n_on = (mt * on).sum(axis=1)
        att = (mt * gap).sum(axis=1) / n_on
    att[n_on == 0] = np.nan
    return att, n_on


def kernel_att_city(pt, yt, ct, pc, yc, cc, M, *, bandwidth: float = 0.06,
                    common: bool = True) -> np.ndarray:
    r"""Kernel-matching ATT of many city resamples with the score held fixed, exactly.

    With fixed scores the kernel :math:`K_{ij}` does not change across
    replications, and a city resample only reweights rows by their city's
    multiplicity :math:`m_{bg}`. Both kernel sums are then linear in the
    multiplicities and aggregate by city:

    .. math::

        \sum_j m_{b,g(j)} K_{ij} Y_j = \sum_g m_{bg} A_{gi},\quad
        A_{gi} = \sum_{j \in g} K_{ij} Y_j,

    so all ``B`` replications are one ``(B, G) @ (G, 2 n_T)`` product. Only the
    pairs within the bandwidth enter :math:`A` and the kernel sums :math:`D`
    (a treated row's controls are a contiguous run of the score-sorted
    controls; 4 % of the pairs on the book's panel), so no dense
    ``(n_T, n_C)`` kernel is formed. The common support of each replication
    (the drawn controls' score range) comes from per-city minima and maxima.

    Parameters
    ----------
    pt, yt, ct : arrays ``(n_T,)``
        Treated scores, outcomes and cluster codes in ``[0, G)``.
    pc, yc, cc : arrays ``(n_C,)``
        The same for controls.
    M : array ``(B, G)``
        Multiplicity of each cluster in each replication.

    Returns
    -------
    ndarray ``(B,)``
        ATT per replication (NaN where no drawn treated row has a drawn control
        within the bandwidth).
    """
    pt, yt, pc, yc = (np.asarray(a, float) for a in (pt, yt, pc, yc))
    ct, cc = np.asarray(ct, int), np.asarray(cc, int)
    M = np.atleast_2d(np.asarray(M, float))
    G = M.shape[1]
    bad = {side: np.flatnonzero(~np.isfinite(a))[:5].tolist() for side, a in (("treated", pt), ("control", pc))}
    if bad["treated"] or bad["control"]:
        # a NaN score would sort past every control and drop out of the sums without a word
        raise PSMError("kernel_att_city: the propensity scores must be finite; not finite at "
                       + "; ".join(f"{side} positions {pos}" for side, pos in bad.items() if pos))
    n_t = pt.size
    # Each treated row's controls within the bandwidth: a run of the score-sorted controls.
    # The run is widened by a relative 1e-9, defensively: so that rounding in pt -/+ bandwidth
    # cannot drop a pair whose kernel is positive; the pairs it adds have a kernel of 0.
    order = np.argsort(pc, kind="stable")
    ps = pc[order]
    reach = bandwidth * (1 + 1e-9)
    lo = np.searchsorted(ps, pt - reach, side="left")
    runs = np.searchsorted(ps, pt + reach, side="right") - lo
    rows = np.repeat(np.arange(n_t), runs)
    cols = np.arange(rows.size) - np.repeat(np.cumsum(runs) - runs - lo, runs)
    u = (ps[cols] - pt[rows]) / bandwidth
    kern = np.maximum(0.75 * (1 - u * u), 0.0)                   # Epanechnikov, the pairs in reach
    cell = cc[order][cols] * n_t + rows                          # (city, treated row)
    AD = np.empty((G, 2 * n_t))
    AD[:, :n_t] = np.bincount(cell, weights=kern * yc[order][cols], minlength=G * n_t).reshape(G, n_t)
    AD[:, n_t:] = np.bincount(cell, weights=kern, minlength=G * n_t).reshape(G, n_t)
    ND = M @ AD
    num, den = ND[:, :n_t], ND[:, n_t:]
    mt = M[:, ct]                                                # (B, n_T)
    on = (mt > 0) & (den > 1e-12)
    if common:
        cmin = np.full(G, np.inf)
        cmax = np.full(G, -np.inf)
        np.minimum.at(cmin, cc, pc)
        np.maximum.at(cmax, cc, pc)
        drawn = M > 0
        pmin = np.where(drawn, cmin[None, :], np.inf).min(axis=1, keepdims=True)
        pmax = np.where(drawn, cmax[None, :], -np.inf).max(axis=1, keepdims=True)
        on &= (pt[None, :] >= pmin) & (pt[None, :] <= pmax)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(on, yt[None, :] - num / np.where(on, den, 1.0), 0.0)
        n_on = (mt * on).sum(axis=1)
        att = (mt * gap).sum(axis=1) / n_on
    att[n_on == 0] = np.nan
    return att


def nn_att_city(pt, yt, ct, pc, yc, cc, M, *, k: int = 5,
                ties: Literal["keep", "random", "first"] = "keep", seed: int = 0, common: bool = True,
                chunk: int = 50) -> np.ndarray:
    r"""1:k nearest-neighbour ATT of many city resamples, score held fixed.

    A resample only changes how many copies :math:`m_j` of each control (and
    of each treated row) there are. With the controls sorted once by distance
    to each treated row, treated row :math:`i` is matched, in replication
    :math:`b`, to the nearest copies until :math:`k` are reached:
    ``ties="keep"`` takes every copy at a distance up to the :math:`k`-th copy's
    (so all copies of a drawn control count, each a separate match), and
    ``"random"`` takes exactly :math:`k` copies, distinct controls at equal
    distance ordered by one seeded random order (``"first"``: by data order). Only the nearest ``L``
    controls per treated row are scanned (64, doubled until it suffices).

    Parameters are those of :func:`kernel_att_city` plus ``k``, ``ties``,
    ``seed``. ``pt`` should hold only the treated rows on the full-sample
    support (a resample cannot widen the support).
    """
    pt, yt, pc, yc = (np.asarray(a, float) for a in (pt, yt, pc, yc))
    ct, cc = np.asarray(ct, int), np.asarray(cc, int)
    M = np.atleast_2d(np.asarray(M, float))
    B, G = M.shape
    nc = pc.size
    D = np.abs(pt[:, None] - pc[None, :])
    if ties in ("random", "first"):
        rank = np.empty(nc)
        order = np.arange(nc) if ties == "first" else np.random.default_rng(seed).permutation(nc)
        rank[order] = np.arange(nc)
        order = np.lexsort((np.broadcast_to(rank, D.shape), D), axis=1)
    else:
        order = np.argsort(D, axis=1, kind="stable")
    cmin = np.full(G, np.inf)
    cmax = np.full(G, -np.inf)
    np.minimum.at(cmin, cc, pc)
    np.maximum.at(cmax, cc, pc)
    out = np.full(B, np.nan)
    L = min(nc, 64)
    for s in range(0, B, chunk):
        Mb = M[s:s + chunk]
        while True:
            o = order[:, :L]
            Dord = np.take_along_axis(D, o, axis=1)            # (n_T, L)
            ms = Mb[:, cc[o]]                                  # (b, n_T, L) copies drawn
            cum = np.cumsum(ms, axis=2)
            enough = cum[:, :, -1] >= k
            pos = np.argmax(cum >= k, axis=2)                  # where the k-th copy sits
            dk = Dord[np.arange(pt.size)[None, :], pos]        # (b, n_T)
            last = Dord[:, -1][None, :]
            # scanned far enough unless some row ran out of copies, or a tie may continue past L
            ok = enough & ((ties != "keep") | (last > dk + _TIE_TOL))
            if L == nc or ok.all():
                break
            L = min(nc, 2 * L)
        if ties == "keep":
            w = ms * (Dord[None] <= dk[..., None] + _TIE_TOL)
        else:
            w = np.clip(k - (cum - ms), 0, None)
            w = np.minimum(w, ms)
        ws = w.sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            cf = (w * yc[o][None]).sum(axis=2) / ws
        mt = Mb[:, ct]
        on = (mt > 0) & enough & (ws > 0)
        if common:
            drawn = Mb > 0
            pmin = np.where(drawn, cmin[None, :], np.inf).min(axis=1, keepdims=True)
            pmax = np.where(drawn, cmax[None, :], -np.inf).max(axis=1, keepdims=True)
            on &= (pt[None, :] >= pmin) & (pt[None, :] <= pmax)
        n_on = (mt * on).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            att = (mt * np.where(on, yt[None, :] - cf, 0.0)).sum(axis=1) / n_on
        att[n_on == 0] = np.nan
        out[s:s + chunk] = att
    return out


@dataclass(frozen=True)
class BootstrapATT:
    """Draws of a cluster bootstrap of a matching ATT.

    ``draws`` has one ATT per replication (NaN where a resample had no treated
    row on support); ``se`` is their standard deviation (ddof = 1) over the
    finite draws.
    """

    draws: np.ndarray
    method: str
    reps: int
    seed: int
    cluster: str | None
    n_clusters: int
    reestimate_score: bool
    n_failed: int

    @property
    def se(self) -> float:
        d = self.draws[np.isfinite(self.draws)]
        return float(d.std(ddof=1)) if d.size > 1 else float("nan")

    def percentile_ci(self, level: float = 0.95) -> tuple[float, float]:
        d = self.draws[np.isfinite(self.draws)]
        a = (1 - level) / 2
        return float(np.quantile(d, a)), float(np.quantile(d, 1 - a))

    def describe(self) -> str:
        unit = (f"cluster bootstrap by {self.cluster} ({self.n_clusters} clusters" if self.cluster
                else f"bootstrap of rows ({self.n_clusters} rows")
        return (f"{unit}, {self.reps} reps, "
                f"seed {self.seed}, score {'re-estimated' if self.reestimate_score else 'fixed'} "
                f"in each rep)")


def bootstrap_att(score: PropensityScore, *, method: Literal["kernel", "nn"] = "kernel",
                  outcome: str | None = None, reps: int = 500, seed: int = 0,
                  cluster: str | None = None, bandwidth: float = 0.06, k: int = 5,
                  ties: Literal["keep", "random", "first"] = "keep", reestimate_score: bool = False,
                  common: bool = True, chunk: int = 100,
                  progress: bool | str = "auto", comparison_only: bool = False) -> BootstrapATT:
    r"""Cluster (city) bootstrap of a matching ATT, vectorised across replications.

    Each replication draws the ``G`` clusters with replacement
    (``numpy.random.default_rng(seed)``), gives every row its city's
    multiplicity :math:`m_c`, and recomputes:

    1. the score, when ``reestimate_score``: the weighted probit/logit
       :math:`\max_\beta \sum_i m_{c(i)}\ell_i(\beta)` for all replications at
       once (:func:`batched_binary_mle`, started at the full-sample
       estimate), as Stata's ``bootstrap: psmatch2 ...`` does. By default
       (``False``) the score is held at its full-sample estimate, as the
       Abadie-Imbens s.e. also treats it as known;
    2. the common support on the drawn controls;
    3. the ATT. Kernel, fixed score: :func:`kernel_att_city` (one matrix
       product for all replications); kernel, re-estimated score:
       :func:`kernel_att_sorted` (prefix sums over the sorted scores, no
       kernel matrix); nn, fixed score: :func:`nn_att_city` (copies counted
       along each treated row's pre-sorted neighbours); nn, re-estimated
       score: one replication at a time on the expanded resample.

    The nearest-neighbour bootstrap is **not** a valid s.e. (Abadie & Imbens
    2008); it is offered only to compare with :func:`abadie_imbens_se`, and warns
    (:class:`InvalidBootstrapWarning`) unless ``comparison_only=True``.

    On a cross-section (a score fitted without ``idname``) and without
    ``cluster`` the rows are resampled.
    """
    if method not in ("kernel", "nn"):
        raise PSMError(f"method must be 'kernel' or 'nn', got {method!r}")
    if method == "nn" and not comparison_only:
        _warn_nn_bootstrap("bootstrap_att(method='nn')")
    if int(reps) < 2:
        raise PSMError(f"reps must be at least 2, got {reps!r}")
    outcome = outcome or score.outcome
    cluster = cluster or score.idname
    f = score.frame
    t = score.treat
    y = f[outcome].to_numpy(float)
    if cluster is None:   # a cross-section: every row is its own resampling unit
        codes, labels = np.arange(len(f)), np.arange(len(f))
    else:
        codes, labels = pd.factorize(f[cluster], sort=True)
    G = len(labels)
    M = cluster_multiplicities(labels, reps, seed)           # (reps, G)
    X = np.column_stack([np.ones(len(f)), f[list(score.covariates)].to_numpy(float)])
    beta_hat = score.result.params.to_numpy()
    link = special.ndtr if score.kind == "probit" else special.expit
    p_fix = f["_score"].to_numpy()
    draws = np.full(reps, np.nan)
    bar = _progress_bar(reps, progress, f"{method} ATT bootstrap")
    if method == "kernel" and not reestimate_score:
        # linear in the multiplicities: every replication at once (kernel_att_city)
        draws[:] = kernel_att_city(p_fix[t == 1], y[t == 1], codes[t == 1], p_fix[t == 0],
                                   y[t == 0], codes[t == 0], M, bandwidth=bandwidth, common=common)
        if bar is not None:
            bar.update(reps)
    elif method == "nn" and not reestimate_score:
        on = (common_support(p_fix, t)[t == 1] if common else np.ones(int(t.sum()), bool))
        draws[:] = nn_att_city(p_fix[t == 1][on], y[t == 1][on], codes[t == 1][on], p_fix[t == 0],
                               y[t == 0], codes[t == 0], M, k=k, ties=ties, seed=seed,
                               common=common)
        if bar is not None:
            bar.update(reps)
    for s in range(0, reps if reestimate_score else 0, chunk):
        e = min(s + chunk, reps)
        m = M[s:e][:, codes]                                  # (b, n) row multiplicities
        if reestimate_score:
            beta = batched_binary_mle(X, t, m, kind=score.kind, beta0=beta_hat)
            P = link(beta @ X.T)
        else:
            P = np.broadcast_to(f["_score"].to_numpy(), m.shape)
        if method == "kernel":
            att, _ = kernel_att_sorted(P[:, t == 1], y[t == 1], m[:, t == 1],
                                       P[:, t == 0], y[t == 0], m[:, t == 0],
                                       bandwidth=bandwidth, common=common)
            draws[s:e] = att
        elif method == "nn":
            for b in range(e - s):
                if not np.isfinite(P[b]).all():
                    continue
                reps_b = m[b].astype(int)
                rows = np.repeat(np.arange(len(f)), reps_b)
                tb, pb, yb = t[rows], P[b][rows], y[rows]
                if tb.min() == tb.max() or (tb == 0).sum() < k:
                    continue
                on = common_support(pb, tb)[tb == 1] if common else np.ones((tb == 1).sum(), bool)
                if not on.any():
                    continue
                Wb = match_weights_nn(pb[tb == 1][on], pb[tb == 0], k=k, ties=ties, seed=seed)
                draws[s + b] = np.mean(yb[tb == 1][on] - Wb @ yb[tb == 0])
        else:
            raise PSMError(f"method must be 'kernel' or 'nn', got {method!r}")
        if bar is not None:
            bar.update(e - s)
    if bar is not None:
        bar.close()
    return BootstrapATT(draws=draws, method=method, reps=reps, seed=seed, cluster=cluster,
                        n_clusters=G, reestimate_score=reestimate_score,
                        n_failed=int((~np.isfinite(draws)).sum()))


# ================================================================ balance
def _wmean_var(x, w):
    sw = w.sum()
    m = (w * x).sum() / sw
    return m, (w * (x - m) ** 2).sum() / (sw - 1) if sw > 1 else np.nan


def _wls_ttest(x, d, w):
    """t and p of the slope in the WLS regression of x on (1, d) (Stata ``regress [aw=w]``)."""
    w = w / w.mean()  # aweights are rescaled to sum to N
    keep = w > 0
    x, d, w = x[keep], d[keep], w[keep]
    Z = np.column_stack([np.ones_like(d), d])
    A = Z.T @ (w[:, None] * Z)
    beta = np.linalg.solve(A, Z.T @ (w * x))
    r = x - Z @ beta
    s2 = (w * r * r).sum() / (x.size - 2)
    se = np.sqrt(s2 * np.linalg.inv(A)[1, 1])
    tt = beta[1] / se
    return float(tt), float(2 * stats.t.sf(abs(tt), x.size - 2))


def balance_table(match: Matching, covariates: Sequence[str] | None = None) -> pd.DataFrame:
    r"""``pstest``'s balance table, one row per covariate and sample.

    For covariate :math:`x`, unmatched (all treated and control rows) and
    matched (treated on support, weight 1; controls weighted by
    :math:`K_j`, ``psmatch2``'s ``_weight``):

    .. math::

        \%\text{bias} = 100\,\frac{\bar x_T - \bar x_C}{\sqrt{(s^2_T + s^2_C)/2}},\qquad
        \%\text{reduction} = 100\Big(1 - \frac{|\%\text{bias}_{M}|}{|\%\text{bias}_{U}|}\Big),

    with the **unmatched** variances :math:`s^2_T, s^2_C` in both rows (as
    ``pstest``, after Rosenbaum & Rubin 1985). The t-test is the slope of a
    regression of :math:`x` on the treatment dummy, weighted by ``_weight`` in
    the matched sample (``regress x D [aw=_weight]``).

    Returns
    -------
    DataFrame
        Index ``(variable, sample)``; columns ``treated_mean, control_mean, t,
        p, std_bias, bias_reduction_pct``.
    """
    covariates = list(covariates or match.score.covariates)
    f = match.score.frame
    d = match.score.treat
    w = match.row_weights().to_numpy()
    rows = []
    for c in covariates:
        x = f[c].to_numpy(float)
        xt, xc = x[d == 1], x[d == 0]
        vt, vc = xt.var(ddof=1), xc.var(ddof=1)
        sd = np.sqrt((vt + vc) / 2)
        mt_u, mc_u = xt.mean(), xc.mean()
        t_u, p_u = _wls_ttest(x, d.astype(float), np.ones_like(x))
        mt_m, _ = _wmean_var(x[d == 1], w[d == 1])
        mc_m, _ = _wmean_var(x[d == 0], w[d == 0])
        t_m, p_m = _wls_ttest(x, d.astype(float), w)
        b_u = 100 * (mt_u - mc_u) / sd
        b_m = 100 * (mt_m - mc_m) / sd
        red = 100 * (1 - abs(b_m) / abs(b_u)) if b_u != 0 else np.nan
        rows.append((c, "unmatched", mt_u, mc_u, t_u, p_u, b_u, red))
        rows.append((c, "matched", mt_m, mc_m, t_m, p_m, b_m, np.nan))
    out = pd.DataFrame(rows, columns=["variable", "sample", "treated_mean", "control_mean", "t",
                                      "p", "std_bias", "bias_reduction_pct"])
    return out.set_index(["variable", "sample"])


def _matchit_var(x: np.ndarray, w: np.ndarray) -> float:
    r"""MatchIt's and cobalt's weighted variance, unbiased for frequency-like weights:
    :math:`\frac{\sum w}{(\sum w)^2 - \sum w^2}\sum w (x - \bar x_w)^2`."""
    sw = w.sum()
    m = (w * x).sum() / sw
    return float(sw / (sw**2 - (w**2).sum()) * (w * (x - m) ** 2).sum())


def balance_smd(match: Matching, covariates: Sequence[str] | None = None) -> pd.DataFrame:
    r"""Balance as MatchIt's ``summary`` and cobalt's ``bal.tab`` report it for the ATT, before and
    after matching:

    .. math::

        \text{SMD} = \frac{\bar x_T - \bar x_{C,w}}{s_T},\qquad
        \text{VR} = \frac{s^2_T}{s^2_{C,w}},

    controls weighted by :math:`K_j` when matched, variances by :func:`_matchit_var`; :math:`s_T`
    is the s.d. of the treated rows of the sample (when matched, those on the support). Rules of
    thumb: :math:`|\text{SMD}| < 0.1`, :math:`0.5 < \text{VR} < 2`. Equal to R MatchIt 4.5.1's
    ``summary(..., standardize = TRUE)`` (``tests/goldens``). ``pstest``'s %bias
    (:func:`balance_table`) divides by the mean of the two unmatched variances instead.

    Returns
    -------
    DataFrame
        Index ``(variable, sample)``; columns ``treated_mean, control_mean, smd, var_ratio``.
    """
    covariates = list(covariates or match.score.covariates)
    f = match.score.frame
    d = match.score.treat
    samples = (("unmatched", np.ones(len(f))), ("matched", match.row_weights().to_numpy()))
    rows = []
    for c in covariates:
        x = f[c].to_numpy(float)
        for name, w in samples:
            t, u = (d == 1) & (w > 0), (d == 0) & (w > 0)
            mt, mc = np.average(x[t], weights=w[t]), np.average(x[u], weights=w[u])
            vt, vc = _matchit_var(x[t], w[t]), _matchit_var(x[u], w[u])
            rows.append((c, name, mt, mc, (mt - mc) / np.sqrt(vt), vt / vc))
    out = pd.DataFrame(rows, columns=["variable", "sample", "treated_mean", "control_mean", "smd", "var_ratio"])
    return out.set_index(["variable", "sample"])


def balance_summary(match: Matching, balance: pd.DataFrame | None = None) -> pd.DataFrame:
    r"""``pstest``'s summary rows, unmatched and matched.

    * pseudo-R² and LR χ² (p) of the score model re-estimated on the sample,
      the matched one weighted by ``_weight`` (``probit D x [iw=_weight]``);
    * mean and median :math:`|\%\text{bias}|`;
    * Rubin's (2001) B, the standardised difference of the means of the
      linear index :math:`x'\hat\beta` (of the original score model), and R,
      the ratio of its treated to control variance (weighted when matched).
      Rubin's rule of thumb: B < 25 and 0.5 < R < 2.
    """
    s = match.score
    balance = balance_table(match) if balance is None else balance
    f = s.frame
    d = s.treat
    X = np.column_stack([np.ones(len(f)), f[list(s.covariates)].to_numpy(float)])
    w_m = match.row_weights().to_numpy()
    idx = f["_index"].to_numpy()
    out = {}
    for name, w in (("unmatched", np.ones(len(f))), ("matched", w_m)):
        keep = w > 0
        beta = batched_binary_mle(X[keep], d[keep], w[keep][None], kind=s.kind)[0]
        xb = X[keep] @ beta
        pr = special.ndtr(xb) if s.kind == "probit" else special.expit(xb)
        pr = np.clip(pr, 1e-300, 1 - 1e-16)
        dd, ww = d[keep], w[keep]
        llf = (ww * (dd * np.log(pr) + (1 - dd) * np.log1p(-pr))).sum()
        pbar = (ww * dd).sum() / ww.sum()
        ll0 = (ww * (dd * np.log(pbar) + (1 - dd) * np.log1p(-pbar))).sum()
        lr = 2 * (llf - ll0)
        mt, vt = _wmean_var(idx[keep & (d == 1)], w[keep & (d == 1)])
        mc, vc = _wmean_var(idx[keep & (d == 0)], w[keep & (d == 0)])
        bias = balance.xs(name, level="sample")["std_bias"].abs()
        out[name] = {"pseudo_r2": 1 - llf / ll0, "lr_chi2": lr,
                     "lr_p": float(stats.chi2.sf(lr, len(s.covariates))),
                     "mean_abs_bias": bias.mean(), "median_abs_bias": bias.median(),
                     "rubin_B": 100 * abs(mt - mc) / np.sqrt((vt + vc) / 2), "rubin_R": vt / vc}
    return pd.DataFrame(out).T.rename_axis("sample")


def implied_treated_share(balance: pd.DataFrame, descriptives: pd.DataFrame) -> pd.Series:
    r"""The treated share the printed means imply, per variable.

    A pooled mean is the share-weighted mix of the group means,
    :math:`\bar x = s\,\bar x_T + (1-s)\,\bar x_C`, so
    :math:`s = (\bar x - \bar x_C)/(\bar x_T - \bar x_C)`. Applied to Table 3's
    means and Table 5's unmatched means, it tells which rows Table 5 calls
    treated (ever-pilot cities: about 0.35 of city-years; pilot city-years:
    0.093).
    """
    u = balance[balance["sample"] == "unmatched"].set_index("variable")
    m = descriptives["mean"].reindex(u.index)
    return ((m - u["control_mean"]) / (u["treated_mean"] - u["control_mean"])).rename("implied_share")


# ================================================================ PSM-DID
def psm_did(data: pd.DataFrame, match: Matching, *, yname: str, dname: str,
            controls: Sequence[str] = (), idname: str,
            tname: str, sample: Literal["matched", "support"] = "matched",
            cluster: str | None = None) -> RegressionResult:
    r"""PSM-DID: the baseline TWFE (eq. 7) on the matched or the common-support sample.

    .. math::

        Inno_{it} = \alpha_1 CBEC_{it} + X_{it}'\gamma + \mu_i + \nu_t + \varepsilon_{it},
        \qquad \text{weighted by } \omega_{it},

    * ``sample="matched"``: rows with ``_weight`` :math:`\omega_{it} > 0`
      (treated on support, weight 1; controls used, weight :math:`K_j`),
      weighted least squares (``reghdfe ... [aw=_weight]``);
    * ``sample="support"``: every row except the off-support treated ones,
      unweighted (``reghdfe ... if _support == 1``).

    Estimated with :func:`lib.methods.panel.fe_ols` (``lib.methods.did.twfe`` takes no
    weights; with unit weights the two agree to 1e-10, see the tests), CRV1
    by ``cluster`` (default ``idname``) with the reghdfe small-sample factor,
    singletons dropped iteratively.
    """
    from lib.methods import panel
    from lib.methods.did import estimation_frame

    if sample not in ("matched", "support"):
        raise PSMError(f"sample must be 'matched' or 'support', got {sample!r}")
    cluster = cluster or idname
    controls = list(controls)
    w_all = match.row_weights()
    frame = match.score.frame
    missing = frame.index.difference(data.index)
    if len(missing):
        raise PSMError(f"psm_did: {len(missing)} rows of the matched sample are not in data "
                       f"(first row labels {list(missing[:5])}); pass the frame the score was "
                       "estimated on.")
    base = data.loc[frame.index, [yname, dname, *controls, idname, tname]
                    + ([cluster] if cluster not in (idname, tname) else [])].copy()
    if sample == "matched":
        base["_w"] = w_all.to_numpy()
    else:
        off = match.treated_index[~match.on_support]
        base["_w"] = 1.0
        base.loc[off, "_w"] = 0.0
    n0 = len(base)
    base = base.loc[base["_w"] > 0]
    n_unmatched = n0 - len(base)
    needed = list(dict.fromkeys([yname, dname, *controls, idname, tname, cluster, "_w"]))
    base, more = estimation_frame(base, needed, idname=idname, tname=tname, fn="psm_did")
    regs = [dname, *controls]
    fit = panel.fe_ols(base[yname].to_numpy(float), base[regs].to_numpy(float),
                       base[idname].to_numpy(), base[tname].to_numpy(), base[cluster].to_numpy(),
                       vcov="CRV1", weights=base["_w"].to_numpy(float))
    params = pd.Series(fit.params, index=regs, name="estimate")
    cov = pd.DataFrame(fit.cov, index=regs, columns=regs)
    reasons = {("not matched" if sample == "matched" else "off support"): int(n_unmatched), **more}
    return RegressionResult(
        params=params, std_errors=pd.Series(fit.std_errors, index=regs, name="std_error"),
        cov=cov, nobs=int(fit.nobs), dof_resid=fit.dof_resid, r2=float(fit.r2_within),
        r2_kind="within", fixed_effects=(idname.removesuffix("_id"), tname), controls=bool(controls),
        vcov=f"CRV1 by {cluster} ({fit.n_clusters} clusters)",
        n_dropped=int(n0 - fit.nobs), drop_reasons=reasons,
        spec=dict(estimator="psm_did", sample=sample, method=match.method, yname=yname,
                  dname=dname, idname=idname, tname=tname, controls=tuple(controls),
                  vcov={"CRV1": cluster}),
        extra={"weights": "matching weights (_weight)" if sample == "matched" else "none",
               "rows": base.index, "entities": int(base[idname].nunique())})


# ================================================================ stricter variant
@dataclass(frozen=True)
class CohortMatch:
    """Result of :func:`cohort_match`: the ATT, its bootstrap s.e. and the matched rows.

    ``rows`` has one row per treated city-year averaged over (city, year,
    cohort, ``gap`` = treated outcome minus matched counterfactual).
    ``score`` is the stacked cross-sections' :class:`PropensityScore`.
    """

    att: float
    se: float
    rows: pd.DataFrame
    score: PropensityScore
    spec: dict
    counts: dict
    boot: np.ndarray

    def true_att(self, truth) -> float:
        if truth is None:
            return float("nan")
        eff = truth.effects.set_index(["city_id", "year"])["tau"]
        keys = pd.MultiIndex.from_frame(self.rows[["city_id", "year"]].astype("int64"))
        return float(eff.reindex(keys).fillna(0.0).mean())

    def tidy(self) -> pd.DataFrame:
        z = self.att / self.se if self.se > 0 else np.nan
        return pd.DataFrame({"estimate": [self.att], "std_error": [self.se], "z": [z],
                             "p": [2 * stats.norm.sf(abs(z))], **{k: [v] for k, v in self.counts.items()}},
                            index=pd.Index([f"ATT (cohort {self.spec['method']})"], name="term"))

    def table(self, title: str | None = None):
        """The ATT, its bootstrap s.e. and the counts as a book :class:`lib.present.tables.Table`."""
        from lib.present.tables import frame_table

        return frame_table(self.tidy(), title=title or "Cohort-matched DID")


def cohort_match(data: pd.DataFrame, *, yname: str, gname: str,
                 covariates: Sequence[str], idname: str,
                 tname: str, method: Literal["kernel", "nn"] = "kernel",
                 bandwidth: float = 0.06, k: int = 5, outcome: Literal["change", "level"] = "change",
                 kind: Literal["probit", "logit"] = "probit",
                 control_group: Literal["not_yet", "never"] = "not_yet", reps: int = 0,
                 seed: int = 0, progress: bool | str = "auto",
                 comparison_only: bool = False) -> CohortMatch:
    r"""Stricter PSM: match each adoption cohort on its pre-adoption covariates.

    For each cohort :math:`g` (cities first treated in year :math:`g`, with
    year :math:`g-1` in the data), a cross-section of one row per city: the
    cohort's cities (treated) and the cities not treated by :math:`g`
    (controls: later pilots and never-treated cities with
    ``control_group="not_yet"``, never-treated only with ``"never"``), with
    covariates measured in :math:`g-1`, before any pilot could affect them.
    One probit is fitted on the stacked cross-sections, the covariates centred
    within each cross-section (secular growth would otherwise separate the
    cohorts; cohort intercepts would nearly separate a one-city cohort);
    matching (kernel or nearest neighbour) is within cohort, on the common
    support of the cohort's controls. For each treated city :math:`i` and
    each year :math:`t \ge g`:

    .. math::

        \widehat\tau_{it} = \Delta Y_{it} - \sum_j w_{ij}\,\Delta Y_{jt},\qquad
        \Delta Y_{it} = Y_{it} - Y_{i,g-1}

    (``outcome="change"``, the matched difference-in-differences of
    Heckman, Ichimura & Todd 1997; ``"level"`` uses :math:`Y_{it}`), and the
    ATT is the mean over these treated city-years (the population of the ATT
    of a DID on ``CBEC``, restricted to the cities on support). A
    not-yet-treated control leaves the comparison in the year its own pilot
    starts (its weight is set to 0 and the row renormalised).

    S.e.: city bootstrap over the stacked cross-sections (``reps`` > 0),
    score held fixed, one replication at a time (each is small). For ``method="nn"`` that
    bootstrap is not valid (Abadie & Imbens 2008): it warns (:class:`InvalidBootstrapWarning`)
    unless ``comparison_only=True``.

    Returns
    -------
    CohortMatch
        ``rows`` lists every treated city-year averaged over, with its ``gap``.

    Raises
    ------
    PSMError
        No cohort with a pre-year; no treated city on support in any cohort.
    """
    from lib.methods.did import _check_columns

    covariates = list(covariates)
    _check_columns(data, [yname, gname, *covariates, idname, tname], "cohort_match")
    if method not in ("kernel", "nn"):
        raise PSMError(f"method must be 'kernel' or 'nn', got {method!r}")
    years = set(data[tname].unique())
    never = data[gname].isna()
    is_cohort = lambda g: (data[gname] == g).fillna(False).astype(bool)  # noqa: E731
    cohorts = sorted(int(g) for g in data.loc[~never, gname].dropna().unique() if (g - 1) in years)
    if not cohorts:
        raise PSMError(f"cohort_match: no adoption cohort in {gname!r} has its pre-year in the data")
    if control_group not in ("not_yet", "never"):
        raise PSMError(f"control_group must be 'not_yet' or 'never', got {control_group!r}")
    if method == "nn" and reps and not comparison_only:
        _warn_nn_bootstrap("cohort_match(method='nn', reps > 0)")
    adopt = data.groupby(idname)[gname].first().astype("float64")
    wide_y = data.pivot_table(index=idname, columns=tname, values=yname, aggfunc="first")
    stacks = []
    for g in cohorts:
        pool = never | is_cohort(g) | ((data[gname] > g).fillna(False).astype(bool)
                                       if control_group == "not_yet" else False)
        pre = data.loc[(data[tname] == g - 1) & pool,
                       [idname, gname, *covariates]].copy()
        pre["_treat"] = (pre[gname] == g).fillna(False).astype(int)
        pre["_cohort"] = g
        pre[tname] = g - 1
        stacks.append(pre)
    stacked = pd.concat(stacks, ignore_index=True).dropna(subset=covariates)
    # centre each cross-section: the covariates trend over the years, and cohort intercepts
    # would nearly separate the one-city 2015 cohort
    cent = [f"{c}_c" for c in covariates]
    stacked[cent] = stacked[covariates] - stacked.groupby("_cohort")[covariates].transform("mean")
    stacked["_rowid"] = np.arange(len(stacked))  # unique time key for the score model
    score = propensity_score(stacked, treatment="_treat", covariates=cent, outcome=None,
                             idname=idname, tname="_rowid", kind=kind)
    sf = score.frame.join(stacked[["_cohort"]])
    all_years = sorted(years)
    city_pos = {c: i for i, c in enumerate(np.sort(sf[idname].unique()))}
    # per cohort, everything a replication needs as arrays (no pandas inside the bootstrap)
    prep = []
    for g in cohorts:
        cs = sf[sf["_cohort"] == g]
        t = cs["_treat"].to_numpy()
        ids = cs[idname].to_numpy()
        post = [yr for yr in all_years if yr >= g]
        Y = wide_y.reindex(index=ids, columns=post).to_numpy(float)
        if outcome == "change":
            Y = Y - wide_y.reindex(index=ids)[g - 1].to_numpy(float)[:, None]
        # a control stops being one when its own pilot starts
        avail = np.isfinite(Y) & ~(adopt.reindex(ids).to_numpy()[:, None] <= np.array(post)[None, :])
        prep.append(dict(g=g, t=t, ids=ids, pos=np.array([city_pos[c] for c in ids]),
                         p=cs["_score"].to_numpy(), post=post, Y=np.where(np.isfinite(Y), Y, 0.0),
                         Ymiss=~np.isfinite(Y), avail=avail))

    def estimate(mult: np.ndarray | None) -> tuple[float, pd.DataFrame | None]:
        """ATT for city multiplicities ``mult`` (None: the sample itself)."""
        num_sum, wsum, parts = 0.0, 0.0, []
        for c in prep:
            t, p = c["t"], c["p"]
            m = np.ones(t.size) if mult is None else mult[c["pos"]]
            kt = (t == 1) & (m > 0)
            kc = (t == 0) & (m > 0)
            if not kt.any() or not kc.any():
                continue
            pc = p[kc]
            it = np.flatnonzero(kt)
            it = it[(p[it] >= pc.min()) & (p[it] <= pc.max())]
            if it.size == 0:
                continue
            if method == "kernel":
                W = match_weights_kernel(p[it], pc, bandwidth=bandwidth, control_mult=m[kc])
            else:
                rows_c = np.repeat(np.arange(kc.sum()), m[kc].astype(int))
                Wx = match_weights_nn(p[it], pc[rows_c], k=min(k, rows_c.size))
                W = np.zeros((it.size, kc.sum()))
                np.add.at(W.T, rows_c, Wx.T)
            ok = W.sum(axis=1) > 0
            it, W = it[ok], W[ok]
            Ac = c["avail"][kc].astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                cf = (W @ (c["Y"][kc] * Ac)) / (W @ Ac)          # (n_T, n_post)
            gap = np.where(c["Ymiss"][it], np.nan, c["Y"][it] - cf)
            mt = m[it][:, None] * np.isfinite(gap)
            num_sum += np.nansum(mt * np.nan_to_num(gap))
            wsum += mt.sum()
            if mult is None:
                ii, jj = np.nonzero(np.isfinite(gap))
                parts.append(pd.DataFrame({idname: c["ids"][it][ii],
                                           tname: np.array(c["post"])[jj], "cohort": c["g"],
                                           "gap": gap[ii, jj]}))
        att = num_sum / wsum if wsum > 0 else float("nan")
        rows = (pd.concat(parts, ignore_index=True) if parts else
                pd.DataFrame(columns=[idname, tname, "cohort", "gap"])) if mult is None else None
        return float(att), rows

    att, rows = estimate(None)
    if rows.empty:
        raise PSMError(f"cohort_match: no treated city of any cohort {cohorts} has a control on "
                       f"the common support (control_group={control_group!r}); try "
                       "control_group='not_yet' or a wider bandwidth.")
    boot = np.full(reps, np.nan)
    if reps:
        M = cluster_multiplicities(list(city_pos), reps, seed)
        bar = _progress_bar(reps, progress, "cohort-match bootstrap")
        for b in range(reps):
            boot[b] = estimate(M[b])[0]
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    fin = boot[np.isfinite(boot)]
    se = float(fin.std(ddof=1)) if fin.size > 1 else float("nan")
    counts = {"treated_city_years": len(rows), "treated_cities": int(rows[idname].nunique()),
              "control_cities": int(sf.loc[sf["_treat"] == 0, idname].nunique()),
              "cohorts": len(cohorts)}
    spec = dict(method=method, bandwidth=bandwidth, k=k, outcome=outcome, kind=kind, reps=reps,
                seed=seed, cohorts=cohorts)
    return CohortMatch(att=att, se=se, rows=rows, score=score, spec=spec,
                       counts=counts, boot=boot)


# ============================================================ Rosenbaum bounds
@dataclass(frozen=True)
class RosenbaumBounds:
    """Sensitivity of a matched ATT to hidden bias (:func:`rosenbaum_bounds`).

    ``bounds``: index Γ, columns ``p_lower`` and ``p_upper`` (the range of the one-sided p-value
    of the signed-rank test when a hidden confounder may change the odds of treatment within a
    match by up to Γ). ``critical_gamma``: the smallest Γ on the grid at which ``p_upper``
    exceeds ``alpha`` (NaN when the test is not significant even at Γ = 1; inf when it stays
    significant on the whole grid). ``alternative``: the direction tested, the estimate's sign.
    """

    bounds: pd.DataFrame
    critical_gamma: float
    alternative: str
    n_pairs: int
    alpha: float = 0.05

    def table(self, title: str | None = None):
        from lib.present.tables import frame_table

        crit = ("not significant even without hidden bias" if np.isnan(self.critical_gamma) else
                "significant at every Γ of the grid" if np.isinf(self.critical_gamma) else
                f"no longer significant at {100 * self.alpha:.0f} % from Γ = {self.critical_gamma:g}")
        return frame_table(self.bounds.rename(columns={"p_lower": "p (lower bound)",
                                                       "p_upper": "p (upper bound)"}),
                           title=title or "Rosenbaum bounds: Wilcoxon signed-rank test under hidden bias",
                           notes=[f"{self.n_pairs} matched treated rows, one-sided test that the effect is "
                                  f"{'positive' if self.alternative == 'greater' else 'negative'}; {crit}. "
                                  "The bounds treat the matched treated rows as independent."])

    def plot(self, ax: Any = None):
        from lib.present.figures import PALETTE, new_axes

        fig, ax = new_axes(ax)
        g = self.bounds.index.to_numpy(float)
        ax.fill_between(g, self.bounds["p_lower"], self.bounds["p_upper"], color=PALETTE["book"], alpha=0.25,
                        label="range of the p-value")
        ax.plot(g, self.bounds["p_upper"], color=PALETTE["book"], label="book: upper bound of the p-value")
        ax.axhline(self.alpha, color=PALETTE["reference"], ls="--", lw=0.9, label=f"{self.alpha:g}")
        ax.set_xlabel("Γ (odds of treatment within a match differ by up to this factor)")
        ax.set_ylabel("one-sided p-value")
        ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="best")
        return fig


def rosenbaum_bounds(match: Matching, *, gammas: Sequence[float] = (1, 1.25, 1.5, 1.75, 2, 2.5, 3),
                     alpha: float = 0.05) -> RosenbaumBounds:
    r"""Rosenbaum (2002) bounds for the Wilcoxon signed-rank test of a matched ATT.

    With :math:`d_i = Y_i - \sum_j w_{ij}Y_j` the matched difference of on-support treated row
    :math:`i` (zeros dropped, ranks :math:`r_i` of :math:`|d_i|`, ties averaged) and
    :math:`T = \sum_i r_i 1\{d_i > 0\}` (or :math:`d_i < 0` when the estimate is negative), a
    hidden bias of at most :math:`\Gamma` bounds the chance that a pair's sign favours the
    treated by :math:`p^{\pm} = \Gamma/(1+\Gamma)` and :math:`1/(1+\Gamma)`; under no effect
    :math:`T` then has mean :math:`p\,n(n+1)/2` and variance :math:`p(1-p)\,n(n+1)(2n+1)/6`,
    and the one-sided p-value lies between the normal tails at :math:`p^-` and :math:`p^+`
    (Stata ``rbounds``, R ``rbounds::psens``, without a tie correction of the variance). At
    Γ = 1 this is the signed-rank test. The matched rows are treated as independent pairs, which
    pooled panel rows are not.
    """
    d, _ = match.matched_differences()
    alternative = "greater" if match.att >= 0 else "less"
    d = d if alternative == "greater" else -d
    d = d[d != 0]
    n = d.size
    if n < 2:
        raise PSMError(f"rosenbaum_bounds: {n} non-zero matched differences")
    gammas = np.asarray(gammas, dtype=float)
    if (gammas < 1).any():
        raise PSMError("rosenbaum_bounds: every Γ must be at least 1")
    ranks = stats.rankdata(np.abs(d))
    T = ranks[d > 0].sum()
    rows = {}
    for g in gammas:
        p_plus, p_minus = g / (1 + g), 1 / (1 + g)

        def tail(p):
            mean = p * n * (n + 1) / 2
            sd = np.sqrt(p * (1 - p) * n * (n + 1) * (2 * n + 1) / 6)
            return float(stats.norm.sf((T - mean) / sd))
        rows[float(g)] = {"p_lower": tail(p_minus), "p_upper": tail(p_plus)}
    bounds = pd.DataFrame.from_dict(rows, orient="index")
    bounds.index.name = "Γ"
    above = bounds.index[bounds["p_upper"] > alpha]
    critical = (float("nan") if bounds["p_upper"].iloc[0] > alpha else
                float(above[0]) if len(above) else float("inf"))
    return RosenbaumBounds(bounds=bounds, critical_gamma=critical, alternative=alternative, n_pairs=n,
                           alpha=alpha)


# ================================================================ truth
def ci_covers(estimate: float, se: float, truth: float, *, level: float = 0.95) -> bool:
    """Whether the normal ``level`` interval ``estimate ± z se`` contains ``truth``
    (``False`` when any input is not finite)."""
    if not (np.isfinite(estimate) and np.isfinite(se) and np.isfinite(truth)):
        return False
    z = stats.norm.ppf(0.5 + level / 2)
    return bool(estimate - z * se <= truth <= estimate + z * se)


# ================================================================ figures
def support_plot(match: Matching, *, ax=None, bins: int = 30):
    """Fig. 3: score densities of treated and control, before and after matching.

    Two panels (``ax`` may be a pair of Axes): left unmatched, right matched
    (controls weighted by ``_weight``, off-support treated left out). Returns
    the Figure.
    """
    import matplotlib.pyplot as plt

    from lib.present.figures import PALETTE

    if ax is None:
        fig, axes = plt.subplots(1, 2, sharey=False, figsize=(9, 3.6))
    else:
        axes = ax
        fig = axes[0].get_figure()
    f = match.score.frame
    d = match.score.treat
    p = f["_score"].to_numpy()
    w = match.row_weights().to_numpy()
    edges = np.linspace(0, max(p.max(), 1e-6), bins + 1)
    for a, (title, wt) in zip(axes, (("before matching", np.ones_like(p)), ("after matching", w))):
        heights = {}
        for g, role, lab in ((1, "treated", "treated"), (0, "control", "control")):
            sel = (d == g) & (wt > 0)
            heights[g], _ = np.histogram(p[sel], bins=edges, weights=wt[sel], density=True)
            a.stairs(heights[g], edges, fill=True, alpha=0.45, color=PALETTE[role], label=lab)
            a.stairs(heights[g], edges, color=PALETTE[role], lw=1.2)
        # a spike of controls near zero would flatten everything else: clip it and say so
        cap = 3 * max(heights[1].max(), np.median(heights[0][heights[0] > 0]))
        if heights[0].max() > cap:
            a.set_ylim(0, cap)
            j = int(np.argmax(heights[0]))
            a.annotate(f"control: {heights[0][j]:.1f} (clipped)",
                       xy=((edges[j] + edges[j + 1]) / 2, cap), xytext=(6, -12),
                       textcoords="offset points", fontsize=8, color=PALETTE["reference"])
        a.set_xlabel(f"propensity score ({title})")
        a.set_ylabel("density")
    axes[0].legend(loc="upper right")
    return fig


def love_plot(balance: pd.DataFrame, *, labels: dict[str, str] | None = None, ax=None):
    """|standardised % bias| per covariate before and after matching (a love plot)."""
    from lib.present.figures import PALETTE, new_axes

    labels = labels or {}
    fig, ax = new_axes(ax)
    u = balance.xs("unmatched", level="sample")["std_bias"].abs()
    m = balance.xs("matched", level="sample")["std_bias"].abs()
    order = u.sort_values().index
    y = np.arange(len(order))
    ax.hlines(y, m[order], u[order], color=PALETTE["reference"], lw=1)
    ax.scatter(u[order], y, color=PALETTE["paper"], marker="s", label="unmatched", zorder=3)
    ax.scatter(m[order], y, color=PALETTE["book"], marker="o", label="matched", zorder=3)
    ax.axvline(10, color=PALETTE["reference"], ls="--", lw=0.9)
    ax.set_yticks(y)
    ax.set_yticklabels([labels.get(v, v) for v in order])
    ax.set_xlabel("|standardised bias| (%)")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right")
    return fig
