"""What the PSM-DID chapter's sections cite, and the sentences whose wording depends on the data.

One function per section returns its named values (a :class:`~lib.book.chapter.Cited`
where the section also records estimates), glued with one ``book.glue_all``;
:func:`table6_values` adds the reading of the estimates against the truth
(:func:`table6_reading`, only on the book's data). Tested in ``tests/test_book_sections.py``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from lib.book.chapter import Cited, estimate_values, record, result_record
from lib.data.published import MATCHING_LABELS, MATCHING_VARIABLES
from lib.methods.psm import ci_covers


def truth_clause(label: str, estimate: float, se: float, truth: float, se_label: str) -> str:
    """One clause comparing an estimate with the truth, for glued prose.

    E.g. ``"the kernel ATT is 1.7 bootstrap s.e. below it and its 95 %
    interval, from -0.2187 to 0.0267, covers it"`` ("it" is the truth, named
    before the clause). Distance in s.e., side and coverage are computed.
    """
    z = stats.norm.ppf(0.975)
    lo, hi = estimate - z * se, estimate + z * se
    side = "below" if estimate < truth else "above"
    covers = "covers" if ci_covers(estimate, se, truth) else "excludes"
    return (f"{label} is {abs(estimate - truth) / se:.1f} {se_label} s.e. {side} it and its 95 % "
            f"interval, from {lo:.4f} to {hi:.4f}, {covers} it")


def table6_reading(kernel, nn, truth: float, *, k: int) -> str:
    """The kernel and k:1 NN ATTs read against the truth of the matched city-years (book's data)."""
    covers = {"kernel": ci_covers(kernel.att, kernel.se, truth), "nn": ci_covers(nn.att, nn.se, truth)}
    far = [abs(m.att - truth) > abs(truth) for m in (kernel, nn)]
    wide = [name for name, f in zip(("kernel", "nearest-neighbour"), far)
            if f and covers["kernel" if name == "kernel" else "nn"]]
    many = len(wide) > 1
    text = (f"The truth for these city-years is {truth:.4f}: "
            + truth_clause("the kernel ATT", kernel.att, kernel.se, truth, "bootstrap")
            + "; " + truth_clause(f"the {k}:1 nearest-neighbour ATT", nn.att, nn.se, truth,
                                  "clustered" if getattr(nn, "spec", {}).get("cluster") else "Abadie-Imbens") + ". ")
    if wide:
        text += (f"The {' and the '.join(wide)} interval{'s' if many else ''} "
                 f"cover{'' if many else 's'} the truth only because {'they are' if many else 'it is'} "
                 f"wide: the point estimate{'s are' if many else ' is'} further from the truth than "
                 "the truth is from zero. ")
    if any(far):
        return text + ("On these data, pooled matching misses the truth, and this is the main lesson "
                       "of the chapter.")
    return text + ("On this draw the matched ATTs land near the truth; the reasons below why pooled "
                   "level matching can miss it still apply.")


def table6_values(kernel, nn, nn_boot, re_boot, truth, *, synthetic: bool, k: int,
                  bootstrap_reps: int) -> dict[str, Any]:
    """The named values of the Table 6 section (keys ``t6_*`` and ``reps``)."""
    t6_truth = kernel.true_att(truth)
    return {
        "t6_kernel_att": kernel.att, "t6_kernel_se": kernel.se, "t6_kernel_truth": t6_truth,
        "t6_nn_att": nn.att, "t6_nn_se": nn.se, "t6_nn_boot_se": nn_boot.se,
        "t6_kernel_se_reest": re_boot.se, "t6_nn_truth": nn.true_att(truth), "reps": bootstrap_reps,
        "t6_truth_reading": table6_reading(kernel, nn, t6_truth, k=k) if synthetic else "",
        "t6_kernel_covers": ci_covers(kernel.att, kernel.se, t6_truth),
        "t6_nn_covers": ci_covers(nn.att, nn.se, t6_truth),
    }


def se_menu(kernel, nn, *, nn_boot, re_boot, cluster: str | None, unit: str | None = None) -> pd.DataFrame:
    """Every standard error the book can give Table 6's two ATTs, one row per kind, with whether it
    lets a unit's rows be correlated (``cluster``, the unit column, called ``unit`` in the labels;
    None on a cross-section, where the clustered rows are left out). NaN where a kind does not
    apply to an estimator (the estimated-score adjustment needs matching with replacement); the
    plain bootstrap of nearest-neighbour matching is shown, marked invalid (Abadie & Imbens 2008)."""
    from lib.methods import psm

    nn_ai = nn.extra.get("se_unclustered", nn.se)
    try:
        ai2016 = psm.abadie_imbens_2016_se(nn)
    except psm.PSMError:
        ai2016 = np.nan
    rows = [("psmatch2's default (rows independent, one outcome variance per group)",
             psm.psmatch2_se(kernel), psm.psmatch2_se(nn), "no"),
            ("Abadie-Imbens (2006), score treated as known", np.nan, nn_ai, "no"),
            ("Abadie-Imbens (2016), score estimated (teffects)", np.nan, ai2016, "no")]
    unit = unit or cluster or "unit"
    if cluster:
        rows.append((f"clustered by {unit}, analytic", psm.clustered_se(kernel, cluster=cluster),
                     nn.se if nn.spec.get("cluster") else psm.clustered_se(nn, cluster=cluster), "yes"))
    resampled = unit if cluster else "row"
    rows += [(f"{resampled} bootstrap, score fixed (invalid for NN)", kernel.se, nn_boot.se,
              "yes" if cluster else "no"),
             (f"{resampled} bootstrap, score re-estimated", re_boot.se, np.nan,
              "yes" if cluster else "no")]
    out = pd.DataFrame(rows, columns=["standard error", "kernel", "nearest neighbour",
                                      f"a {unit}'s rows may be correlated"])
    return out.set_index("standard error")


def se_values(menu: pd.DataFrame, *, cluster: str | None, unit: str | None = None) -> dict[str, Any]:
    """The sentence on how far apart Table 6's s.e. (:func:`se_menu`) are (``t6_se_text``) and the
    ratios it cites."""
    ps2 = menu.iloc[0]
    unit = unit or cluster
    if not cluster:
        return {"t6_se_text": ("On a cross-section the rows are the units, and the analytic and "
                               "bootstrap s.e. above estimate the same variance.")}
    cl = menu.loc[f"clustered by {unit}, analytic"]
    r_k, r_nn = cl["kernel"] / ps2["kernel"], cl["nearest neighbour"] / ps2["nearest neighbour"]
    ai = menu.loc["Abadie-Imbens (2006), score treated as known", "nearest neighbour"]
    return {"t6_ratio_kernel": r_k, "t6_ratio_nn": r_nn,
            "t6_se_text": (
                f"The clustered s.e. are {r_k:.0f} (kernel) and {r_nn:.0f} (nearest neighbour) times "
                f"psmatch2's default, and the clustered nearest-neighbour s.e. is "
                f"{cl['nearest neighbour'] / ai:.1f} times the Abadie-Imbens one. The default treats "
                f"every row as an independent draw with one outcome variance per group; here a "
                f"{unit}'s rows share its level, and the controls that carry the matching weight "
                "are few and far more variable than the average control.")}


def support_choices(score, *, bandwidth: float, k: int, ties: str, seed: int, truth,
                    cluster: str | None) -> tuple[list[dict], list[str]]:
    r"""Comparison rows for the support choices a reader can make, kernel and k:1 NN each: no
    support restriction, ``psmatch2, common`` (the book's and the paper's default), and Crump et
    al.'s (2009) trimming to :math:`[\alpha, 1-\alpha]`; s.e. clustered by ``cluster`` (the
    unit column) where there is one. A choice the data cannot support is left out and said."""
    from lib.methods import psm
    from lib.present import tables

    rows, notes = [], []
    try:
        trimmed = psm.trim_overlap(score)
        a = trimmed.trimmed["alpha"]
        notes.append(f"Crump et al.'s rule gives α = {a:.3f}: it removes {trimmed.trimmed['treated']:,} "
                     f"treated and {trimmed.trimmed['control']:,} control rows before matching.")
    except psm.PSMError as err:
        trimmed, a = None, float("nan")
        notes.append(f"Crump trimming: {err}")
    choices = [("no support restriction", score, False), ("common support (default)", score, True)]
    if trimmed is not None:
        choices.append((f"Crump trimming, α = {a:.3f}", trimmed, True))
    for label, sc, common in choices:
        for est in ("kernel", "nn"):
            try:
                m = (psm.kernel_match(sc, bandwidth=bandwidth, common=common) if est == "kernel"
                     else psm.nn_match(sc, k=k, ties=ties, seed=seed, common=common))
                se = psm.clustered_se(m, cluster=cluster) if cluster else (
                    m.se if est == "nn" else psm.psmatch2_se(m))
            except psm.PSMError as err:
                notes.append(f"{label}, {est}: {err}")
                continue
            row = tables.comparison_row(f"{label}: {'kernel' if est == 'kernel' else f'{k}:1 NN'}",
                                        book=m.att, book_se=se, truth=m.true_att(truth))
            row["book_n"] = m.n_treated
            rows.append(row)
    return rows, notes


def record_table6(kernel, nn, nn_boot, re_boot, truth, paper: Mapping[str, Mapping[str, Any] | None]) -> None:
    """Record Table 6's kernel and NN ATTs, and the two s.e. shown only for comparison (``paper``'s
    entries are None where the paper is not comparable)."""
    for name, m, key in (("Table 6 kernel ATT", kernel, "kernel"), ("Table 6 NN ATT", nn, "nn5")):
        record(name, estimate=m.att, std_error=m.se, nobs=m.n_treated, truth=m.true_att(truth),
               paper=(paper.get(key) or {}).get("estimate"), se_kind=m.se_kind,
               off_support=m.n_off_support)
    record("Table 6 NN ATT, bootstrap s.e. (invalid; comparison)", estimate=nn.att,
           std_error=nn_boot.se, truth=nn.true_att(truth))
    if "se_unclustered" in nn.extra:
        record("Table 6 NN ATT, Abadie-Imbens s.e. (rows independent; comparison)", estimate=nn.att,
               std_error=nn.extra["se_unclustered"], truth=nn.true_att(truth))
    record("Table 6 kernel ATT, score re-estimated per rep", estimate=kernel.att,
           std_error=re_boot.se, truth=kernel.true_att(truth))


__all__ = ["truth_clause", "table6_reading", "table6_values", "record_table6", "se_menu",
           "se_values", "support_choices"]


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def cohort_match_values(strict, pooled, alt, truth, *, other_controls: str, synthetic: bool,
                        failure: str = "") -> dict[str, Any]:
    """The stricter cohort-matched DID (kernel) against the pooled kernel ATT and the other
    control group's coverage, as the section's paragraph (``strict_text``); ``strict`` None
    (the design failed on this panel) gives ``failure`` instead."""
    if strict is None:
        return {"strict_text": failure}
    sk = strict["kernel"]
    rows, cities = sk.counts["treated_city_years"], sk.counts["treated_cities"]
    if synthetic:
        against = (f" against a truth of {sk.true_att(truth):.4f} on its {rows} treated city-years. The gap "
                   f"is {abs(sk.att - sk.true_att(truth)) / sk.se:.1f} bootstrap s.e., against "
                   f"{abs(pooled.att - pooled.true_att(truth)) / pooled.se:.1f} for the pooled kernel ATT. But")
    else:
        against = f" on its {rows} treated city-years. But"
    alt_sentence = "" if alt is None else (
        f'With cohort_controls = "{other_controls}" instead, the kernel estimate covers '
        f'{_count(alt.counts["treated_cities"], "pilot city", "pilot cities")} '
        f'({_count(alt.counts["treated_city_years"], "treated city-year", "treated city-years")}). ')
    return {"strict_text": (
        f"The cohort-matched kernel DID is {sk.att:.4f} (s.e. {sk.se:.4f}){against} the estimate covers "
        f"only {cities} pilot cities. The rest have pre-adoption scores above those of every available "
        "control and are dropped, so the estimate answers the question for a smaller population, and "
        f"says so. {alt_sentence}When overlap is thin, matching can only say how little of the treated "
        "group it can speak for.")}


def cohort_failure(err: Exception) -> str:
    """The stricter design's sentence when matching cannot run on this panel."""
    return (f"On this panel the cohort-matched design cannot be estimated: {err} The pooled estimates "
            "above do not depend on it.")


def record_cohort_match(strict, truth) -> None:
    for m, r in (strict or {}).items():
        record(f"cohort-matched DID ({m})", estimate=r.att, std_error=r.se,
               nobs=r.counts["treated_city_years"], truth=r.true_att(truth), **r.spec)


def support_loss_word(n_lost: int, n_pilot: int) -> str:
    """How many pilot city-years the support condition removed: all, most, some or none."""
    if n_lost == n_pilot:
        return "all"
    return "most" if n_lost > n_pilot / 2 else "some" if n_lost else "none"


def literal_values(literal, pilot, truth, true_att: float, *, synthetic: bool) -> Cited:
    """The literal (ever-pilot) reading of eq. (8): counts on and off support, and, on the book's
    data, how its estimand is diluted. ``pilot`` flags the matched treated rows that are pilot
    city-years (``CBEC == 1``)."""
    on = literal.on_support
    n_lost = int((pilot & ~on).sum())
    values = {"literal_att": literal.att, "literal_n_all": len(pilot), "literal_n_pilot": int(pilot.sum()),
              "literal_off": literal.n_off_support, "literal_off_pilot": n_lost,
              "literal_on": literal.n_treated, "literal_on_pilot": int((pilot & on).sum()),
              "literal_truth_sentence": ""}
    if synthetic:
        lost = support_loss_word(n_lost, int(pilot.sum()))
        values["literal_truth_sentence"] = (
            "The estimand is diluted by the pre-pilot years"
            + (f" and again by the loss of {lost} pilot years to the support condition" if n_lost else "")
            + f": its truth is {literal.true_att(truth):.4f}, against "
            f"{literal.true_att(truth, support_only=False):.4f} over all {len(pilot):,} ever-pilot "
            f"city-years before trimming and {true_att:.4f} for the pilot city-years. ")
    return Cited(values, records={"kernel ATT, ever-pilot treatment": dict(
        estimate=literal.att, truth=literal.true_att(truth), nobs=literal.n_treated)})


# ------------------------------------------------------------------ the earlier sections
def paper_reading_values(share: pd.Series, frame: pd.DataFrame, *, paper_counts: Mapping[str, int],
                         cbec_mean_paper: float, dname: str, treated: str, idname: str) -> dict[str, Any]:
    """What the paper matched: the treated share its Tables 3 and 5 imply, against the
    ever-pilot share and the pilot city-years (``dname``) of the panel."""
    return {"share_median": share.median(),
            "n_pilot_cities": int(frame.loc[frame[treated] == 1, idname].nunique()),
            "ever_share": frame[treated].mean(), "cbec_mean_paper": cbec_mean_paper,
            "p6_treated": paper_counts["treated"], "p6_control": paper_counts["control"],
            "p6_sum": paper_counts["treated"] + paper_counts["control"],
            "n_cbec_rows": int(frame[dname].sum())}


def score_values(score, *, synthetic: bool) -> dict[str, Any]:
    """The propensity score's sample counts and fit, and, on the book's data, how selection
    was built into it (keys ``score_*``)."""
    counts = score.counts()
    return {"score_n": counts["rows"], "score_treated": counts["treated"],
            "score_control": counts["control"], "score_dropped": counts["dropped"],
            "score_r2": score.pseudo_r2, "score_lr": score.lr_chi2,
            "score_design": " Selection on observables is built into the semi-synthetic panel, "
                            "where pilot cities are larger and richer." if synthetic else ""}


def support_values(kernel, nn, score, *, bandwidth: float) -> dict[str, Any]:
    """The bandwidth, the treated rows off the common support and the controls each match uses."""
    return {"bw": bandwidth, "off_support": kernel.n_off_support, "on_support": kernel.n_treated,
            "nn_controls_used": nn.n_control_used,
            "max_control_score": float(score.score[score.treat == 0].max())}


def top_support_values(score, kernel, *, above: float = 0.9) -> dict[str, Any]:
    """How many controls have a score above ``above`` and their share of the kernel weight."""
    control_scores = score.frame.loc[kernel.control_index, "_score"].to_numpy()
    top = control_scores > above
    weights = kernel.control_weights()
    return {"n_top_controls": int(top.sum()), "top_weight_share": weights[top].sum() / weights.sum()}


def balance_values(balance: pd.DataFrame, summary: pd.DataFrame,
                   paper_balance: pd.DataFrame) -> dict[str, Any]:
    """Mean and largest absolute %bias before and after matching, Rubin's B and R, and the
    paper's own matched balance (its mean %bias and the t-tests that still reject)."""
    bias_u = balance.xs("unmatched", level="sample")["std_bias"].abs()
    bias_m = balance.xs("matched", level="sample")["std_bias"].abs()
    paper_m = paper_balance[paper_balance["sample"] == "matched"]
    return {"bias_u_mean": bias_u.mean(), "bias_m_mean": bias_m.mean(), "bias_m_max": bias_m.max(),
            "rubin_B_m": summary.loc["matched", "rubin_B"], "rubin_R_m": summary.loc["matched", "rubin_R"],
            "paper_reject": int((paper_m["p"] < 0.05).sum()),
            "paper_bias_m_mean": paper_m["std_bias"].abs().mean()}


def psm_did_truths(fits: Mapping[str, Any], data) -> dict[str, float]:
    """Each PSM-DID regression's truth: the mean true effect over the treated rows it used."""
    def rows_of(res):
        return data.frame.loc[res.extra["rows"]] if "rows" in res.extra else data.frame

    return {name: data.true_att_of(res, rows_of(res)) for name, res in fits.items()}


def psm_did_values(fits: Mapping[str, Any], truths: Mapping[str, float], *, term: str,
                   paper: float | None, baseline: str, matched: str, support: str) -> Cited:
    """The matched regressions' coefficients (``psmdid_matched_*``, ``psmdid_support_*``,
    ``psmdid_base_*``), the truth on the common support, and a record per regression."""
    values = {**estimate_values("psmdid_matched", fits[matched], term),
              **estimate_values("psmdid_support", fits[support], term),
              **estimate_values("psmdid_base", fits[baseline], term),
              "psmdid_truth": truths[support],
              "psmdid_truth_text": (f", and the truth is {truths[support]:.4f}"
                                    if truths[support] is not None and np.isfinite(truths[support]) else "")}
    records = {f"PSM-DID {name}": result_record(res, term, truth=truths[name],
                                                paper=paper if name == baseline else None)
               for name, res in fits.items()}
    return Cited(values, records=records)


# ------------------------------------------------------------------ chapter tables
def table5_comparison(balance: pd.DataFrame, printed: pd.DataFrame,
                      labels: dict[str, str] | None = None) -> pd.DataFrame:
    """Table 5 as ``pstest`` prints it, this book's numbers beside the paper's.

    ``printed`` is :func:`lib.data.published.published_balance`. Returns a frame
    indexed by (variable label, sample) with the book's means, ``t`` and ``p``,
    % bias and % reduction, then the paper's % bias and % reduction; :func:`table5` shows it.
    """
    labels = labels or MATCHING_LABELS  # the paper's labels; a reader's columns keep their names
    pr = printed.set_index(["variable", "sample"])
    rows = []
    for (var, smp), r in balance.iterrows():
        p = pr.loc[(var, smp)] if (var, smp) in pr.index else None
        rows.append({
            "variable": labels.get(var, var), "sample": smp,
            "treated": r["treated_mean"], "control": r["control_mean"],
            "t": r["t"], "p": r["p"],
            "% bias": r["std_bias"], "% reduction": r["bias_reduction_pct"],
            "paper % bias": None if p is None else p["std_bias"],
            "paper % reduction": None if p is None else p["bias_reduction_pct"],
        })
    return pd.DataFrame(rows).set_index(["variable", "sample"])


def table5(balance: pd.DataFrame, printed: pd.DataFrame, *, title: str, notes: str = "",
           labels: dict[str, str] | None = None):
    """:func:`table5_comparison` as the book shows it: ``t (p)`` in one column, as ``pstest``
    prints it (the CSV keeps t and p apart)."""
    from lib.present.tables import frame_table

    numbers = table5_comparison(balance, printed, labels)
    shown = numbers.drop(columns=["t", "p"])
    shown.insert(2, "t (p)", [f"{t:.2f} ({p:.3f})" for t, p in zip(numbers["t"], numbers["p"])])
    return frame_table(shown, title=title, notes=notes, numbers=numbers,
                       float_format={"treated": "{:.4f}", "control": "{:.4f}", "% bias": "{:.1f}",
                                     "% reduction": "{:.1f}", "paper % bias": "{:.1f}",
                                     "paper % reduction": "{:.1f}"})


def counts_table(matches: dict[str, Any], paper: dict[str, dict] | None = None) -> pd.DataFrame:
    """Sample counts per matching estimator (Table 6's bottom rows), with the paper's as printed.

    The paper prints treated 3,011 and control 305 (total 3,360); its N of
    complete rows is 3,316 = 3,011 + 305, and 305 is close to the number of
    pilot city-years, so the two counts look swapped.
    """
    rows = []
    for name, m in matches.items():
        c = m.counts()
        rows.append({"estimator": name, "treated on support": c["treated_on_support"],
                     "treated off support": c["treated_off_support"], "control": c["control"],
                     "control matched": c["control_matched"], "total": c["total"]})
    if paper:
        for name, p in paper.items():
            rows.append({"estimator": f"{name}, paper as printed", "treated on support": p["treated"],
                         "treated off support": None, "control": p["control"],
                         "control matched": None, "total": p["total"]})
    return pd.DataFrame(rows).set_index("estimator").astype("Int64")


def matching_covariates(spec) -> list[str]:
    """The covariates of the propensity score: the panel's controls (on the book's panel, Table 5's
    eight matching variables), or why this panel cannot run the chapter."""
    from lib.book.chapter import ChapterUnsupported

    if not spec.controls:
        raise ChapterUnsupported(
            "Matching needs covariates to estimate a propensity score, and the column file names "
            "no controls. List them under `controls:` to run this chapter.")
    if set(spec.controls) == set(MATCHING_VARIABLES):   # Table 5's order
        return list(MATCHING_VARIABLES)
    return list(spec.controls)


def nn_variants(score, *, k: int, ties: str, seed: int, truth) -> tuple[list[dict], list[str]]:
    """The nearest-neighbour choices a reader can make, as comparison rows: k:1 with replacement
    (Abadie-Imbens s.e. as Stata ``teffects``, the same matches with the s.e. clustered by unit
    (:func:`lib.methods.psm.clustered_se`), and with R ``Matching``'s conditional variance),
    k:1 within a caliper of a quarter of the score's s.d., 1:1 and k:1 without replacement
    (greedy, largest score first, as MatchIt); a variant the panel cannot support (too few
    controls to match without replacement) is left out and said."""
    from lib.methods import psm
    from lib.present import tables

    caliper = 0.25 * float(score.score.std())   # Rosenbaum & Rubin's (1985) quarter s.d. of the score
    specs = [(f"{k}:1, with replacement (AI s.e., teffects)", dict(k=k, ties=ties, seed=seed)),
             (f"{k}:1, with replacement (AI s.e., R Matching)", dict(k=k, ties=ties, seed=seed,
                                                                   conditional_variance="sample")),
             (f"{k}:1, caliper {caliper:.3f} (¼ s.d. of the score)", dict(k=k, ties=ties, seed=seed,
                                                                         caliper=caliper)),
             ("1:1, without replacement", dict(k=1, replace=False)),
             (f"{k}:1, without replacement", dict(k=k, replace=False))]
    rows, notes = [], []
    for label, kw in specs:
        try:
            m = psm.nn_match(score, **kw)
        except psm.PSMError as err:
            notes.append(f"{label}: {err}")
            continue
        row = tables.comparison_row(label, book=m.att, book_se=m.se, truth=m.true_att(truth))
        row["book_n"] = m.n_treated
        rows.append(row)
        if label == specs[0][0] and score.idname:   # the same matches, s.e. clustered by unit
            try:
                se = psm.clustered_se(m)
            except psm.PSMError as err:
                notes.append(f"clustered s.e.: {err}")
                continue
            row = tables.comparison_row(f"{k}:1, with replacement (clustered s.e.)", book=m.att,
                                        book_se=se, truth=m.true_att(truth))
            row["book_n"] = m.n_treated
            rows.append(row)
    return rows, notes


def smd_table(match, covariates) -> pd.DataFrame:
    """:func:`lib.methods.psm.balance_smd` as one row per covariate (in the score's order):
    SMD and variance ratio, unmatched then matched."""
    from lib.methods.psm import balance_smd

    b = balance_smd(match, covariates)
    out = pd.DataFrame({f"{label} ({sample})": b.xs(sample, level="sample")[col]
                        for col, label in (("smd", "SMD"), ("var_ratio", "variance ratio"))
                        for sample in ("unmatched", "matched")})
    return out.reindex(list(covariates)).rename(index=lambda c: MATCHING_LABELS.get(c, c))


def clustered_values(nn, *, idname: str) -> dict[str, str]:
    """The sentence on how much of the clustered NN variance one unit carries (``nn_cluster_text``):
    said when one unit has at least a third of it, with the unit's label and its untreated rows'
    share of the matching weight given to controls."""
    from lib.methods.psm import clustered_variance_shares

    if nn.score.idname is None:
        return {"nn_cluster_text": ""}
    shares = clustered_variance_shares(nn, cluster=idname)
    top, share = shares.index[0], float(shares.iloc[0])
    if share < 1 / 3:
        return {"nn_cluster_text": (f"No single {idname} dominates the clustered variance (the largest "
                                    f"share is {100 * share:.0f} %).")}
    K = np.asarray(nn.weights)[nn.on_support].sum(axis=0)
    own = nn.score.frame.loc[nn.control_index, idname].to_numpy() == top
    weight = 100 * K[own].sum() / K.sum()
    return {"nn_cluster_text": (
        f"{100 * share:.0f} % of the clustered variance comes from one {idname}, {top}, whose untreated "
        f"rows carry {weight:.0f} % of the matching weight given to controls. With one cluster "
        "carrying the uncertainty, neither this s.e. nor a cluster bootstrap can be trusted: the "
        "estimate rests on that unit.")}


def rosenbaum_values(rb) -> dict[str, str]:
    """The sentence on the Rosenbaum bounds (``rosenbaum_text``), from the critical Γ."""
    sign = "positive" if rb.alternative == "greater" else "negative"
    p1 = float(rb.bounds["p_upper"].iloc[0])
    if np.isnan(rb.critical_gamma):
        text = (f"The signed-rank test of a {sign} effect is not significant even without hidden bias "
                f"(p = {p1:.3f} at Γ = 1), so there is nothing for a confounder to explain away.")
    elif np.isinf(rb.critical_gamma):
        text = (f"The signed-rank test of a {sign} effect stays significant at every Γ up to "
                f"{rb.bounds.index.max():g}: a hidden confounder would have to change the odds of "
                "treatment within a match by more than that to explain it away.")
    else:
        text = (f"The signed-rank test of a {sign} effect (p = {p1:.3g} at Γ = 1) stops being significant "
                f"at Γ = {rb.critical_gamma:g}: a hidden confounder that changed the odds of treatment "
                f"within a match by a factor of {rb.critical_gamma:g} could explain it away.")
    return {"rosenbaum_text": text + " The bounds speak to hidden bias only, not to the bias from "
                                     "observed differences that matching left in place."}
