r"""How robust an event study is to violations of parallel trends (Rambachan & Roth 2023).

:func:`honest_bounds` takes the event-study coefficients :math:`\hat\beta` and their covariance
:math:`\hat\Sigma` and returns, for each value of the restriction's parameter, the robust 95%
interval for the effect in the first post-period (or a weighted combination, ``target``), the
original interval, and the breakdown value: the smallest parameter at which the interval
includes zero.

Two restrictions on the post-period violation :math:`\delta_{post}`:

* **smoothness** (:math:`\Delta^{SD}(M)`): the slope of the differential trend changes by at
  most :math:`M` per period, :math:`|(\delta_{t+1}-\delta_t) - (\delta_t-\delta_{t-1})| \le M`
  (:math:`M = 0`: a linear trend extrapolated from the pre-periods). Interval: FLCI, by
  diff-diff (pinned) ``HonestDiD``. Checked against R HonestDiD's README
  (``tests/test_sensitivity.py``): within 3e-5 of R's full precision; R's own critical value
  is simulated (1.96224 for 1.95996), which moves its printed bounds by up to 2.6e-4.
* **relative magnitudes** (:math:`\Delta^{RM}(\bar M)`): no post-period violation (between
  consecutive periods) exceeds :math:`\bar M` times the largest pre-period one. Interval: R's
  conditional least-favourable hybrid (C-LF), which diff-diff 3.13 does not compute (its code
  says the hybrid is "disabled pending calibration" and widens the identified set by 1.96
  s.e. instead); the book's port of R's algorithm is :mod:`lib.methods._relative_magnitudes`.
  Checked against R's full-precision results on R's worked example: the same grid points
  (1e-10) when fed R's random stream; with numpy's stream, within 3 grid steps. The breakdown
  value is found by bisection on :math:`\bar M` (to 1e-3); under smoothness, from the grid's
  bracket to 1e-3 standard errors of the target.

:func:`pretrend_power` is Roth's (2022) question about the pre-test itself: how steep a linear
differential trend would the "no lead individually significant" test detect with a given
probability (diff-diff ``compute_mdv``)?
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from lib.methods._relative_magnitudes import conditional_cs_relative_magnitudes

__all__ = ["HonestBounds", "RESTRICTIONS", "honest_bounds", "honest_callaway_santanna", "honest_event_study",
           "pretrend_power"]

#: The restrictions, their parameter's name, and what the interval is.
RESTRICTIONS = {
    "smoothness": ("M", "FLCI (as R HonestDiD)"),
    "relative_magnitude": ("Mbar", "C-LF (as R HonestDiD)"),
}


@dataclass(frozen=True)
class HonestBounds:
    """Robust intervals over a grid of the restriction's parameter.

    Attributes
    ----------
    restriction : {"smoothness", "relative_magnitude"}
    bounds : DataFrame
        Index: the parameter (``M`` or ``Mbar``); columns ``lb``, ``ub`` (the robust
        ``1 - alpha`` interval) and ``includes_zero``.
    original : (float, float)
        The interval that assumes parallel trends exactly.
    estimate, std_error : float
        The target's point estimate and s.e.
    breakdown : float
        Smallest parameter at which the robust interval includes zero (``nan`` when the
        original interval already does; ``inf`` when the search finds none).
    target : str
        What the interval is for (e.g. "first post-period").
    """

    restriction: str
    bounds: pd.DataFrame
    original: tuple[float, float]
    estimate: float
    std_error: float
    breakdown: float
    target: str
    alpha: float = 0.05
    spec: dict = field(default_factory=dict)

    @property
    def parameter(self) -> str:
        return RESTRICTIONS[self.restriction][0]

    def table(self, *, title: str | None = None, notes: str | Sequence[str] | None = None):
        from lib.present.tables import frame_table

        frame = self.bounds[["lb", "ub"]].copy()
        frame.loc["original"] = self.original
        frame.index.name = self.parameter
        frame.columns = [f"{int(100 * (1 - self.alpha))}% lower", f"{int(100 * (1 - self.alpha))}% upper"]
        head = f"Robust intervals for the effect in the {self.target}; {RESTRICTIONS[self.restriction][1]}."
        if np.isnan(self.breakdown):
            tail = " The original interval already includes zero."
        elif np.isinf(self.breakdown):
            tail = " No breakdown value: the interval excludes zero at every bound searched."
        else:
            tail = f" Breakdown value: {self.parameter} = {self.breakdown:.3g}."
        extra = [head + tail]
        notes = [*extra, *([notes] if isinstance(notes, str) else list(notes or []))]
        return frame_table(frame, title=title or f"Sensitivity to violations of parallel trends "
                                                 f"({self.restriction.replace('_', ' ')})", notes=notes)

    def plot(self, ax: Any = None, *, truth: float | None = None):
        """The robust intervals against the parameter, the original interval at the left."""
        from lib.present import figures

        rows = [{"label": "original", "estimate": self.estimate, "ci_lower": self.original[0],
                 "ci_upper": self.original[1]}]
        mid = (self.bounds["lb"] + self.bounds["ub"]) / 2
        rows += [{"label": f"{self.parameter} = {m:.2g}", "estimate": c, "ci_lower": r["lb"],
                  "ci_upper": r["ub"]} for (m, r), c in zip(self.bounds.iterrows(), mid)]
        frame = pd.DataFrame(rows)
        fig, ax = figures.new_axes(ax, figsize=(7.0, 1.4 + 0.34 * len(frame)))
        return figures.coefficient_plot(frame, truth=truth, ax=ax,
                                        xlabel=f"Effect in the {self.target} (robust 95% interval)",
                                        estimate_label="interval midpoint (original: estimate)")


def _results_object(betahat: np.ndarray, sigma: np.ndarray, periods: Sequence[Any], n_pre: int,
                    reference: Any):
    """A diff-diff ``MultiPeriodDiDResults`` holding only what ``HonestDiD`` reads: the
    coefficients, their covariance and which are pre- and post-periods (no degrees of freedom,
    so diff-diff uses normal critical values, as R's HonestDiD does)."""
    from diff_diff.results import MultiPeriodDiDResults, PeriodEffect

    se = np.sqrt(np.diag(sigma))
    z = stats.norm.ppf(0.975)
    effects = {p: PeriodEffect(p, float(b), float(s), float(b / s), float(2 * stats.norm.sf(abs(b / s))),
                               (float(b - z * s), float(b + z * s)))
               for p, b, s in zip(periods, betahat, se)}
    return MultiPeriodDiDResults(
        period_effects=effects, avg_att=np.nan, avg_se=np.nan, avg_t_stat=np.nan, avg_p_value=np.nan,
        avg_conf_int=(np.nan, np.nan), n_obs=0, n_treated=0, n_control=0,
        pre_periods=list(periods[:n_pre]), post_periods=list(periods[n_pre:]), vcov=np.asarray(sigma),
        reference_period=reference, interaction_indices={p: i for i, p in enumerate(periods)})


def honest_bounds(betahat, sigma, *, n_pre: int, restriction: Literal["smoothness", "relative_magnitude"],
                  grid: Sequence[float], target: Sequence[float] | None = None, alpha: float = 0.05,
                  periods: Sequence[Any] | None = None, reference: Any = -1,
                  seed: int = 0) -> HonestBounds:
    r"""Rambachan-Roth robust intervals from event-study coefficients and their covariance.

    ``betahat`` holds the ``n_pre`` pre-period coefficients (in time order, the reference
    period left out) and then the post-period ones; ``sigma`` their covariance. ``target`` is
    the vector :math:`l` of the effect :math:`l'\tau_{post}` (default: the first
    post-period, R's default; diff-diff's own default is the average). ``grid`` holds the
    values of :math:`M` (smoothness) or :math:`\bar M` (relative magnitudes). ``seed`` seeds the
    simulated least-favourable critical value of the C-LF interval (R's default 0).
    """
    from diff_diff.honest_did import HonestDiD

    if restriction not in RESTRICTIONS:
        raise ValueError(f"restriction must be one of {list(RESTRICTIONS)}, got {restriction!r}")
    betahat, sigma = np.asarray(betahat, dtype=float), np.asarray(sigma, dtype=float)
    n_post = len(betahat) - n_pre
    if n_pre < 1 or n_post < 1:
        raise ValueError(f"need at least one pre- and one post-period coefficient; got {n_pre} pre "
                         f"of {len(betahat)}")
    if restriction == "smoothness" and n_pre < 2:
        raise ValueError("the smoothness restriction needs two pre-period coefficients (a slope)")
    if sigma.shape != (len(betahat), len(betahat)):
        raise ValueError(f"sigma must be {len(betahat)}x{len(betahat)}, got {sigma.shape}")
    l_vec = np.eye(n_post)[0] if target is None else np.asarray(target, dtype=float)
    periods = list(periods) if periods is not None else list(range(len(betahat)))
    est = float(l_vec @ betahat[n_pre:])
    se = float(np.sqrt(l_vec @ sigma[n_pre:, n_pre:] @ l_vec))
    z = stats.norm.ppf(1 - alpha / 2)
    original = (est - z * se, est + z * se)
    rows, open_ended = {}, []
    if restriction == "smoothness":
        res = _results_object(betahat, sigma, periods, n_pre, reference)
        honest = HonestDiD(method=restriction, l_vec=l_vec, alpha=alpha)
        def flci(m: float) -> tuple[float, float]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fit = honest.fit(res, M=float(m))
            return float(fit.ci_lb), float(fit.ci_ub)

        for m in grid:
            lb, ub = flci(float(m))
            rows[float(m)] = {"lb": lb, "ub": ub}
        # diff-diff's own breakdown_value bisects from scratch to 1e-6 (26 FLCI fits of 0.6 s
        # each on R's example); from the grid's bracket, to 1e-3 s.e., it takes 2 to 4
        found = (None if original[0] <= 0 <= original[1] else
                 _breakdown(lambda m: _gap(*flci(m)), {m: _gap(r["lb"], r["ub"]) for m, r in rows.items()},
                            step=se, tol=1e-3 * se, upper=64 * se))
        engine = "diff_diff.HonestDiD (FLCI)"
    else:
        def clf(mbar: float) -> tuple[float, float, bool]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                lb, ub = conditional_cs_relative_magnitudes(betahat, sigma, n_pre, n_post, mbar,
                                                            l_vec=l_vec, alpha=alpha, seed=seed)
            return lb, ub, any("open at one of the endpoints" in str(w.message) for w in caught)

        for m in grid:
            lb, ub, is_open = clf(float(m))
            rows[float(m)] = {"lb": lb, "ub": ub}
            if is_open:
                open_ended.append(float(m))
        found = (None if original[0] <= 0 <= original[1]
                 else _breakdown(lambda m: _gap(*clf(m)[:2]),
                                 {m: _gap(r["lb"], r["ub"]) for m, r in rows.items()},
                                 step=0.5, tol=1e-3, upper=64.0))
        engine = "lib.methods._relative_magnitudes (R HonestDiD's C-LF, ported)"
    # nan: the original interval includes zero; inf: no bound searched makes it
    breakdown = (float("nan") if original[0] <= 0 <= original[1]
                 else float("inf") if found is None else float(found))
    bounds = pd.DataFrame.from_dict(rows, orient="index")
    bounds.index.name = RESTRICTIONS[restriction][0]
    bounds["includes_zero"] = (bounds["lb"] <= 0) & (bounds["ub"] >= 0)
    label = ("first post-period" if target is None else "combination of post-periods given by target")
    return HonestBounds(restriction=restriction, bounds=bounds, original=original, estimate=est,
                        std_error=se, breakdown=breakdown, target=label, alpha=alpha,
                        spec=dict(n_pre=n_pre, n_post=n_post, grid=list(map(float, grid)),
                                  l_vec=l_vec.tolist(), engine=engine, seed=seed,
                                  open_ended=open_ended))


def _gap(lb: float, ub: float) -> float:
    """How far a robust set is from including zero: ``max(lb, -ub)``, at most 0 exactly when
    it does; it falls as the restriction loosens. A failed fit (NaN) counts as not including it."""
    gap = max(lb, -ub)
    return float("inf") if np.isnan(gap) else float(gap)


def _breakdown(gap, known: dict[float, float], *, step: float, tol: float,
               upper: float) -> float | None:
    r"""Smallest parameter :math:`m \ge 0` with ``gap(m) <= 0`` (the robust set includes zero;
    the sets grow with :math:`m`), to ``tol``; None if there is none up to ``upper``.

    Bracketed by the grid's ``known`` gaps, doubling from ``step`` above them up to ``upper``;
    then each step guesses the root by linear interpolation between the bracket's gaps (the
    bounds are close to linear in :math:`m`) and probes ``tol`` beyond the guess, so that a good
    guess closes the bracket at once; a step that does not halve the bracket adds a bisection.
    """
    known = dict(known)

    def g(m: float) -> float:
        if m not in known:
            known[m] = gap(m)
        return known[m]

    if g(0.0) <= 0:
        return 0.0
    hits = sorted(m for m, v in known.items() if v <= 0)
    hi = hits[0] if hits else max(max(known), step)
    while g(hi) > 0:
        if hi >= upper:
            return None
        hi *= 2
    lo = max(m for m, v in known.items() if v > 0 and m < hi)
    reach = 0.99 * tol   # a bracket [m, m + reach] is closed
    while hi - lo > tol:
        width, g_lo, g_hi = hi - lo, known[lo], known[hi]
        guess = (lo + width * g_lo / (g_lo - g_hi) if np.isfinite(g_lo) and np.isfinite(g_hi)
                 else lo + width / 2)
        guess = min(max(guess, lo + tol / 2), hi - tol / 2)
        if g(guess) > 0:
            lo = guess
            if lo + reach < hi and g(lo + reach) <= 0:
                hi = lo + reach
        else:
            hi = guess
            if hi - reach > lo and g(hi - reach) > 0:
                lo = hi - reach
        if hi - lo > max(width / 2, tol):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if g(mid) <= 0 else (mid, hi)
    return hi


def honest_event_study(es, *, restriction: Literal["smoothness", "relative_magnitude"],
                       grid: Sequence[float], alpha: float = 0.05) -> HonestBounds:
    """:func:`honest_bounds` on a :func:`lib.methods.did.event_study` result (reference period
    -1, so the pre-periods are the leads before it). The binned end points, if any, enter as
    the first and last coefficients."""
    est, sigma, pre = _event_study_container(es)
    return honest_bounds(est["estimate"].to_numpy(), sigma, n_pre=len(pre), restriction=restriction,
                         grid=grid, alpha=alpha, periods=list(est.index), reference=-1)


def _event_study_container(es):
    """The event study's leads and lags (reference -1 left out) as diff-diff's results object."""
    if es.spec.get("ref", -1) != -1:
        raise ValueError("the sensitivity analyses compare each period with the one just before "
                         f"adoption; the event study's reference is {es.spec.get('ref')}, re-estimate "
                         "it with ref=-1")
    est = es.estimates.drop(index=-1)
    names = [n for n in es.regression.params.index if n not in es.spec.get("controls", ())][:len(est)]
    sigma = es.regression.cov.loc[names, names].to_numpy()
    pre = [e for e in est.index if e < 0]
    return est, sigma, pre


def pretrend_power(es, powers: Sequence[float] = (0.5, 0.8), *, alpha: float = 0.05) -> dict[float, float]:
    r"""Roth (2022): the slope :math:`\gamma` of a linear violation :math:`\delta_e = \gamma\,(e+1)`
    that the pre-test "no lead individually significant at ``alpha``" detects with each
    probability in ``powers`` (diff-diff ``compute_mdv``, ``pretest_form="nis"``), in the
    outcome's units per period."""
    from diff_diff.pretrends import compute_mdv

    est, sigma, pre = _event_study_container(es)
    if not pre:
        raise ValueError("pretrend_power: the event study has no lead before the reference period")
    res = _results_object(est["estimate"].to_numpy(), sigma, list(est.index), len(pre), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {float(p): float(compute_mdv(res, alpha=alpha, target_power=float(p), violation_type="linear",
                                            pretest_form="nis")) for p in powers}


def honest_callaway_santanna(cs, *, restriction: Literal["smoothness", "relative_magnitude"],
                             grid: Sequence[float], window: tuple[int, int] = (-5, 5),
                             alpha: float = 0.05) -> HonestBounds:
    """:func:`honest_bounds` on a Callaway-Sant'Anna event study (``lib.methods.staggered.
    callaway_santanna`` with ``base_period="universal"``, so every coefficient is relative to
    e = -1): the dynamic aggregation and its covariance from diff-diff, cut to ``window`` (the
    longest leads and lags rest on a few early cohorts, one of them a single unit here)."""
    if cs.spec.get("base_period") != "universal":
        raise ValueError("honest_callaway_santanna: estimate Callaway-Sant'Anna with base_period='universal' "
                         "(every event time against e = -1), as the sensitivity analysis assumes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        es = cs.fit.aggregate("event_study")
    idx = np.asarray(es.vcov_index, dtype=float)
    tab = es.to_dataframe().set_index("event_time")
    keep = [i for i, e in enumerate(idx) if window[0] <= e <= window[1] and e != -1]
    events = idx[keep]
    beta = tab.loc[events, "att"].to_numpy(dtype=float)
    sigma = np.asarray(es.vcov)[np.ix_(keep, keep)]
    n_pre = int((events < 0).sum())
    return honest_bounds(beta, sigma, n_pre=n_pre, restriction=restriction, grid=grid, alpha=alpha,
                         periods=[int(e) for e in events], reference=-1)
