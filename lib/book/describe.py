"""Describing the panel: adoption timeline, pilot map, batch summary, Table 3.

The data chapter's computations and figures. Functions take a DataFrame in the
book's canonical column names (``lib.data.CITY_PANEL``) and return a frame or a
Figure (``ax=None`` convention of :mod:`lib.present.figures`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lib.present.figures import PALETTE, new_axes

#: Table 3's variables in the paper's order, with the paper's labels.
TABLE3_VARIABLES: dict[str, str] = {
    "Inno": "Urban innovation capacity index",
    "CBEC": "CBEC pilot (treat × post)",
    "lnpop": "Population (log)",
    "lnaca": "Full-time teachers in higher education (log)",
    "lngdp": "Regional GDP (log)",
    "Infra": "Per-capita road area",
    "lngov": "Government fiscal expenditure (log)",
    "lninter": "Internet users (log)",
    "Urban": "Urbanization rate",
    "Incoms": "Retail sales of consumer goods (log)",
}


def adoption_timeline(panel: pd.DataFrame, *, unit: str = "city_id", time: str = "year",
                      adoption: str = "adoption_year", treatment: str = "CBEC") -> pd.DataFrame:
    """Per year: units adopting that year, units treated, and the treated share.

    The share is the mean of the treatment dummy over the units observed that
    year, so its pooled mean over a balanced panel is the mean of ``CBEC`` in
    Table 3.
    """
    first = panel.groupby(unit)[adoption].first()
    years = np.sort(panel[time].unique())
    adopting = first.dropna().astype(int).value_counts().reindex(years, fill_value=0)
    by_year = panel.groupby(time)[treatment].agg(["sum", "count", "mean"])
    out = pd.DataFrame({
        "new_pilots": adopting.to_numpy(),
        "treated_units": by_year["sum"].astype(int).to_numpy(),
        "units": by_year["count"].astype(int).to_numpy(),
        "treated_share": by_year["mean"].to_numpy(),
    }, index=pd.Index(years, name=time))
    return out


def plot_adoption_timeline(timeline: pd.DataFrame, ax: Any = None):
    """Bars: new pilot cities per year; line (right axis): share of cities treated."""
    fig, ax = new_axes(ax)
    years = timeline.index.to_numpy()
    ax.bar(years, timeline["new_pilots"], color=PALETTE["treated"], label="new pilot cities (left)")
    ax.set_xlabel("year")
    ax.set_ylabel("cities designated that year")
    ax.set_xticks(years)
    right = ax.twinx()
    right.plot(years, timeline["treated_share"], color=PALETTE["book"], marker="o",
               label="share of sample cities treated (right)")
    right.set_ylabel("share treated")
    right.set_ylim(0, max(0.5, float(timeline["treated_share"].max()) * 1.15))
    right.grid(False)
    right.spines["right"].set_visible(True)
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    ax.legend(handles, labels, loc="upper left")
    return fig


def plot_pilot_map(frame: pd.DataFrame, all_cities: pd.DataFrame | None = None, *,
                   cohort: str = "adoption_year", ax: Any = None):
    """Scatter of city coordinates, pilot cities coloured by adoption cohort.

    ``frame`` holds the sample cities (one row per city, with ``longitude``,
    ``latitude`` and the cohort column); ``all_cities`` (optional) adds the
    prefecture-level units outside the sample as faint crosses, so the
    sample's coverage is visible. No basemap is drawn: none ships offline.
    """
    fig, ax = new_axes(ax, figsize=(7.5, 5.6))
    if all_cities is not None:
        out = all_cities[~all_cities["city_id"].isin(frame["city_id"])]
        ax.scatter(out["longitude"], out["latitude"], marker="x", s=12, color=PALETTE["reference"],
                   alpha=0.6, label=f"outside the sample ({len(out)})")
    never = frame[frame[cohort].isna()]
    ax.scatter(never["longitude"], never["latitude"], s=14, color="#BBBBBB", edgecolor="none",
               label=f"never treated by 2021 ({len(never)})")
    cohorts = sorted(frame[cohort].dropna().astype(int).unique())
    colours = [PALETTE[k] for k in ("paper", "book", "highlight", "placebo", "treated", "control")]
    for colour, year in zip(colours, cohorts):
        sub = frame[frame[cohort] == year]
        ax.scatter(sub["longitude"], sub["latitude"], s=34, color=colour, edgecolor="white",
                   linewidth=0.5, label=f"pilot from {year} ({len(sub)})", zorder=3)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_aspect(1.15)
    ax.legend(loc="lower left", fontsize=8.5)
    return fig


def approval_gap(batches: pd.DataFrame, last_batch: int = 5) -> dict[str, str]:
    """The dates of batch ``last_batch`` (the paper's last) and of the next one, for the sentence
    on the paper's "105 pilot areas ... by 2021" (``gap_last_date``, ``gap_next_date``)."""
    dates = batches.groupby("batch")["approval_date"].first().sort_index()
    later = dates[dates.index > last_batch]

    def day(d) -> str:
        return f"{d.day} {d:%B %Y}"
    return {"gap_last_date": day(dates.loc[last_batch]),
            "gap_next_date": day(later.iloc[0]) if len(later) else "none"}


def batch_summary(batches: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    """One row per State Council batch: date, document, pilot areas, cities in the sample."""
    in_sample = sample.dropna(subset=["batch"]).groupby("batch")["city_id"].nunique()
    rows = []
    for batch, grp in batches.groupby("batch", sort=True):
        rows.append({
            "batch": int(batch),
            "approval date": pd.Timestamp(grp["approval_date"].iloc[0]).date().isoformat(),
            "document": grp["document_number"].iloc[0],
            "pilot areas": len(grp),
            "of which not a sample city": int(len(grp) - in_sample.get(batch, 0)),
            "sample cities treated": int(in_sample.get(batch, 0)),
            "status of the list": _check_status(grp["check"]),
        })
    return pd.DataFrame(rows).set_index("batch")


def _check_status(check: pd.Series) -> str:
    text = " ".join(check.astype(str)).lower()
    if "not checked" in text or "recalled" in text or "first 17" in text:
        return "partly from memory (not used in 2010-2021)"
    return "verified"



def table3_variables(spec) -> dict[str, str]:
    """The variables of Table 3 for a panel: outcome, treatment, controls and mediators, with the
    paper's labels where they are the paper's variables and their own names otherwise."""
    names = [spec.outcome, spec.treatment, *spec.controls, *spec.mediators]
    return {v: TABLE3_VARIABLES.get(v, v) for v in dict.fromkeys(n for n in names if n)}


def table3_comparison(panel: pd.DataFrame, printed: pd.DataFrame | None,
                      variables: dict[str, str] | None = None) -> pd.DataFrame:
    """Table 3 on ``panel`` beside the printed Table 3 (N, mean, s.d., min, median, max of each).

    ``printed`` is :func:`lib.data.published.published_descriptives` (indexed by
    variable), or None where the paper is not comparable (a reader's panel): then only the
    panel's columns. Returns numbers; the chapter formats them with
    :func:`lib.present.tables.frame_table`.
    """
    from lib.present.tables import descriptive_table

    variables = variables or TABLE3_VARIABLES
    book = descriptive_table(panel, list(variables),
                             stats=("N", "mean", "sd", "min", "median", "max")).data
    if printed is None:
        return pd.DataFrame({"label": [variables[v] for v in variables], "N (book)": book["N"],
                             "mean (book)": book["mean"], "s.d. (book)": book["sd"],
                             "min (book)": book["min"], "median (book)": book["median"],
                             "max (book)": book["max"]})
    paper = printed.set_index("variable") if "variable" in printed.columns else printed
    out = pd.DataFrame({"label": [variables[v] for v in variables]}, index=book.index)
    for stat, book_col, paper_col in (("N", "N", "n"), ("mean", "mean", "mean"), ("s.d.", "sd", "sd"),
                                      ("min", "min", "min"), ("median", "median", "median"),
                                      ("max", "max", "max")):
        out[f"{stat} (book)"] = book[book_col]
        out[f"{stat} (paper)"] = paper[paper_col].reindex(list(variables))
    return out


def table3_extremes_reading(t3: pd.DataFrame, *, tolerance: float = 0.10) -> str:
    """A sentence on the printed minima, medians and maxima against the panel's (empty on a
    reader's panel, where :func:`table3_comparison` has no paper columns)."""
    if "median (paper)" not in t3:
        return ""
    have = t3.dropna(subset=["median (paper)", "median (book)"])
    if have.empty:
        return ""
    gap = ((have["median (book)"] - have["median (paper)"]).abs()
           / have["median (paper)"].abs().where(have["median (paper)"] != 0))
    close = int((gap <= tolerance).sum())
    worst = gap.idxmax()
    outside = [lab for lab, r in t3.iterrows() if pd.notna(r["min (paper)"]) and pd.notna(r["max (paper)"])
               and (r["min (book)"] < r["min (paper)"] or r["max (book)"] > r["max (paper)"])]
    text = (f"The printed minima, medians and maxima are in the table's collapsed columns. The book's "
            f"median is within {tolerance:.0%} of the printed one for {close} of the {len(have)} variables; "
            f"the largest gap is {have.loc[worst, 'label']}'s ({have.loc[worst, 'median (book)']:.4f} "
            f"against {have.loc[worst, 'median (paper)']:.4f}). ")
    if outside:
        labels = [t3.loc[v, "label"] for v in outside]
        text += (f"For {len(outside)} of them ({', '.join(labels[:4])}{' ...' if len(labels) > 4 else ''}) the "
                 "panel's range reaches beyond the printed one: the generator matches means and standard "
                 "deviations, not extremes.")
    return text


#: The sample rule's steps, matched on ``cities.csv``'s ``exclusion_reason``.
SAMPLE_RULE_STEPS = (
    ("1. keep cities: drop autonomous prefectures, prefectures (地区) and leagues", "not a city"),
    ("2. drop cities that became prefecture-level cities after 2010", "prefecture-level city only since"),
    ("3. drop Lhasa (city-yearbook gaps)", "Lhasa"),
    ("4. drop non-pilot cities whose territory was redrawn inside the window (book's convention)",
     "territory changed"),
)


def sample_rule_table(cities: pd.DataFrame) -> pd.DataFrame:
    """From the 2021 frame to the sample, step by step (``lib.data.facts.city_frame(False)``)."""
    reason = cities["exclusion_reason"].fillna("")
    left = len(cities)
    rows = [{"step": "0. 2021 frame: prefecture-level units and the 4 municipalities", "dropped": 0,
             "left": left, "which": ""}]
    for label, key in SAMPLE_RULE_STEPS:
        hit = cities[reason.str.startswith(key)]
        left -= len(hit)
        names = ", ".join(hit["city"].head(12)) + (" ..." if len(hit) > 12 else "")
        rows.append({"step": label, "dropped": len(hit), "left": left, "which": names})
    unexplained = int((reason != "").sum()) - sum(r["dropped"] for r in rows)
    if unexplained:
        raise ValueError(f"{unexplained} excluded cities match no step of SAMPLE_RULE_STEPS; "
                         f"update the steps to match cities.csv's exclusion_reason")
    return pd.DataFrame(rows).set_index("step")


def true_effects_table(truth) -> pd.DataFrame:
    """The truth of a semi-synthetic panel as one long frame: what, level, true ATT."""
    rows = [{"what": "overall", "level": "all treated city-years", "true ATT": truth.att}]
    rows += [{"what": "adoption cohort", "level": str(k), "true ATT": v}
             for k, v in truth.att_by_cohort.items()]
    for group, series in truth.att_by_group.items():
        rows += [{"what": group.replace("_", " "), "level": str(k), "true ATT": v}
                 for k, v in series.items()]
    rows += [{"what": f"indirect via {m}", "level": f"a = {r['a']:.4g}, b = {r['b']:.4g}",
              "true ATT": r["indirect"]} for m, r in truth.indirect.iterrows()]
    return pd.DataFrame(rows)


def plot_true_effects(truth, ax=None):
    """The truth of a semi-synthetic panel: true ATT by event time and by cohort.

    Left: mean true effect at each event time (years since adoption) over the
    cities observed there; right: true ATT by adoption cohort, with the overall
    ATT as a reference line.
    """
    import matplotlib.pyplot as plt

    from lib.present.figures import MARKERS

    if ax is None:
        fig, (left, right) = plt.subplots(1, 2, figsize=(7.5, 3.6), width_ratios=(3, 2))
    else:
        fig, left = new_axes(ax)
        right = None
    ev = truth.att_by_event_time.dropna()
    left.plot(ev.index, ev.to_numpy(), color=PALETTE["truth"], marker=MARKERS["truth"],
              markerfacecolor="white", label="true effect")
    left.axhline(0, color=PALETTE["reference"], linewidth=0.8)
    left.axvline(-0.5, color=PALETTE["reference"], linewidth=0.8, linestyle="--")
    left.set_xlabel("years since designation (event time)")
    left.set_ylabel("true effect on Inno (index points)")
    left.legend(loc="upper left")
    if right is not None:
        cohort = truth.att_by_cohort
        right.bar([str(c) for c in cohort.index], cohort.to_numpy(), color=PALETTE["treated"])
        right.axhline(truth.att, color=PALETTE["truth"], linewidth=1.0, linestyle="--",
                      label=f"overall ATT {truth.att:.4f}")
        right.set_xlabel("adoption cohort")
        right.set_ylabel("true ATT")
        right.legend(loc="upper right")
    return fig


def truth_summary(truth) -> str:
    """One paragraph on a panel's truth, computed from it (for the data chapter's prose)."""
    cohort = truth.att_by_cohort
    region = truth.att_by_group["region"].sort_values(ascending=False)
    industry = truth.att_by_group["industry"]
    size = truth.att_by_group["city_size"]
    ev = truth.att_by_event_time.dropna()
    post = ev[ev.index >= 0]
    return (f"On this panel the average effect of the pilots on the treated city-years, the quantity a "
            f"DID design targets, is {truth.att:.4f} index points. By adoption cohort it ranges from "
            f"{cohort.min():.4f} ({cohort.idxmin()}) to {cohort.max():.4f} ({cohort.idxmax()}); by "
            f"region it is largest in the {region.index[0]} ({region.iloc[0]:.4f}) and smallest in the "
            f"{region.index[-1]} ({region.iloc[-1]:.4f}); it is {industry.get('tertiary', float('nan')):.4f} "
            f"in tertiary- and {industry.get('secondary', float('nan')):.4f} in secondary-dominated cities, "
            f"{size.get('megacity', float('nan')):.4f} in megacities and "
            f"{size.get('large_medium', float('nan')):.4f} in large and medium cities; and it moves from "
            f"{post.iloc[0]:.4f} in the year of designation to {post.iloc[-1]:.4f} at event time "
            f"+{int(post.index[-1])}.")


def cbec_mean_text(paper_mean: float | None) -> str:
    """The end of the sentence on the treatment's mean: the paper's mean and what the match checks,
    only where the paper is comparable (else just the full stop)."""
    if paper_mean is None:
        return "."
    return (f"; the paper prints {paper_mean:.4f}. Because the pilot dates are real, this match is a "
            "check of the sample and the timing rule, not of the simulation: it holds only if the "
            "approval year counts as the first treated year, including for the fourth batch approved "
            "on 15 December 2019. Under the alternative rule (`timing_rule = \"next_year_if_late\"`), "
            "batches approved from July on count from the following year.")


def late_rule_values(late: pd.Series, city_table: pd.DataFrame, years=range(2010, 2022)) -> dict:
    """Treated city-years and the treatment's mean under the ``next_year_if_late`` timing rule, on
    the book's cities and years (keys ``cbec_late_treated``, ``cbec_grid_rows``, ``cbec_mean_late``)."""
    years = np.arange(min(years), max(years) + 1)
    late = late.reindex(city_table["city_id"]).dropna()
    treated = int(sum((years >= a).sum() for a in late))
    rows = len(city_table) * len(years)
    return {"cbec_late_treated": treated, "cbec_grid_rows": rows, "cbec_mean_late": treated / rows}
