"""The primer chapter: why neither naive comparison recovers the effect, and the design's DAG.

:func:`naive_comparisons` sets the two comparisons a newcomer makes first, across units after
the policy and within treated units before and after, beside the difference-in-differences of
the same four means (:func:`lib.book.baseline.two_by_two`) and, on the book's panel, the truth.
"""

from __future__ import annotations

from typing import Any

from lib.book.baseline import TwoByTwo
from lib.book.chapter import ChapterData, Cited


def naive_comparisons(data: ChapterData, two: TwoByTwo, *, yname: str) -> tuple[Any, Cited]:
    r"""The cross-section and before-after comparisons against the DID, as a table and glue values.

    With cohort :math:`g`, its last untreated period :math:`b` and comparison group :math:`C`:
    cross-section :math:`\bar Y_{g,g} - \bar Y_{C,g}`; before-after :math:`\bar Y_{g,g} - \bar Y_{g,b}`;
    DID their difference's difference. The truth is the true ATT of the cohort's treated rows.
    """
    from lib.present.tables import comparison_row, comparison_table

    m, cohort_label = two.means, f"first treated {two.cohort}"
    after, before = two.after, two.before
    cross = float(m.loc[cohort_label, after] - m.loc[two.comparison, after])
    before_after = float(m.loc[cohort_label, after] - m.loc[cohort_label, before])
    truth = data.true_att(two.frame) if data.synthetic else float("nan")
    rows = [comparison_row(f"{cohort_label} − {two.comparison}, in {after}", book=cross, truth=truth),
            comparison_row(f"{cohort_label}: {after} − {before}", book=before_after, truth=truth),
            comparison_row("difference-in-differences", book=two.did, truth=truth)]
    table = comparison_table(
        rows, stars=None, title=f"Three comparisons of mean {yname}, one cohort",
        notes=("Means of the rows of the four-means illustration; no standard errors: the point is "
               "what each comparison estimates, not its noise."),
        panel_note=("book = the comparison computed on the data of this page; truth = the true "
                    "effect on the cohort's treated rows, built into the semi-synthetic panel "
                    "(empty on a reader's own data)."))
    gap_before = float(m.loc[cohort_label, before] - m.loc[two.comparison, before])
    common = float(m.loc[two.comparison, after] - m.loc[two.comparison, before])
    values: dict[str, Any] = {"naive_cross": cross, "naive_before_after": before_after,
                              "naive_did": two.did, "naive_gap_before": gap_before,
                              "naive_common_change": common}
    if data.synthetic:
        values["naive_reading"] = (
            f"On the semi-synthetic panel the true effect on these city-years is {truth:.4f}. The "
            f"comparison across units is off by {cross - truth:+.4f}, and a gap of {gap_before:+.4f} was "
            f"there already in {before}, before designation. The comparison before and after is off by "
            f"{before_after - truth:+.4f}, and the comparison group's mean changed by {common:+.4f} over the "
            f"same year. The difference-in-differences removes both, and what "
            f"remains, {two.did - truth:+.4f}, is no bias of the design (the panel's untreated outcomes "
            f"trend in parallel by construction) but the noise in the means of {two.n_treated} and "
            f"{two.n_control} cities.")
    else:
        values["naive_reading"] = (
            f"No true effect is known for these data, so the table cannot say which comparison is right. "
            f"The cross-unit comparison carries the gap that was there before ({gap_before:+.4f} in "
            f"{before}), the before-after comparison the change of the comparison group "
            f"({common:+.4f}); the difference-in-differences removes both, and is right only if the "
            "two groups' untreated outcomes would have moved alike.")
    records = {"primer_did_2x2": dict(estimate=two.did, truth=truth if data.synthetic else None,
                                      cross_section=cross, before_after=before_after)}
    return table, Cited(values, records=records)


#: The design of the main paper as a causal diagram: node -> (x, y, label).
DAG_NODES = {
    "X": (0.0, 1.0, "city traits\n(size, income, ...)"),
    "U": (0.0, -1.0, "fixed city\ntraits $\\mu_i$"),
    "T": (3.0, -1.0, "year shocks\n$\\nu_t$"),
    "D": (1.5, 0.0, "pilot\n$D_{it}$"),
    "M": (3.0, 1.0, "mediators\n(infrastructure, ...)"),
    "Y": (4.5, 0.0, "innovation\n$Y_{it}$"),
}
#: Its arrows: (from, to); the dashed ones are what the identifying assumptions rule out.
DAG_EDGES = (("X", "D"), ("X", "Y"), ("U", "D"), ("U", "Y"), ("T", "Y"), ("D", "M"), ("M", "Y"),
             ("D", "Y"))
DAG_RULED_OUT = (("T", "D"),)
#: What the diagram is (its PNG's description and note).
DAG_SOURCE = "a diagram of the design's assumptions; no data"
