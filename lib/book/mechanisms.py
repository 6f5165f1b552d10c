"""What the mechanisms chapter (Tables 11-13) cites, and the sentences whose wording depends on the data.

:func:`mediator_values` returns the named values the section's prose glues
(``t11_a``, ``t12_z``, ...), :func:`record_mediators` records the headline
estimates, and :func:`paper_n_sentence` / :func:`true_att_sentence` word what
depends on the paper's printed Ns and on whether the data have a truth.
Tested in ``tests/test_book_sections.py``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from lib.book.chapter import and_list, record, record_result
from lib.data import published


def _printed(table: int, column: int, term: str) -> dict:
    return published.published_estimate("cbec", table, column, term)


def mediator_values(results: Mapping[str, Any], truth_of: Mapping[str, Mapping[str, float]], *,
                    synthetic: bool) -> dict[str, Any]:
    """Per mediator (its paper table ``t``): a, b, Sobel z, a·b, bootstrap CI, N, the paper's N
    and, on the book's data, the truths and the "(truth ...)" clauses the prose appends."""
    values: dict[str, Any] = {}
    for m, med in results.items():
        table, column = published.MEDIATION_TABLES[m]
        tr, key = truth_of[m], f"t{table}"
        values.update({
            f"{key}_a": med.a, f"{key}_a_truth": tr.get("a", np.nan),
            f"{key}_b": med.b, f"{key}_b_truth": tr.get("b", np.nan),
            f"{key}_z": med.sobel_z,
            f"{key}_ab": med.indirect, f"{key}_ab_truth": tr.get("indirect", np.nan),
            f"{key}_ci_lo": med.bootstrap_ci[0], f"{key}_ci_hi": med.bootstrap_ci[1],
            f"{key}_n": med.nobs, f"{key}_paper_n": _printed(table, column, m)["n"],
        })
        for path, fmt in (("a", ".4f"), ("b", ".4f"), ("ab", ".5f")):
            value = tr.get("indirect" if path == "ab" else path, np.nan)
            values[f"{key}_{path}_tt"] = f" (truth {value:{fmt}})" if synthetic else ""
    return values


def record_mediators(results: Mapping[str, Any], truth_of: Mapping[str, Mapping[str, float]], *,
                     true_att_of: Callable[[Any], float], bootstrap_reps: int,
                     paper: bool = True, synthetic: bool = True) -> None:
    """Record each mediator's b path, direct effect, a path, Sobel z and indirect effect (the
    paper's printed numbers only where ``paper``, truths only where ``synthetic``)."""
    for m, med in results.items():
        table, column = published.MEDIATION_TABLES[m]
        tr = truth_of[m] if synthetic else {}

        def printed(term):
            return _printed(table, column, term)["estimate"] if paper else None

        record_result(f"table{table}_b_{m}", med.b_path, m, truth=tr.get("b"), paper=printed(m))
        record_result(f"table{table}_direct_CBEC", med.b_path, "CBEC",
                      truth=true_att_of(med.b_path) - tr["indirect"] if synthetic else None,
                      paper=printed("CBEC"))
        record_result(f"table{table}_a_{m}", med.a_path, "CBEC", truth=tr.get("a"))
        record(f"table{table}_sobel_z", estimate=med.sobel_z, p=med.sobel_p, nobs=med.nobs,
               paper=printed("SobelZ"))
        record(f"table{table}_indirect_{m}", estimate=med.indirect, std_error=med.indirect_se,
               p=med.sobel_p, nobs=med.nobs, truth=tr.get("indirect"),
               bootstrap_ci_lower=med.bootstrap_ci[0], bootstrap_ci_upper=med.bootstrap_ci[1],
               bootstrap_se=med.bootstrap_se, bootstrap_reps=bootstrap_reps)


def true_att_sentence(true_att: float, *, synthetic: bool) -> str:
    """Why the indirect effects are hard to detect; with the true ATT on the book's data."""
    if synthetic:
        return (f"The true indirect effects are small parts of the true ATT of {true_att:.4f}, "
                "and detecting a product of two coefficients needs far more precision than "
                "detecting either.")
    return "Detecting a product of two coefficients needs far more precision than detecting either."


def paper_n_sentence(printed_n: Mapping[int, int], table4_n: int) -> str:
    """Which of the paper's mechanism tables print more city-years than Table 4 can have."""
    over = [str(t) for t, n in printed_n.items() if n > table4_n]
    if not over:
        return f"None of its Ns exceeds the {table4_n:,} city-years with complete controls of Table 4."
    many = len(over) > 1
    return (f"Its N{'s' if many else ''} for Table{'s' if many else ''} {' and '.join(over)} "
            f"exceed{'' if many else 's'} the {table4_n:,} city-years with complete controls of "
            f"Table 4, so {'those models' if many else 'that model'} cannot use the same controls "
            "as Table 4.")


def printed_mechanism_ns() -> dict[int, int]:
    """The paper's printed N of each mechanism table (Tables 11-13)."""
    return {t: _printed(t, c, m)["n"] for m, (t, c) in published.MEDIATION_TABLES.items()}


def truth_reading(gaps, mediators) -> str:
    """The mediators' estimates against the truth (book's data): which bootstrap intervals of a·b
    cover the true indirect effect, how far a and b lie in their own s.e., and, for each miss,
    which path it comes from. ``gaps`` is :func:`lib.methods.mediation.truth_gaps`."""
    covered = [m for m in mediators if gaps.loc[m, "ab_covered"]]
    missed = [m for m in mediators if not gaps.loc[m, "ab_covered"]]
    text = ("The bootstrap interval of a·b "
            + (f"covers the true indirect effect for {and_list(covered)}" if covered else "")
            + (" and " if covered and missed else "")
            + (f"excludes it for {and_list(missed)}" if missed else "") + ". "
            + "Measured in their own standard errors, the estimates of a lie "
            + and_list(f"{abs(g):.1f}" for g in gaps["a_gap_se"]) + " from the truth and those of b "
            + and_list(f"{abs(g):.1f}" for g in gaps["b_gap_se"]) + f" ({and_list(mediators)}).")
    for m in missed:
        ga, gb = gaps.loc[m, "a_gap_se"], gaps.loc[m, "b_gap_se"]
        text += (f" For {m}, â is {abs(ga):.1f} s.e. {'above' if ga > 0 else 'below'} its truth "
                 f"and b̂ {abs(gb):.1f} s.e. {'above' if gb > 0 else 'below'} its truth, so the "
                 + ("miss comes mainly from b." if abs(gb) > abs(ga) else "miss comes mainly from a."))
    return text


def other_draws_values(draws) -> dict[str, float]:
    """The same paths on other draws of the generator (:func:`lib.book.simulations.seed_paths`)."""
    spec = draws.xs("Spec", level="mediator")
    return {"other_a_gap_max": draws["a_gap_se"].abs().max(),
            "other_b_gap_max": draws["b_gap_se"].abs().max(),
            "other_spec_b_min": spec["b"].min(), "other_spec_b_max": spec["b"].max(),
            "spec_b_truth_default": float(spec["b_truth"].iloc[0])}


def comparison_rows(med, *, truth: Mapping[str, float] | pd.Series | None = None,
                    truth_att: float = float("nan"), paper: bool = True) -> list[dict[str, Any]]:
    r"""Paper | book | truth rows for one mediator (for :func:`lib.present.tables.comparison_table`).

    Rows: eq. 10's mediator coefficient :math:`b` and treatment coefficient
    :math:`c'`, and the Sobel z (the three numbers Tables 11-13 print), then
    :math:`a` and :math:`a b` (not printed). Truths: :math:`a`, :math:`b`,
    :math:`ab` from the generator (``truth`` = a row of
    ``data.truth.indirect``); :math:`c'` = ``truth_att`` − :math:`ab`, the
    part of the true ATT that does not run through this mediator; the Sobel z
    has no truth.
    """
    from lib.present.tables import comparison_row

    tr = dict(truth if truth is not None else {})
    a_t, b_t = tr.get("a", np.nan), tr.get("b", np.nan)
    ab_t = tr.get("indirect", a_t * b_t)
    m, d = med.mediator, med.dname
    tab = published.MEDIATION_TABLES.get(m) if paper else None

    def printed(term):
        return _printed(tab[0], tab[1], term) if tab else None

    label = f"Table {tab[0]}" if tab else m
    return [
        comparison_row(f"{label}: {m} (b, eq. 10)", med.b_path, m, paper=printed(m), truth=b_t),
        comparison_row(f"{label}: {d} (c', eq. 10)", med.b_path, d, paper=printed(d),
                       truth=truth_att - ab_t),
        comparison_row(f"{label}: Sobel z", paper=printed("SobelZ"), book=med.sobel_z,
                       book_p=med.sobel_p, truth=np.nan),
        comparison_row(f"{label}: {d} → {m} (a, eq. 9)", med.a_path, d, truth=a_t),
        comparison_row(f"{label}: indirect a·b", book=med.indirect, book_se=med.indirect_se,
                       book_p=med.sobel_p, truth=ab_t),
    ]


#: The paper's three mediators, one section (Tables 11-13) each.
PAPER_MEDIATORS = ("Diginf", "Spec", "Envir")


def chapter_mediators(mediators) -> list[str]:
    """The mediators the chapter's sections are written for, or why this panel cannot run it."""
    from lib.book.chapter import ChapterUnsupported

    missing = [m for m in PAPER_MEDIATORS if m not in mediators]
    if missing:
        named = ", ".join(mediators) if mediators else "none"
        raise ChapterUnsupported(
            "This chapter replicates the paper's Tables 11-13, one section for each of its mediators "
            f"(digital infrastructure Diginf, producer-service agglomeration Spec, credit environment "
            f"Envir); the column file names {named}, so {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing. Map your columns to these names under "
            "`mediators:` to run it. The chapter \"Group effects and mediators on any panel\" "
            "(groups_mediators) runs the same model on the mediators your column file names.")
    return list(PAPER_MEDIATORS)


def indirect_tests_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """Every mediator's tests of a·b (:attr:`MediationResult.tests`: Sobel, Sobel with the a-b
    covariance, Aroian, Goodman) and the cluster bootstrap's s.e. beside them (z and p by the
    normal), one block of rows per mediator."""
    from scipy import stats

    blocks = []
    for name, med in results.items():
        t = med.tests.copy()
        se_b = med.bootstrap_se
        z_b = med.indirect / se_b if np.isfinite(se_b) and se_b > 0 else np.nan
        t.loc["cluster bootstrap (s.d. of the draws)"] = [se_b, z_b, 2 * stats.norm.sf(abs(z_b))
                                                          if np.isfinite(z_b) else np.nan]
        blocks.append(t.assign(mediator=name).set_index("mediator", append=True).swaplevel())
    return pd.concat(blocks).rename(columns={"std_error": "s.e."})


def indirect_tests_values(results: Mapping[str, Any]) -> dict[str, str]:
    """The sentence on how much the a-b covariance moves the Sobel s.e. (``med_cov_text``)."""
    moves = {name: med.tests.loc["Sobel with covariance", "std_error"] / med.tests.loc["Sobel", "std_error"] - 1
             for name, med in results.items()}
    no_cov = all(np.isnan(getattr(med, "cov_ab", np.nan)) for med in results.values())
    if not moves or no_cov or all(np.isnan(v) for v in moves.values()):
        return {"med_cov_text": "Without clusters the two paths' covariance is not estimated, so the "
                                "first two rows coincide."}
    name, move = max(moves.items(), key=lambda kv: abs(kv[1]) if np.isfinite(kv[1]) else -1)
    return {"med_cov_text": (
        f"On these data the covariance of $\\hat a$ and $\\hat b$ changes the Sobel s.e. by at most "
        f"{100 * abs(move):.1f} % ({name}, {'up' if move > 0 else 'down'}); Aroian's and Goodman's "
        "second-order terms move it less, because $s_a s_b$ is small next to $a$ and $b$.")}


def interval_table(results: Mapping[str, Any], truth: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Three 95 % intervals of every mediator's a·b: normal with the Sobel-with-covariance s.e.,
    and the cluster bootstrap's percentile and BCa intervals (same draws), with the truth
    (``truth``: mediator -> true a·b) and whether each covers it where there is one."""
    rows = []
    for name, med in results.items():
        se = med.tests.loc["Sobel with covariance", "std_error"]
        t = (truth or {}).get(name, np.nan)
        for kind, (lo, hi) in (("normal, Sobel with covariance",
                                (med.indirect - 1.959963984540054 * se, med.indirect + 1.959963984540054 * se)),
                               ("bootstrap percentile", med.bootstrap_ci),
                               ("bootstrap BCa", med.bca_ci)):
            rows.append({"mediator": name, "interval": kind, "a·b": med.indirect, "lower": lo,
                         "upper": hi, "truth": t,
                         "covers truth": ("" if not (np.isfinite(t) and np.isfinite(lo)) else
                                          "yes" if lo <= t <= hi else "no")})
    out = pd.DataFrame(rows).set_index(["mediator", "interval"])
    if truth is None or not any(np.isfinite(v) for v in truth.values()):
        out = out.drop(columns=["truth", "covers truth"])
    return out


def interval_values(results: Mapping[str, Any]) -> dict[str, str]:
    """The sentence on how the BCa interval moves from the percentile one (``med_bca_text``)."""
    shifts = {}
    for name, med in results.items():
        (pl, ph), (bl, bh) = med.bootstrap_ci, med.bca_ci
        if np.isfinite([pl, ph, bl, bh]).all():
            shifts[name] = ((bl - pl) + (bh - ph)) / 2 / (ph - pl)
    if not shifts:
        return {"med_bca_text": "Without a bootstrap (bootstrap_reps = 0) there are no bootstrap intervals."}
    name, shift = max(shifts.items(), key=lambda kv: abs(kv[1]))
    return {"med_bca_text": (
        f"The BCa interval corrects the percentile interval for the median bias of the draws and for "
        f"the skewness of a·b's distribution (its acceleration comes from leaving out one cluster at a "
        f"time). Here it moves the interval by at most {100 * abs(shift):.0f} % of its width "
        f"({name}, {'up' if shift > 0 else 'down'})"
        + (", so the two agree on what the data can say." if abs(shift) < 0.1 else
           ": the draws are skewed or off-centre, and the BCa interval is the one to report."))}


def sensitivity_table(sensitivities: Mapping[str, Any], results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per mediator: a·b (ρ = 0), the error correlation ρ at which the indirect effect is
    zero, and the indirect effect at ρ = −0.1 and 0.1 (:class:`MediationSensitivity`)."""
    rows = {name: {"a·b (ρ = 0)": results[name].indirect, "ρ at which a·b = 0": s.rho_zero,
                   "at ρ = −0.1": s.at(-0.1), "at ρ = 0.1": s.at(0.1)}
            for name, s in sensitivities.items()}
    return pd.DataFrame(rows).T.rename_axis("mediator")


def sensitivity_values(sensitivities: Mapping[str, Any]) -> dict[str, str]:
    """The sentence on how small an error correlation would explain each indirect effect away
    (``med_sens_text``), from the mediator with the smallest |ρ| at zero."""
    if not sensitivities:
        return {"med_sens_text": ""}
    name, s = min(sensitivities.items(), key=lambda kv: abs(kv[1].rho_zero))
    others = [f"{m} {v.rho_zero:.2f}" for m, v in sensitivities.items() if m != name]
    size = ("a small" if abs(s.rho_zero) < 0.2 else "a moderate" if abs(s.rho_zero) < 0.5 else "a large")
    text = (f"For {name} an error correlation of {s.rho_zero:.2f}, {size} one, would explain the whole "
            "indirect effect away")
    if others:
        text += f" (for {', '.join(others)})"
    return {"med_sens_text": text + (". Nothing in the data can rule such a correlation out: ρ is not "
                                     "identified, and the plot shows what each value of it implies.")}
