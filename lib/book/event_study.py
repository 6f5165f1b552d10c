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
