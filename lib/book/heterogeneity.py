"""The heterogeneity chapter (Tables 7-10): the paper's groupings, its printed terms, and what the prose cites.

:data:`GROUPINGS` and :func:`published_group_effects` are the paper's (its
levels, table numbers and printed ``level*CBEC`` terms), kept out of the
estimators, which take any grouping column.

:func:`table7_values` (regions) and :func:`table10_values` (urban agglomerations)
return the named values of their sections, including the readings whose wording
depends on the estimates (:func:`below_reading`, :func:`agglomeration_reading`).
Tested in ``tests/test_book_sections.py``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from lib.book.chapter import record, record_result
from lib.data.published import published_estimate
from lib.methods.heterogeneity import wald_equal


#: The paper's groupings: panel column -> (levels in the paper's column order,
#: the paper's table number).
GROUPINGS: dict[str, tuple[tuple[str, ...], int]] = {
    "region": (("East", "Central", "West", "Northeast"), 7),
    "industry": (("secondary", "tertiary"), 8),
    "city_size": (("megacity", "large_medium"), 9),
    "agglomeration": (("JJJ", "YRD", "PRD"), 10),
}


#: The paper's printed term for each level (Tables 7-10), in column order.
PAPER_TERMS: dict[str, dict[str, str]] = {
    "region": {"East": "East*CBEC", "Central": "Mid*CBEC", "West": "West*CBEC",
               "Northeast": "Northeast*CBEC"},
    "industry": {"secondary": "Second*CBEC", "tertiary": "Third*CBEC"},
    "city_size": {"megacity": "Large*CBEC", "large_medium": "Medium*CBEC"},
    "agglomeration": {"JJJ": "JJJ*CBEC", "YRD": "Yangtz*CBEC", "PRD": "Pearl*CBEC"},
}


def published_group_effects(group: str) -> dict[str, dict[str, Any]]:
    """The paper's printed ``level×CBEC`` estimates of one grouping: level -> printed dict.

    The paper's parentheses in Tables 7-10 are t statistics (its notes say
    standard errors); :func:`lib.data.published.published_estimate` records them as
    ``stat_kind == "t"``.
    """
    if group not in PAPER_TERMS:
        raise KeyError(f"no printed table for grouping {group!r}; groupings: {list(PAPER_TERMS)}")
    table = GROUPINGS[group][1]
    return {lev: published_estimate("cbec", table, i + 1, term)
            for i, (lev, term) in enumerate(PAPER_TERMS[group].items())}


def paper_effects(comparable: bool):
    """:func:`published_group_effects` where the paper is comparable, else a function giving {}."""
    return published_group_effects if comparable else (lambda group: {})


def record_group_table(ge, table: int, truth: Mapping[str, float] | None, *,
                       paper_comparable: bool = True) -> None:
    """Record every level's three estimates (as printed, subsample, interacted) and the Wald test."""
    paper = published_group_effects(ge.group) if paper_comparable else {}
    for lev in ge.levels:
        true = float(truth[lev]) if truth is not None else None
        record_result(f"table{table}_{lev}_as_printed", ge.interaction[lev], ge.term(lev), truth=true,
                      paper=paper[lev]["estimate"] if lev in paper else None)
        if lev in ge.subsamples:
            record_result(f"table{table}_{lev}_subsample", ge.subsamples[lev], "CBEC", truth=true)
        record_result(f"table{table}_{lev}_interacted", ge.interacted, ge.term(lev), truth=true)
    record(f"table{table}_wald_equal", estimate=ge.wald["statistic"], p=ge.wald["p"],
           nobs=ge.interacted.nobs, df=ge.wald["df"], df_denom=ge.wald["df_denom"])


def below_reading(n_below: int, n_levels: int) -> tuple[str, str]:
    """How many subsample effects lie below the interacted ones, and what that means."""
    count = f"all {n_levels}" if n_below == n_levels else f"{n_below} of the {n_levels}"
    if n_below == n_levels:
        return count, "as expected when the other regions' gains are absorbed into the year effects"
    if n_below > 0:
        return count, ("the direction expected when the other regions' gains are absorbed into the "
                       "year effects; where it is not, sampling noise outweighs that pull")
    return count, ("so on this panel sampling noise outweighs the pull towards zero that the other "
                   "regions' gains exert through the year effects")


def table7_values(region, truth: Mapping[str, float] | None) -> dict[str, Any]:
    """Table 7 (regions): the Wald test, the East and West effects, and the subsample comparison."""
    n_below = int(sum(region.interaction[lev].params[region.term(lev)]
                      < region.interacted.params[region.term(lev)] for lev in region.levels))
    count, reading = below_reading(n_below, len(region.levels))
    r2 = [r.extra["r2_inclusive"] for r in region.interaction.values()]
    return {
        "t7_wald_F": region.wald["statistic"], "t7_wald_p": region.wald["p"],
        "t7_east_printed": region.interaction["East"].params["East×CBEC"],
        "t7_east_interacted": region.interacted.params["East×CBEC"],
        "t7_west_interacted": region.interacted.params["West×CBEC"],
        "t7_west_truth": truth["West"] if truth is not None else np.nan,
        "t7_east_truth": truth["East"] if truth is not None else np.nan,
        "t7_n_below": n_below, "t7_n_levels": len(region.levels),
        "t7_below_count": count, "t7_below_reading": reading,
        "t7_r2_min": min(r2), "t7_r2_max": max(r2),
    }


def agglomeration_reading(pair: Mapping[str, float], *, overall_p: float, three_p: float) -> str:
    """What the YRD-JJJ test and the two joint tests allow one to say about the ranking."""
    if not np.isfinite(pair["p"]):
        return "One of the two agglomerations has no pilot city-years in this sample."
    if pair["p"] < 0.05:
        larger = ("Yangtze River Delta's" if pair["difference"] > 0 else
                  "Beijing-Tianjin-Hebei's (the opposite of the paper's ranking)")
        return ("The pairwise test rejects at the 5 % level, so these data support a difference "
                f"between the two agglomerations, with the {larger} the larger.")
    if overall_p >= 0.05:
        start = "Neither test rejects at the 5 % level: "
    elif three_p >= 0.05:
        start = ("The overall rejection therefore comes from the other cities, not from differences "
                 "among the three agglomerations: ")
    else:
        start = ("The overall rejection comes from differences other than the one between these "
                 "two agglomerations: ")
    return (start + "on these intervals, \"strong in the Yangtze River Delta, weak in "
            "Beijing-Tianjin-Hebei\" is a ranking of point estimates, not a finding.")


def table10_values(agglo) -> dict[str, Any]:
    """Table 10 (agglomerations): the Wald tests, the JJJ interval and the YRD-JJJ comparison."""
    # a level without treated rows (or without its subsample fit) on this panel reads as missing
    ci = (agglo.interacted.conf_int().loc[agglo.term("JJJ")] if "JJJ" in agglo.levels
          else {"lower": np.nan, "upper": np.nan})
    pair = (agglo.pairwise("YRD", "JJJ") if {"YRD", "JJJ"} <= set(agglo.levels)
            else dict.fromkeys(("difference", "std_error", "statistic", "p"), np.nan))
    three = wald_equal(agglo.interacted.params, agglo.interacted.cov,
                       [agglo.term(lev) for lev in agglo.levels], dof_resid=agglo.interacted.dof_resid)
    return {
        "t10_wald_F": agglo.wald["statistic"], "t10_wald_p": agglo.wald["p"],
        "t10_wald_df": agglo.wald["df"], "t10_wald_df_denom": agglo.wald["df_denom"],
        "t10_jjj_ci_lo": ci["lower"], "t10_jjj_ci_hi": ci["upper"],
        "t10_jjj_n": int(agglo.subsamples["JJJ"].nobs) if "JJJ" in agglo.subsamples else 0,
        "t10_yrd_jjj_diff": pair["difference"], "t10_yrd_jjj_se": pair["std_error"],
        "t10_yrd_jjj_F": pair["statistic"], "t10_yrd_jjj_p": pair["p"], "t10_three_p": three["p"],
        "t10_reading": agglomeration_reading(pair, overall_p=agglo.wald["p"], three_p=three["p"]),
    }


def interaction_values(ge, prefix: str, truth: Mapping[str, float] | None, *,
                       short: Mapping[str, str], printed: str) -> dict[str, Any]:
    """Tables 8 and 9's prose: the Wald test of equal effects (``<prefix>_wald_F``, ``_p``), the
    ``printed`` level's coefficient as the paper specifies it (``<prefix>_<short>_printed``),
    and each level's interacted coefficient and truth (``_interacted``, ``_truth``); ``short``
    maps a level to its key."""
    values = {f"{prefix}_wald_F": ge.wald["statistic"], f"{prefix}_wald_p": ge.wald["p"],
              f"{prefix}_{short[printed]}_printed": ge.interaction[printed].params[ge.term(printed)]
              if printed in ge.interaction else np.nan}
    for level, key in short.items():   # a level without treated rows on this panel: missing
        values[f"{prefix}_{key}_interacted"] = (ge.interacted.params[ge.term(level)]
                                                if level in ge.levels else np.nan)
        values[f"{prefix}_{key}_truth"] = truth[level] if truth is not None else np.nan
    return values


def chapter_groupings(frame) -> None:
    """Check that the panel has the paper's four groupings, or say why the chapter cannot run."""
    from lib.book.chapter import ChapterUnsupported

    missing = [g for g in GROUPINGS if g not in frame.columns]
    if missing:
        raise ChapterUnsupported(
            "This chapter replicates the paper's Tables 7-10, one section for each of its groupings of "
            f"cities (region, industry, city_size, agglomeration); this panel has no {', '.join(missing)} "
            "column. Map your grouping columns to these names under `columns:` in the column file to run "
            "it. The chapter \"Group effects and mediators on any panel\" (groups_mediators) runs the "
            "same designs on the groupings your column file names under `groups:`.")
