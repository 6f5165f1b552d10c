"""What the estimator-lab chapter shows: its tables, figures and the sentences that depend on
the numbers (see :mod:`lib.book.lab` for the runs themselves)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from lib.book.chapter import and_list

__all__ = ["SOURCE", "declare_source", "scenario_table", "estimator_table", "metric_table", "scenario_values",
           "lab_values", "lab_records", "plot_scenario", "METRICS"]

#: What every table and figure of the lab is computed on.
SOURCE = "the book's semi-synthetic city generator, drawn afresh for each simulation draw"


def declare_source() -> None:
    """Say that the page's tables and figures are computed on semi-synthetic draws."""
    from lib.present import provenance

    provenance.declare(provenance.semi_synthetic(SOURCE))
#: Z beyond which a mean error counts as a bias (|mean error| > 3 Monte-Carlo s.e.).
BIAS_Z = 3.0

#: Shorter row labels for the wide tables (the CSV keeps the full names).
SHORT_NAMES = {"Callaway-Sant'Anna + covariates": "CS + covariates",
               "Callaway-Sant'Anna (not yet treated)": "CS, not yet treated"}
#: metric -> (summary column, its MC s.e., scale, header of the wide table)
METRICS = {
    "bias": ("bias", "bias_mcse", "percent of truth", "Mean error, % of the truth (MC s.e.)"),
    "rmse": ("rmse", "rmse_mcse", "percent of truth", "RMSE, % of the truth (MC s.e.)"),
    "coverage": ("coverage", "coverage_mcse", "percent", "Coverage of the 95 % interval, % (MC s.e.)"),
    "pretest": ("pretest_rejects", "pretest_mcse", "percent", "Pre-test rejects at 5 %, % of draws (MC s.e.)"),
}


def _changes(changes: dict) -> str:
    from lib.data.synthetic import SyntheticParams

    if not changes:
        return "none (the shipped panel's parameters)"
    defaults = SyntheticParams()
    return "; ".join(f"{k} = {v:g} (default {getattr(defaults, k):g})" for k, v in changes.items())


def scenario_table():
    """The scenarios: what each changes in the generator and which assumption it breaks."""
    from lib.data.synthetic import SCENARIOS
    from lib.present.tables import frame_table

    df = pd.DataFrame([{"scenario": s.name, "what": s.title, "generator_change": _changes(s.changes),
                        "breaks": s.breaks or "none"} for s in SCENARIOS.values()]).set_index("scenario")
    return frame_table(df, title="The lab's scenarios", name="lab_scenarios",
                       notes="Each scenario changes lib.data.synthetic.SyntheticParams as shown; "
                             "everything else is the shipped panel's process (data/derived/README.md).")


def estimator_table():
    """The estimators: what each one's error is measured against, and its pre-test."""
    from lib.book.lab import ESTIMATORS
    from lib.present.tables import frame_table

    df = pd.DataFrame([{"estimator": e.name, "error_measured_against": e.against,
                        "pre_test": e.pretest or "none"} for e in ESTIMATORS.values()]).set_index("estimator")
    return frame_table(df, title="The lab's estimators", name="lab_estimators",
                       notes="Every estimator runs with the book's defaults: CRV1 by city, 95 % normal "
                             "or t intervals, kernel bandwidth 0.06, five neighbours.")


def _scaled(summary: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.Series]:
    col, se, scale, _ = METRICS[metric]
    if scale == "percent of truth":
        f = 100 / summary["truth"].abs()
    else:
        f = pd.Series(100.0, index=summary.index)
    return summary[col] * f, summary[se] * f


def metric_table(summary: pd.DataFrame, metric: str):
    """One metric for every estimator (rows) and scenario (columns): "value (MC s.e.)"."""
    from lib.book.lab import ESTIMATORS
    from lib.data.synthetic import SCENARIOS
    from lib.present.tables import frame_table

    value, se = _scaled(summary, metric)
    cell = [("—" if pd.isna(v) else f"{v:.1f} ({s:.1f})") for v, s in zip(value, se)]
    wide = (summary.assign(cell=cell).pivot(index="estimator", columns="scenario", values="cell")
            .reindex(index=[e for e in ESTIMATORS if e in set(summary["estimator"])]
                     + [e for e in dict.fromkeys(summary["estimator"]) if e not in ESTIMATORS],
                     columns=[s for s in SCENARIOS if s in set(summary["scenario"])]))
    # soft hyphens let the two long scenario names break, so that seven columns fit the page
    wide.columns = [c.replace("homogeneous", "homo\u00adgeneous").replace("anticipation", "antici\u00adpation")
                    for c in wide.columns]
    wide.index = [SHORT_NAMES.get(e, e) for e in wide.index]
    wide.index.name = "estimator"
    numbers = summary.assign(value=value, value_mcse=se)[
        ["scenario", "estimator", "draws", "failed", "value", "value_mcse"]]
    _, _, _, header = METRICS[metric]
    R = int(summary["draws"].min()) if len(summary) else 0
    notes = ["CS: Callaway-Sant'Anna.", f"Each cell: the metric over {R:,} draws (fewer where a draw failed: see the failures "
             "count), its Monte-Carlo standard error in parentheses. Simulations on the semi-synthetic "
             "generator with a known truth: no paper number exists for them."]
    if metric == "pretest":
        notes.append("— : the estimator has no pre-test here. Where parallel trends and no anticipation "
                     "hold, a correct 5 % test rejects in 5 % of draws.")
    return frame_table(wide.fillna("—"), title=header, name=f"lab_{metric}", notes=notes,
                       numbers=numbers)


def _z(row) -> float:
    return abs(row["bias"]) / row["bias_mcse"] if row["bias_mcse"] > 0 else np.inf


def scenario_values(summary: pd.DataFrame, scenario: str) -> dict[str, str]:
    """The sentences a scenario's section cites (keys ``lab_<scenario>_*``)."""
    g = summary[summary["scenario"] == scenario]
    if g.empty:
        return {f"lab_{scenario}_{k}": "This scenario was not run." for k in ("bias", "coverage", "pretest")}
    g = g[g["draws"] > 0] if (g["draws"] > 0).any() else g
    rel = 100 * g["bias"] / g["truth"].abs()
    rel_se = 100 * g["bias_mcse"] / g["truth"].abs()
    z = g.apply(_z, axis=1)
    fine = g.loc[z <= BIAS_Z, "estimator"].tolist()
    biased = [f"{e} ({r:+.1f} % of the truth, {zz:.1f} MC s.e. from zero)"
              for e, r, zz in zip(g["estimator"], rel, z) if zz > BIAS_Z]
    R = int(g["draws"].max())
    if not R:
        return {f"lab_{scenario}_{k}": "Every run of this scenario failed." for k in ("bias", "coverage", "pretest")}
    if not biased:
        bias = (f"Over {R:,} draws every estimator's mean error is within {BIAS_Z:g} Monte-Carlo "
                "standard errors of zero.")
    else:
        bias = (f"Over {R:,} draws, biased (mean error more than {BIAS_Z:g} Monte-Carlo s.e. from "
                f"zero): {and_list(biased)}."
                + (f" Within {BIAS_Z:g} MC s.e. of the truth: {and_list(fine)}." if fine else
                   " No estimator's mean error is within that distance of the truth."))
    cov = g.dropna(subset=["coverage"])
    lo, hi = cov.loc[cov["coverage"].idxmin()], cov.loc[cov["coverage"].idxmax()]
    coverage = (f"Coverage of the nominal 95 % intervals runs from {100 * lo['coverage']:.0f} % "
                f"({lo['estimator']}) to {100 * hi['coverage']:.0f} % ({hi['estimator']}); "
                f"its Monte-Carlo s.e. is about {100 * np.sqrt(0.95 * 0.05 / R):.1f} points at 95 %.")
    pre = g.dropna(subset=["pretest_rejects"])
    pretest = ("The pre-tests reject parallel trends at 5 % in "
               + and_list(f"{100 * r:.0f} % of draws ({e})" for e, r in
                          zip(pre["estimator"], pre["pretest_rejects"])) + "."
               if len(pre) else "")
    return {f"lab_{scenario}_bias": bias, f"lab_{scenario}_coverage": coverage,
            f"lab_{scenario}_pretest": pretest}


def _get(summary: pd.DataFrame, scenario: str, estimator: str) -> pd.Series:
    g = summary[(summary["scenario"] == scenario) & (summary["estimator"] == estimator)]
    return g.iloc[0] if len(g) else pd.Series(dtype=float)


def lab_values(summary: pd.DataFrame, *, reps: int) -> dict[str, Any]:
    """Everything the chapter cites: one sentence set per scenario, and the headline numbers."""
    from lib.data.synthetic import SCENARIOS

    out: dict[str, Any] = {"lab_reps": reps, "lab_scenarios": len(SCENARIOS),
                           "lab_estimators": int(summary["estimator"].nunique()),
                           "lab_runs": int(summary["draws"].sum() + summary["failed"].sum())}
    failed = int(summary["failed"].sum())
    out["lab_failed"] = ("Every run completed." if not failed else
                         f"{failed} runs failed (a draw the generator rejected or an estimator error); "
                         "they are counted in the tables' draws and listed with their errors in the "
                         "registry.")
    for s in SCENARIOS:
        out.update(scenario_values(summary, s))
    tw, cs = _get(summary, "dynamic", "TWFE"), _get(summary, "homogeneous", "Callaway-Sant'Anna")
    if len(tw):
        out.update(lab_twfe_dyn_bias=100 * tw["bias"] / abs(tw["truth"]),
                   lab_twfe_dyn_bias_se=100 * tw["bias_mcse"] / abs(tw["truth"]),
                   lab_twfe_dyn_gap=100 * tw["estimand_gap"] / abs(tw["truth"]))
    if len(cs):
        out.update(lab_cs_hom_coverage=100 * cs["coverage"], lab_cs_hom_coverage_se=100 * cs["coverage_mcse"])
    return out


def lab_records(summary: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The headline results the chapter records: the mean error of TWFE and of two
    heterogeneity-robust estimators in the shipped panel's process ("dynamic"); its target is 0."""
    out = {}
    keep = summary["estimator"].isin(["TWFE", "Callaway-Sant'Anna", "Imputation (BJS)"])
    for _, r in summary[(summary["scenario"] == "dynamic") & keep].iterrows():
        out[f"lab dynamic: mean error {r['estimator']}"] = dict(
            estimate=r["bias"], std_error=r["bias_mcse"], nobs=int(r["draws"]), truth=0.0)
    return out


def plot_scenario(rows: pd.DataFrame, scenario: str, *, ax: Any = None,
                  estimators: Sequence[str] | None = None) -> Any:
    """Sampling distributions of (estimate − truth) / truth, in %, one box per estimator, in one
    scenario: the box spans the middle half of the draws, the diamond is the mean error."""
    from lib.book.lab import ESTIMATORS
    from lib.present.figures import PALETTE, new_axes

    g = rows[(rows["scenario"] == scenario) & (rows["error"] == "")].dropna(subset=["estimate", "truth"])
    names = [e for e in (estimators or ESTIMATORS) if e in set(g["estimator"])]
    fig, ax = new_axes(ax, figsize=(7.2, 0.42 * len(names) + 1.4))
    errs = []
    for e in names:
        h = g[g["estimator"] == e]
        errs.append((100 * (h["estimate"] - h["truth"]) / h["truth"].abs()).to_numpy())
    ax.boxplot(errs, vert=False, widths=0.55, showfliers=False, medianprops={"color": PALETTE["book"]})
    for j, e in enumerate(errs, start=1):
        jitter = np.random.default_rng(j).uniform(-0.15, 0.15, len(e))
        ax.scatter(e, np.full(len(e), j) + jitter, s=5, color=PALETTE["book"], alpha=0.25, zorder=3)
        ax.scatter([e.mean()], [j], marker="D", s=40, color=PALETTE["highlight"], zorder=4,
                   label="mean error" if j == 1 else None)
    ax.axvline(0, color=PALETTE["truth"], lw=1.3, ls=":", label="truth (error 0)")
    ax.set_yticks(range(1, len(names) + 1))
    ax.set_yticklabels(names)
    ax.invert_yaxis()
    ax.set_xlabel("Estimate − truth, % of the truth (semi-synthetic draws)")
    ax.legend(loc="lower right", fontsize="small")
    return fig
