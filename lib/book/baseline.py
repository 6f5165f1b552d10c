"""What the baseline chapter (Table 4) needs from a panel, and the sentences that depend on it.

:func:`two_by_two` picks the four-means illustration's cohort and periods from the data;
:func:`table4_values` words the three columns against the paper (only where the paper is
comparable) and the truth (only where there is one). Tested in ``tests/test_book_sections.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from lib.book.chapter import Cited, estimate_values, result_record

__all__ = ["TwoByTwo", "two_by_two", "table4_values", "selection_unsupported", "selection_values"]


@dataclass(frozen=True)
class TwoByTwo:
    """A 2x2 design: one cohort against a comparison group, in the period before it is first
    treated and its first treated period; only units observed in both periods."""

    frame: pd.DataFrame
    means: pd.DataFrame
    did: float
    cohort: Any
    before: Any
    after: Any
    comparison: str
    n_treated: int
    n_control: int
    note: str

    def values(self) -> dict[str, Any]:
        unit = "unit" if self.n_treated == 1 else "units"
        return {"did_2x2": self.did, "tbt_cohort": _label(self.cohort), "tbt_before": _label(self.before),
                "tbt_after": _label(self.after), "tbt_n_treated": self.n_treated,
                "tbt_units": unit, "tbt_n_control": self.n_control, "tbt_comparison": self.comparison,
                "tbt_note": self.note}


def _label(v: Any) -> Any:
    return int(v) if isinstance(v, (int, float, np.integer, np.floating)) and float(v).is_integer() else v


def two_by_two(frame: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
               cohort: Any = None) -> TwoByTwo:
    """The four-means DID of one cohort: ``cohort`` if the data support it, else the largest
    cohort that has a period before its first treated one and a comparison group.

    The comparison group is the never-treated units or, when there are none, the units not yet
    treated in the cohort's first treated period. Units without the outcome in one of the two
    periods are left out, so that the four means and the two-way fixed-effects regression on
    the same rows agree exactly.
    """
    periods = np.sort(frame[tname].unique())
    g_of = frame.groupby(idname)[gname].first()
    observed = frame.loc[frame[yname].notna(), [idname, tname]]

    def design(g):
        earlier = periods[periods < g]
        if not len(earlier) or g not in set(periods):
            return None
        before = earlier[-1]
        both = observed[observed[tname].isin([before, g])].groupby(idname)[tname].nunique()
        both = set(both.index[both == 2])
        treated = {i for i in g_of.index[g_of == g] if i in both}
        never = {i for i in g_of.index[g_of.isna()] if i in both}
        comparison, control = ("never treated", never) if never else (
            "not yet treated", {i for i in g_of.index[g_of > g] if i in both})
        if not treated or not control:
            return None
        return before, treated, control, comparison

    cohorts = sorted(g_of.dropna().unique())
    if not cohorts:
        raise ValueError(f"two_by_two: no unit is ever treated ({gname!r} is missing everywhere)")
    designs = {c: d for c in cohorts if (d := design(c))}
    chosen, note = None, ""
    if cohort is not None and cohort in designs:
        chosen = cohort
    else:
        ranked = sorted(designs, key=lambda c: (-len(designs[c][1]), c))
        if not ranked:
            raise ValueError("two_by_two: no cohort has a period before its first treated one and a "
                             "comparison group observed in both periods")
        chosen = ranked[0]
        if cohort is not None:
            note = (f" (the data have no usable cohort {_label(cohort)}, so the illustration takes the "
                    f"largest cohort with a period before its first treated one)")
    before, treated, control, comparison = designs[chosen]
    keep = frame[frame[idname].isin(treated | control) & frame[tname].isin([before, chosen])].copy()
    label = f"first treated {_label(chosen)}"
    keep["group"] = np.where(keep[idname].isin(treated), label, comparison)
    means = keep.pivot_table(index="group", columns=tname, values=yname, aggfunc="mean")
    did = float((means.loc[label, chosen] - means.loc[label, before])
                - (means.loc[comparison, chosen] - means.loc[comparison, before]))
    return TwoByTwo(frame=keep, means=means, did=did, cohort=chosen, before=before, after=chosen,
                    comparison=comparison, n_treated=len(treated), n_control=len(control), note=note)


def table4_values(table4: Mapping[str, Any], truths: Mapping[str, float], paper: Mapping[str, dict | None],
                  *, term: str, synthetic: bool, targets: Mapping[str, float]) -> Cited:
    """The columns' coefficients (``t4_col1_beta`` ...), the sentence that reads them against the
    paper and the truth, the sentence on sample sizes, and one record per column."""
    values: dict[str, Any] = {}
    records: dict[str, dict] = {}
    for col, res in table4.items():
        key = f"t4_col{col[1]}"
        values.update(estimate_values(key, res, term))
        values[f"{key}_r2_inclusive"] = res.extra.get("r2_inclusive", np.nan)
        printed = paper.get(col)
        records[f"table4_col{col[1]}"] = result_record(
            res, term, truth=truths[col] if synthetic else None,
            paper=printed["estimate"] if printed else None, twfe_target=targets.get(col, np.nan))

    def truth(col, lead=" (truth ", tail=")"):
        return f"{lead}{truths[col]:.4f}{tail}" if synthetic else ""

    def printed(col, lead="; the paper prints "):
        p = paper.get(col)
        return f"{lead}{p['estimate']:.4f}" if p else ""

    parts = []
    if "(2)" in table4:
        c2 = table4["(2)"].coef(term)
        parts.append(f"With controls, column (2) estimates that the treatment raised the outcome by "
                     f"{c2['estimate']:.4f} (s.e. {c2['std_error']:.4f}, N = {c2['nobs']:,})" + printed("(2)")
                     + truth("(2)", ", and the true average effect on the treated rows of this sample is ", "")
                     + ".")
    c1 = table4["(1)"].coef(term)
    parts.append(f"Without controls the estimate is {c1['estimate']:.4f}" + truth("(1)")
                 + (printed("(1)", " (paper: ") + ")" if paper.get("(1)") else "") + ".")
    if "(3)" in table4:
        parts.append(f"Without the municipalities it is {table4['(3)'].coef(term)['estimate']:.4f}"
                     + truth("(3)") + ".")
    values["t4_text"] = " ".join(parts)
    sizes = []
    for col, res in table4.items():
        why = ", ".join(f"{n:,} missing {c}" for c, n in res.drop_reasons.items()) or "no row dropped"
        p = paper.get(col)
        sizes.append(f"column {col} uses {res.nobs:,} rows ({why})"
                     + (f", the paper {p['n']:,}" if p and p.get("n") is not None else ""))
    values["t4_sizes_text"] = "; ".join(sizes) + "."
    return Cited(values, records=records)


def selection_values(selection, *, synthetic: bool, n_covariates: int) -> Cited:
    """The selection logit's fit and its significant antecedents, in words."""
    margins = selection.extra["marginal_effects"]
    significant = list(margins.index[margins["p"] < 0.05])
    return Cited({"sel_pseudo_r2": selection.r2, "sel_n_significant": len(significant),
                  "sel_n_covariates": n_covariates, "sel_significant": ", ".join(significant) or "none",
                  "sel_note": "On the book's data the antecedents are simulated, selection was built in "
                              "through one development factor, and which of its correlated proxies comes "
                              "out significant says little." if synthetic else ""},
                 records={"selection_logit_pseudo_r2": dict(estimate=selection.r2, nobs=selection.nobs)})


def selection_unsupported(frame: pd.DataFrame, controls, *, treated: str) -> str:
    """Why the selection logit cannot run on this panel ('' when it can)."""
    if not controls:
        return ("The column file names no controls, so there are no antecedents to put in the "
                "selection model and this section is left out.")
    if frame[treated].nunique() < 2:
        return ("Every unit of this panel is treated at some point, so a model of who is treated has "
                "nothing to compare and this section is left out.")
    return ""
