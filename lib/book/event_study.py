"""What the event-study chapter (Fig. 1) cites, and the sentences whose wording depends on the data.

:func:`fig1_values` returns every named value the section's prose glues, so the
chapter glues them in one call (:func:`lib.book.glue_all`); :func:`record_fig1`
records its headline estimates. The wording rules (plurals, a truth clause only
where there is a truth) live here and are tested in ``tests/test_book_sections.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lib.book.chapter import record


def event_name(e: int, *, binned_at: int | None = None) -> str:
    """``e = -5 (binned)`` for the binned end point, ``e = +2`` otherwise."""
    return f"e = {e:+d}" + (" (binned)" if e == binned_at else "")


def leads_sentence(leads: pd.DataFrame, *, binned_at: int | None = None, level: float = 0.05) -> str:
    """Which pre-period coefficients are individually significant, in words."""
    sig = [int(e) for e in leads.index[leads["p"] < level]]
    n = len(leads)
    if not sig:
        return f"none of the {n} leads has p < {level:g}"
    verb = "have" if len(sig) > 1 else "has"
    names = ", ".join(event_name(e, binned_at=binned_at) for e in sig)
    return f"{len(sig)} of the {n} leads {verb} p < {level:g}: {names}"


def fig1_values(es, sa, truth_e: pd.Series, *, synthetic: bool, window_start: int,
                ref: int) -> dict[str, Any]:
    """The named values of the "Figure 1 recomputed" section (keys ``f1_*``).

    ``truth_e`` is the true effect by event time (meaningless, and never cited,
    when ``synthetic`` is False: a reader's data have no truth).
    """
    pt, est = es.pretrend_test, es.estimates
    leads = est.loc[est.index < ref]
    first_lead = int(leads.index.min())
    post = est.loc[est.index >= 0]
    last = int(est.index.max())
    values: dict[str, Any] = {
        "f1_pretrend_F": pt["statistic"], "f1_pretrend_p": pt["p"],
        "f1_pretrend_verdict": "not rejected" if pt["p"] >= 0.05 else "rejected",
        "f1_pretrend_q": pt["df"][0], "f1_nobs": es.nobs,
        "f1_supt_c": es.sup_t_critical, "f1_pointwise_c": es.pointwise_critical,
        "f1_leads_sig_text": leads_sentence(leads, binned_at=window_start),
        "f1_lead_first_name": event_name(first_lead, binned_at=window_start),
        "f1_lead_truth_note": (" The truth before designation is exactly zero."
                               if synthetic and bool((truth_e.loc[leads.index] == 0).all()) else ""),
        "f1_lead_first": first_lead,
        "f1_lead_first_beta": leads.loc[first_lead, "estimate"],
        "f1_lead_first_p": leads.loc[first_lead, "p"],
        "f1_lead_first_sa": sa.estimates.loc[first_lead, "estimate"],
        "f1_e0_beta": est.loc[0, "estimate"],
        "f1_e0_truth": f" (truth {truth_e.loc[0]:.4f})" if synthetic else "",
        "f1_elast": last, "f1_elast_beta": est.loc[last, "estimate"],
        "f1_elast_truth": f" (truth {truth_e.loc[last]:.4f})" if synthetic else "",
        "f1_post_min": post["estimate"].min(), "f1_post_max": post["estimate"].max(),
        "f1_n_coef": int(est["std_error"].notna().sum()),
        "f1_band_excludes_zero_post": int((post["band_lower"] > 0).sum()),
        "f1_cover_text": "",
    }
    if synthetic:
        tp = truth_e.loc[post.index]
        covered = int(((post["ci_lower"] <= tp) & (tp <= post["ci_upper"])).sum())
        values["f1_cover_text"] = (f"; the 95% pointwise interval covers the truth at {covered} of "
                                   f"{len(post)} post-designation event times")
    return values


def record_fig1(es, sa, truth_e: pd.Series, *, synthetic: bool) -> None:
    """Record every event-time coefficient, the pre-trend test and the band's critical value."""
    for e, row in es.estimates.iterrows():
        record(f"fig1_event_time_{e:+d}", estimate=row["estimate"],
               std_error=None if np.isnan(row["std_error"]) else row["std_error"],
               p=None if np.isnan(row["p"]) else row["p"], nobs=es.nobs,
               truth=truth_e.loc[e] if synthetic else None,
               band_lower=row["band_lower"], band_upper=row["band_upper"],
               sun_abraham=float(sa.estimates.loc[e, "estimate"]) if e in sa.estimates.index else None)
    pt = es.pretrend_test
    record("fig1_pretrend_test", estimate=pt["statistic"], p=pt["p"], nobs=es.nobs, truth=None,
           kind=pt["kind"], df=list(pt["df"]))
    record("fig1_sup_t_critical", estimate=es.sup_t_critical, truth=None, pointwise=es.pointwise_critical)


#: Multiples of the first post-period coefficient's s.e. that make the smoothness grid: M is a
#: change in the slope of the differential trend per period, in the outcome's units.
SMOOTHNESS_GRID_SE = (0.0, 0.25, 0.5, 1.0, 2.0)
#: The relative-magnitudes grid (Mbar: post-period violations up to Mbar times the largest
#: pre-period one), R HonestDiD's example's.
RELATIVE_GRID = (0.5, 1.0, 1.5, 2.0)


def sensitivity(es):
    """Both Rambachan-Roth analyses of the event study ``es`` (reference -1) and Roth's pre-test
    power (slope detected with 50 % and 80 % probability), or ``None`` and the reason when the
    event study cannot carry them (another reference period, fewer than two leads)."""
    from lib.methods.sensitivity import honest_event_study, pretrend_power

    leads = [e for e in es.estimates.index if e < -1]
    if es.spec.get("ref", -1) != -1:
        return None, None, None, (f"The sensitivity analysis compares each post-period with the period just "
                            f"before designation; this page's reference period is {es.spec['ref']}, so "
                            "it is left out (re-run with ref = -1).")
    if len(leads) < 2:
        return None, None, None, ("The sensitivity analysis needs at least two leads before the reference "
                            "period; this event study has fewer, so it is left out.")
    se0 = float(es.estimates.loc[0, "std_error"])
    sd = honest_event_study(es, restriction="smoothness", grid=[m * se0 for m in SMOOTHNESS_GRID_SE])
    rm = honest_event_study(es, restriction="relative_magnitude", grid=list(RELATIVE_GRID))
    return sd, rm, pretrend_power(es, powers=(0.5, 0.8)), ""


def sensitivity_values(sd, rm, truth0: float | None, power: dict | None = None, *, prefix: str = "hd"):
    """The section's sentences: the breakdown values and what they mean (glue key
    ``<prefix>_text``; records ``honest_*``, prefixed by ``<prefix>_`` unless it is "hd")."""
    from lib.book.chapter import Cited

    if sd is None:
        return Cited({f"{prefix}_text": ""})
    se0 = sd.std_error
    if np.isinf(sd.breakdown):
        sd_text = ("Under the smoothness restriction the robust interval for the effect at designation "
                   "excludes zero at every bound searched: no bend of the pre-designation trend within "
                   "that range explains the estimate away.")
    elif np.isfinite(sd.breakdown):
        sd_text = (f"Under the smoothness restriction the robust interval for the effect at designation "
                   f"excludes zero as long as the slope of the differential trend changes by less than "
                   f"M = {sd.breakdown:.2g} per year ({sd.breakdown / se0:.2f} standard errors of the "
                   "estimate); a larger bend in the trend could produce the estimate without any effect.")
    else:
        sd_text = ("The original interval for the effect at designation already includes zero, so no "
                   "violation of parallel trends is needed to explain it.")
    rm_text = ""
    if rm is not None and np.isinf(rm.breakdown):
        rm_text = (" Under relative magnitudes it excludes zero at every bound searched (up to Mbar = 64).")
    elif rm is not None and np.isfinite(rm.breakdown):
        rm_text = (f" Under relative magnitudes the interval includes zero from about Mbar = "
                   f"{rm.breakdown:.2g}: a post-period violation {rm.breakdown:.2g} times the largest one "
                   "seen between pre-periods would be enough.")
    truth = (f" The true effect at designation on these semi-synthetic data is {truth0:.4f}."
             if truth0 is not None and np.isfinite(truth0) else "")
    power_text = ""
    if power:
        power_text = (f" As for the pre-test itself (Roth 2022): a linear differential trend would have "
                      f"to rise by {power[0.5]:.2g} a year for the test to detect it (some lead "
                      f"individually significant) half of the time, and by {power[0.8]:.2g} to detect it "
                      "80 % of the time; flatter violations mostly pass it.")
    # JSON has no infinity: "no breakdown found" is recorded as None with a flag
    def entry(hb):
        return dict(estimate=hb.breakdown if np.isfinite(hb.breakdown) else None,
                    no_breakdown_found=bool(np.isinf(hb.breakdown)))

    records = {"honest_smoothness_breakdown": entry(sd),
               **({"honest_relative_breakdown": entry(rm)} if rm is not None else {})}
    if power:
        records.update({f"pretrend_power_{int(100 * p)}_slope": dict(estimate=v) for p, v in power.items()})
    if prefix != "hd":
        records = {f"{prefix}_{k}": v for k, v in records.items()}
    return Cited({f"{prefix}_text": sd_text + rm_text + truth + power_text}, records=records)
