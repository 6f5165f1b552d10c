"""What each section of the staggered-DID chapter cites, and the wording that depends on the data.

One function per section: it takes the section's results (from :mod:`lib.methods.staggered`)
and returns a :class:`~lib.book.chapter.Cited` of the named values the prose glues and the
headline estimates the chapter records, so the chapter puts them on the page with one
``book.glue_all`` call.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from lib.book.chapter import ChapterData, Cited, balanced_frame

__all__ = ["FORBIDDEN", "frames", "bacon_values", "bacon_truth_values", "weights_values",
           "pilot_weights_values", "cohort_values", "event_values", "compare_values",
           "cohort_se", "summary_values", "bias_split", "bias_values", "calendar_truth", "calendar_values",
           "cs_variants", "cs_variants_values", "CS_VARIANTS", "robust_estimators", "concordance_table",
           "concordance_event_studies", "cs_sensitivity"]

#: The Goodman-Bacon comparison that uses already-treated units as controls.
FORBIDDEN = "Later vs earlier treated (already treated)"
NEVER_TREATED = "Treated vs never treated"
CS_NEVER = "Callaway-Sant'Anna (never treated)"


def frames(data: ChapterData, cols: Mapping[str, str]) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """``(frame, truth_frame, balance_note)``: the balanced frame the decomposition, the weights
    and Callaway-Sant'Anna need, the same frame with each row's ``true_effect`` (zero on a
    reader's data, which has no truth: the weights still hold), and the page's sentence on
    what balancing did (empty on a balanced panel)."""
    from lib.methods.staggered import with_true_effects

    frame, note = balanced_frame(
        data, needs="the Goodman-Bacon decomposition, the TWFE weights and Callaway-Sant'Anna")
    truth_frame = (with_true_effects(frame, data.truth.effects, idname=cols["idname"],
                                     tname=cols["tname"])
                   if data.synthetic else frame.assign(true_effect=0.0))
    return frame, truth_frame, note


def bacon_values(bacon) -> Cited:
    """The decomposition's size, TWFE coefficient and the weights of the two key comparisons."""
    by_type = bacon.by_type()
    w_forbidden = by_type["weight"].get(FORBIDDEN, np.nan)
    return Cited({"bacon_twfe": bacon.twfe, "bacon_n": len(bacon.components),
                  "bacon_w_never": by_type["weight"].get(NEVER_TREATED, np.nan),
                  "bacon_w_forbidden": w_forbidden,
                  "bacon_b_forbidden": by_type["estimate"].get(FORBIDDEN, np.nan)},
                 records={"bacon_twfe": dict(estimate=bacon.twfe, nobs=bacon.nobs),
                          "bacon_weight_forbidden": dict(estimate=w_forbidden)})


def bacon_truth_values(bacon_true, tau: pd.Series) -> Cited:
    """What each kind of comparison estimates on the true effects ``tau`` of the treated rows."""
    bt = bacon_true.by_type()["estimate"]
    f_true, n_true = bt.get(FORBIDDEN, np.nan), bt.get(NEVER_TREATED, np.nan)
    return Cited({"bacon_true_twfe": bacon_true.twfe, "bacon_true_forbidden": f_true,
                  "bacon_true_never": n_true,
                  "bacon_true_forbidden_close": ", close to zero," if abs(f_true) < 0.25 * abs(n_true)
                  else "",
                  "tau_mean": tau.mean(),
                  "tau_sign": "positive" if tau.mean() > 0 else "not positive",
                  "tau_n_negative": int((tau < 0).sum()), "tau_n": len(tau)})


def weights_values(weights: pd.DataFrame, by_cohort: pd.DataFrame) -> Cited:
    """Negative TWFE weights on the full sample and the earliest cohort's two weights."""
    first = by_cohort.index.min()
    return Cited({"w_negative": int((weights["weight"] < 0).sum()), "w_treated": len(weights),
                  "w_first_cohort": first, "w_first_twfe": by_cohort.loc[first, "twfe_weight"],
                  "w_first_att": by_cohort.loc[first, "att_weight"]})


def pilot_weights_values(w_pilots: pd.DataFrame) -> Cited:
    """Negative TWFE weights without never-treated units, and what TWFE then targets."""
    negative = w_pilots["weight"] < 0
    return Cited({"wp_negative": int(negative.sum()),
                  "wp_negative_sum": w_pilots.loc[negative, "weight"].sum(),
                  "wp_target": float((w_pilots["weight"] * w_pilots["true_effect"]).sum())},
                 records={"twfe_negative_weights_pilots_only": dict(estimate=int(negative.sum()),
                                                                    nobs=len(w_pilots))})


def cohort_se(cs_group, n_units: pd.Series) -> pd.Series:
    """The cohort effects' standard errors, blank for a cohort of one unit (whose s.e. reflects
    only the control group)."""
    est = cs_group.estimates
    return est["std_error"].where(n_units.reindex(est.index) > 1)


def cohort_values(cs_group, n_units: pd.Series, truth_cohort: pd.Series) -> Cited:
    """The smallest cohort, the sentence on single-unit cohorts, and each cohort's record."""
    se = cohort_se(cs_group, n_units)
    records = {f"cs_cohort_{g}": dict(estimate=r["estimate"],
                                      std_error=None if np.isnan(se[g]) else r["std_error"],
                                      n_treated=int(n_units[g]), truth=truth_cohort.get(g, np.nan))
               for g, r in cs_group.estimates.iterrows()}
    return Cited({"cs_smallest_cohort": int(n_units.idxmin()), "cs_smallest_n": int(n_units.min()),
                  "cs_single_note": "With a single treated city the standard error reflects only "
                  "the variability of the control group and understates the uncertainty, so the "
                  "table prints neither a standard error nor stars for such a cohort."
                  if n_units.min() == 1 else ""}, records=records)


def event_values(cs_event, truth_e: pd.Series | None, pretest: Mapping[str, Any] | None = None,
                 pretest_cells: Mapping[str, Any] | None = None) -> Cited:
    """The uniform band's critical value, the two pre-tests (every pre-period ATT(g,t) cell, as
    R ``did`` reports it, and the aggregated leads) and the post-adoption effects' records."""
    records = {f"cs_event_{e}": dict(estimate=r["estimate"], std_error=r["std_error"],
                                     truth=None if truth_e is None else truth_e.get(e, np.nan))
               for e, r in cs_event.estimates.loc[0:].iterrows()}
    text = ""
    if pretest_cells and pretest_cells["df"]:
        pc = pretest_cells
        records["cs_pretest_cells"] = dict(estimate=pc["statistic"], p=pc["p"], df=pc["df"])
        left = sorted({g for g, _ in pc["left_out"]})
        text += (f" R `did`'s pre-test, that all {pc['n_cells']} pre-period ATT(g,t) are zero, gives "
                 f"χ²({pc['df']}) = {pc['statistic']:.2f}, p = {pc['p']:.3f}"
                 + (f" (the cells of the {', '.join(map(str, left))} cohort{'s' if len(left) > 1 else ''}, "
                    "with one treated unit, are left out: their s.e. lack that unit's variability)"
                    if left else "") + ".")
    if pretest and pretest["df"]:
        records["cs_pretest"] = dict(estimate=pretest["statistic"], p=pretest["p"], df=pretest["df"])
        text += (f" The joint test of the {pretest['df']} aggregated leads shown gives "
                 f"χ²({pretest['df']}) = {pretest['statistic']:.2f}, p = {pretest['p']:.3f}.")
    return Cited({"cs_crit": cs_event.crit_value, "cs_pretest_text": text}, records=records)


def calendar_truth(truth_frame: pd.DataFrame, cols: Mapping[str, str]) -> pd.Series:
    """The true effect in each year on the units treated by then: the mean ``true_effect`` of the
    treated unit-years by year (what the calendar aggregation targets)."""
    f = truth_frame
    treated = f[cols["tname"]] >= f[cols["gname"]]
    return f.loc[treated].groupby(cols["tname"])["true_effect"].mean()


def calendar_values(cal, truth_t: pd.Series | None) -> Cited:
    """The calendar aggregation: its overall effect and years, the years with one treated unit,
    on the book's panel the year where the estimate is furthest from the truth (in s.e.), and
    each year's record."""
    est = cal.estimates
    records = {f"cs_calendar_{t}": dict(estimate=r["estimate"],
                                        std_error=None if np.isnan(r["std_error"]) else r["std_error"],
                                        n_treated=int(r["n_treated"]),
                                        truth=None if truth_t is None else truth_t.get(t, np.nan))
               for t, r in est.iterrows()}
    records["cs_calendar_overall"] = dict(estimate=cal.overall["estimate"],
                                          std_error=cal.overall["std_error"])
    single = [int(t) for t, r in est.iterrows() if r["n_treated"] == 1]
    note = (f" In {', '.join(map(str, single))} a single unit was treated, so that year has no "
            "interval and stays out of the band." if single else "")
    truth = ""
    if truth_t is not None and len(truth_t):
        tr = truth_t.reindex(est.index)
        z = ((est["estimate"] - tr) / est["std_error"]).abs().dropna()
        truth = (f" On this semi-synthetic panel the true yearly effects average "
                 f"{float(tr.mean()):.4f}" + (
                     f"; among the years with an interval the estimate is furthest from the truth in "
                     f"{int(z.idxmax())}, by {z.max():.1f} standard errors." if len(z) else "."))
    return Cited({"cal_overall": cal.overall["estimate"], "cal_overall_se": cal.overall["std_error"],
                  "cal_first": int(est.index.min()), "cal_last": int(est.index.max()),
                  "cal_text": note + truth}, records=records)


#: The Callaway-Sant'Anna variants of the covariates section: (label, controls?, estimation method,
#: comparison group, anticipation).
CS_VARIANTS = (
    ("no controls", False, "reg", "never_treated", 0),
    ("no controls", False, "reg", "not_yet_treated", 0),
    ("outcome regression", True, "reg", "never_treated", 0),
    ("outcome regression", True, "reg", "not_yet_treated", 0),
    ("inverse probability weighting", True, "ipw", "never_treated", 0),
    ("inverse probability weighting", True, "ipw", "not_yet_treated", 0),
    ("doubly robust", True, "dr", "never_treated", 0),
    ("doubly robust", True, "dr", "not_yet_treated", 0),
    ("no controls, 1 year of anticipation", False, "reg", "never_treated", 1),
)


def cs_variants(frame: pd.DataFrame, truth_frame: pd.DataFrame, cols: Mapping[str, str],
                controls, *, synthetic: bool) -> tuple[pd.DataFrame, list[str]]:
    """Callaway-Sant'Anna's overall ATT under each of :data:`CS_VARIANTS`: estimate, s.e., N
    (unit-years used), and on the book's panel the target (the same estimator on the true
    effects) and the mean true effect of the treated unit-years it uses. Variants the panel
    cannot support (no never-treated units; no controls in the column file) are left out and
    said so in the returned notes."""
    from lib.methods.staggered import callaway_santanna

    controls = list(controls)
    # never treated: no adoption year, or one after the panel ends (as callaway_santanna counts them)
    adoption = frame.groupby(cols["idname"])[cols["gname"]].first()
    has_never = bool((adoption.isna() | (adoption > frame[cols["tname"]].max())).any())
    notes, rows = [], {}
    if not controls:
        notes.append("The column file declares no controls, so the covariate-adjusted variants are "
                     "left out.")
    if not has_never:
        notes.append("No unit is never treated, so the never-treated comparisons are left out.")
    if synthetic and controls:   # the units with complete controls, as the covariate fits use
        incomplete = frame.loc[frame[controls].isna().any(axis=1), cols["idname"]].unique()
        complete = truth_frame[~truth_frame[cols["idname"]].isin(incomplete)]
    for label, with_x, method, cg, ant in CS_VARIANTS:
        if (with_x and not controls) or (cg == "never_treated" and not has_never):
            continue
        kw = dict(cols, control_group=cg, estimation_method=method, anticipation=ant,
                  controls=controls if with_x else ())
        fit = callaway_santanna(frame, **kw)
        agg = fit.aggregate("simple").overall
        comparison = "never treated" if cg == "never_treated" else "not yet treated"
        row = {"estimate": agg["estimate"], "s.e.": agg["std_error"], "N": int(fit.nobs)}
        if synthetic:
            used = complete if with_x else truth_frame
            target = callaway_santanna(used, **dict(kw, yname="true_effect")).aggregate("simple")
            treated = used[cols["tname"]] >= used[cols["gname"]]
            row.update({"target": target.overall["estimate"],
                        "ATT truth": float(used.loc[treated, "true_effect"].mean())})
        rows[(label, comparison)] = row
    table = pd.DataFrame(rows).T.astype(float)
    table["N"] = table["N"].astype(int)
    table.index.names = ["Callaway-Sant'Anna", "comparison"]
    return table, notes


def compare_values(twfe_es, sa, truth_e: pd.Series | None, *, ref: int = -1) -> Cited:
    """Largest gap between the TWFE event study and Sun-Abraham, and Sun-Abraham's records."""
    gap = (twfe_es.estimates["estimate"] - sa.estimates["estimate"]).abs().drop(ref)
    records = {f"sa_event_{e}": dict(estimate=r["estimate"], std_error=r["std_error"],
                                     truth=None if truth_e is None else truth_e.get(e, np.nan))
               for e, r in sa.estimates.drop(ref).iterrows()}
    return Cited({"es_max_gap": gap.max(), "es_max_gap_e": int(gap.idxmax()),
                  "es_gap_se": sa.estimates.loc[gap.idxmax(), "std_error"]}, records=records)


def summary_values(summary: pd.DataFrame, paper: Mapping[str, Mapping[str, Any]],
                   true_att: float, *, synthetic: bool) -> Cited:
    """The four headline estimates, the truth clause and which side lands nearer the truth."""
    records = {name: dict(estimate=r["estimate"], std_error=r["std_error"], p=r["p"],
                          nobs=int(r["nobs"]), truth=r.get("truth", np.nan),
                          paper=(paper.get(name) or {}).get("estimate"),
                          target=r.get("target", np.nan))
               for name, r in summary.iterrows()}
    records["true ATT"] = dict(estimate=true_att, truth=true_att)
    values = {f"sum_{key}": summary.loc[name, "estimate"]
              for key, name in (("twfe", "TWFE"), ("sa", "Sun-Abraham"), ("csn", CS_NEVER),
                                ("csy", "Callaway-Sant'Anna (not yet treated)"))}
    gaps = (summary["estimate"] - true_att).abs()
    robust = gaps.drop(["TWFE", "TWFE + controls"], errors="ignore").min()
    values["sum_truth"] = f"; the true ATT is {true_att:.4f}" if synthetic else ""
    cs_controls = next((n for n in summary.index if n.startswith("Callaway-Sant'Anna + controls")), None)
    values["sum_csc_text"] = (
        f" With the same controls as TWFE (doubly robust, at the base period; only cities with "
        f"complete controls, {int(summary.loc[cs_controls, 'nobs']):,} city-years) Callaway-Sant'Anna "
        f"gives {summary.loc[cs_controls, 'estimate']:.4f}, so the comparison with TWFE + controls "
        "changes one thing at a time." if cs_controls else "")
    values["sum_nearer"] = (
        "On a reader's own data there is no truth to compare them with." if not synthetic else
        "On this draw of the data TWFE lands nearer the truth than the robust estimators."
        if gaps["TWFE"] < robust else
        "On this draw of the data the robust estimators land nearer the truth than TWFE.")
    return Cited(values, records=records)


def bias_split(summary: pd.DataFrame) -> pd.DataFrame:
    """Each estimator's gap to the truth split into bias (target − truth) and noise (estimate − target)."""
    split = summary[["estimate", "target", "truth"]].astype(float)
    split["bias (target − truth)"] = split["target"] - split["truth"]
    split["noise (estimate − target)"] = split["estimate"] - split["target"]
    return split


def bias_values(split: pd.DataFrame, summary: pd.DataFrame, *, synthetic: bool) -> Cited:
    """The sentence on TWFE's bias and the robust estimator's noise, and their relative s.e."""
    bias, noise = split["bias (target − truth)"], split["noise (estimate − target)"]
    se = summary["std_error"]
    text = (
        f"TWFE's target misses the truth by {bias['TWFE']:.4f}, a bias "
        "that no amount of data would remove; it comes from the weights of the previous sections, "
        "which favour the late cohorts with small effects. The robust estimators target the ATT exactly "
        f"(bias {bias[CS_NEVER]:.4f}): their gap on this panel is noise, "
        f"{noise[CS_NEVER]:.4f}, or {noise[CS_NEVER] / se[CS_NEVER]:.1f} of their "
        f"standard errors ({se[CS_NEVER]:.4f})." if synthetic else
        "On a reader's own data there is no truth, so neither the target nor the bias can be computed "
        "and the bias and noise columns are empty.")
    return Cited({"se_ratio": se[CS_NEVER] / se["TWFE"], "bias_text": text})


#: The heterogeneity-robust estimators of the concordance section beyond CS and Sun-Abraham,
#: and the stacked window (periods before and after adoption).
STACKED_WINDOW = (3, 3)


def robust_estimators(frame: pd.DataFrame, cols: Mapping[str, str], *, dname: str = "CBEC",
                      horizons: int = 4) -> dict:
    """Imputation, de Chaisemartin-D'Haultfoeuille and stacked DID on ``frame`` (name -> result).
    An estimator the panel cannot support (e.g. stacked DID with every cohort's window leaving
    the sample) is left out with its reason in ``extra_notes``."""
    from lib.methods import staggered

    fits, notes = {}, []
    kw = dict(yname=cols["yname"], idname=cols["idname"], tname=cols["tname"])
    for name, run in (("imputation", lambda: staggered.imputation(frame, gname=cols["gname"], **kw)),
                      ("dCDH", lambda: staggered.dcdh(frame, dname=dname, horizons=horizons, **kw)),
                      ("stacked", lambda: staggered.stacked(frame, gname=cols["gname"], kappa_pre=STACKED_WINDOW[0],
                                                           kappa_post=STACKED_WINDOW[1], **kw))):
        try:
            fits[name] = run()
        except ValueError as err:
            notes.append(f"{name}: {err}")
    return {"fits": fits, "notes": notes}


def concordance_table(summary: pd.DataFrame, robust: Mapping, truth_frame: pd.DataFrame,
                      cols: Mapping[str, str], *, synthetic: bool):
    """One row per estimator: its summary ATT (s.e.), what it identifies, and on the book's panel
    its target (the estimator run on the true effects) beside the mean true effect."""
    from lib.methods import staggered
    from lib.present.tables import frame_table

    identifies = {
        "TWFE": "a weighted average of 2x2 comparisons, some against already-treated cities; "
                "weights can be negative under heterogeneous effects",
        "TWFE + controls": "the same, with the controls",
        "Sun-Abraham": "cohort-by-event-time effects against the never treated, averaged with "
                       "cohort shares",
        "Callaway-Sant'Anna (never treated)": "ATT(g,t) against the never treated, averaged over "
                                              "post cells with cohort shares",
        "Callaway-Sant'Anna (not yet treated)": "the same against units not yet treated",
        "Callaway-Sant'Anna + controls (doubly robust)": "the same with TWFE's controls at the base "
                                                         "period (outcome model and propensity score)",
    }
    rows = {name: {"estimate": r["estimate"], "s.e.": r["std_error"],
                   "target": r.get("target", np.nan), "ATT truth": r.get("truth", np.nan),
                   "identifies": identifies.get(name, "")} for name, r in summary.iterrows()}
    kw = dict(yname="true_effect", idname=cols["idname"], tname=cols["tname"])
    for name, fit in robust["fits"].items():
        target = np.nan
        if synthetic:
            spec = fit.spec
            if name == "imputation":
                target = staggered.imputation(truth_frame, gname=cols["gname"], **kw).overall["estimate"]
            elif name == "dCDH":
                target = staggered.dcdh(truth_frame, dname=spec["dname"], horizons=spec["horizons"],
                                        **kw).overall["estimate"]
            else:
                target = staggered.stacked(truth_frame, gname=cols["gname"], kappa_pre=spec["kappa_pre"],
                                           kappa_post=spec["kappa_post"], **kw).overall["estimate"]
        rows[fit.estimator] = {"estimate": fit.overall["estimate"], "s.e.": fit.overall["std_error"],
                               "target": target, "ATT truth": np.nan, "identifies": fit.identifies}
    table = pd.DataFrame(rows).T
    if not synthetic:
        table = table.drop(columns=["target", "ATT truth"])
    notes = ["target = the estimator run on the true effects instead of the outcome: what it reports "
             "without noise; ATT truth = the mean true effect over the treated city-years it uses "
             "(the imputation target is that ATT; dCDH and stacked average their own event times)."
             if synthetic else "No truth is known for these data.", *robust["notes"]]
    return frame_table(table, title="Which estimator identifies what: six estimators of the pilots' effect",
                       notes=notes)


def concordance_event_studies(twfe_es, sa, cs_event, robust: Mapping) -> dict:
    """The event-time estimates of every estimator, for one figure (label -> frame)."""
    out = {"TWFE event study": twfe_es.estimates, "Sun-Abraham": sa.estimates,
           "Callaway-Sant'Anna": cs_event}
    out.update({fit.estimator: fit.estimates for fit in robust["fits"].values()})
    window = twfe_es.estimates.index
    return {k: v.loc[(v.index >= window.min()) & (v.index <= window.max())] for k, v in out.items()}


def cs_sensitivity(cs_universal):
    """Both Rambachan-Roth analyses of the Callaway-Sant'Anna event study (universal base
    period, e = -5..5): the smoothness bounds on the event-study chapter's grid (multiples of the
    e = 0 s.e.) and the C-LF relative-magnitudes bounds on its Mbar grid; ``None, None`` and the
    reason when the panel has too few leads."""
    from lib.book.event_study import RELATIVE_GRID, SMOOTHNESS_GRID_SE
    from lib.methods.sensitivity import honest_callaway_santanna

    ev = cs_universal.aggregate("event", min_e=-5, max_e=5).estimates
    if (ev.index < -1).sum() < 2 or 0 not in ev.index:
        return None, None, ("The sensitivity analysis needs at least two leads before e = -1 and the "
                            "effect at e = 0; this panel's Callaway-Sant'Anna event study has not, so it "
                            "is left out.")
    se0 = float(ev.loc[0, "std_error"])
    sd = honest_callaway_santanna(cs_universal, restriction="smoothness",
                                  grid=[m * se0 for m in SMOOTHNESS_GRID_SE])
    rm = honest_callaway_santanna(cs_universal, restriction="relative_magnitude", grid=list(RELATIVE_GRID))
    return sd, rm, ""


def cs_variants_values(table: pd.DataFrame, *, synthetic: bool) -> Cited:
    """The spread of the Callaway-Sant'Anna variants, what the anticipation variant averages, and
    each variant's record."""
    records = {f"cs_variant {label} / {comparison}": dict(
        estimate=r["estimate"], std_error=r["s.e."], nobs=int(r["N"]),
        target=r.get("target", np.nan), truth=r.get("ATT truth", np.nan))
        for (label, comparison), r in table.iterrows()}
    anticipation = [k for k in table.index if "anticipation" in k[0]]
    main = table.drop(index=anticipation)
    text = (f"Across the {len(main)} variants without anticipation the overall ATT runs from "
            f"{main['estimate'].min():.4f} to {main['estimate'].max():.4f}")
    if synthetic:
        text += (f"; their targets run from {main['target'].min():.4f} to {main['target'].max():.4f}, "
                 f"against a mean true effect of {main['ATT truth'].iloc[0]:.4f}. What separates the "
                 "targets is what each variant averages over (the cities with complete controls, the "
                 "comparison group's cells); what separates an estimate from its target is noise")
    text += "."
    if anticipation:
        r = table.loc[anticipation[0]]
        text += (f" Allowing one year of anticipation moves every base period to two years before "
                 f"adoption and, as diff-diff aggregates, counts the year before adoption among the "
                 f"treated years: {r['estimate']:.4f}")
        text += (f" (target {r['target']:.4f} against a mean true effect of {r['ATT truth']:.4f}, "
                 "because the average now includes that year)." if synthetic else ".")
    return Cited({"csv_text": text}, records=records)
