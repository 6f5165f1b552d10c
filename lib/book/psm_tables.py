"""What the PSM-DID chapter's Table 6 section cites, and the sentences whose wording depends on the data.

:func:`table6_values` returns the section's named values, with the reading of
the estimates against the truth (:func:`table6_reading`, only on the book's
data); :func:`record_table6` records them. Tested in ``tests/test_book_sections.py``.
"""

from __future__ import annotations

from typing import Any, Mapping

from scipy import stats

from lib.book.chapter import record
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
                                  "Abadie-Imbens") + ". ")
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


def record_table6(kernel, nn, nn_boot, re_boot, truth, paper: Mapping[str, Mapping[str, Any]]) -> None:
    """Record Table 6's kernel and NN ATTs, and the two s.e. shown only for comparison."""
    for name, m, key in (("Table 6 kernel ATT", kernel, "kernel"), ("Table 6 NN ATT", nn, "nn5")):
        record(name, estimate=m.att, std_error=m.se, nobs=m.n_treated, truth=m.true_att(truth),
               paper=paper[key]["estimate"], se_kind=m.se_kind, off_support=m.n_off_support)
    record("Table 6 NN ATT, bootstrap s.e. (invalid; comparison)", estimate=nn.att,
           std_error=nn_boot.se, truth=nn.true_att(truth))
    record("Table 6 kernel ATT, score re-estimated per rep", estimate=kernel.att,
           std_error=re_boot.se, truth=kernel.true_att(truth))


__all__ = ["truth_clause", "table6_reading", "table6_values", "record_table6"]
