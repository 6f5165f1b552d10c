"""What the placebo chapter (Fig. 2) cites, and the sentences whose wording depends on the data.

:func:`fig2_values` returns the section's named values (``f2_*``);
:func:`record_fig2` records the headline numbers. Tested in ``tests/test_book_sections.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lib.book.chapter import record, record_result

#: Why the placebo distribution only approximates the null on the book's panel.
SHARP_NULL_NOTE = ("On the book's panel the sharp null is not true even for the placebo draws: the outcome "
                   "contains the real pilots' effects, and fake pilots drawn from all cities overlap the real "
                   "ones, so the placebo distribution only approximates the distribution under the null.")


def share_vs_five_percent(share: float, n_draws: int) -> str:
    """"close to" when ``share`` lies within the 95 % binomial range of 5 % over ``n_draws``
    independent draws, else "above" or "below"."""
    tol = 1.96 * np.sqrt(0.05 * 0.95 / n_draws)
    return "close to" if abs(share - 0.05) <= tol else "above" if share > 0.05 else "below"


def fig2_values(pl, true_att: float, *, synthetic: bool) -> dict[str, Any]:
    """The named values of the Figure 2 section."""
    summ = pl.summary_frame()["value"]
    share = summ["share of placebo p < 0.05"]
    return {
        "f2_n_draws": pl.n_draws, "f2_n_pilots": pl.spec["n_treated_units"],
        "f2_actual": pl.actual_estimate, "f2_truth": true_att,
        "f2_mean": summ["placebo mean"], "f2_sd": summ["placebo s.d."],
        "f2_q025": summ["placebo 2.5% quantile"], "f2_q975": summ["placebo 97.5% quantile"],
        "f2_share_p05": 100 * share, "f2_ri_p": pl.ri_pvalue, "f2_ri_p_t": pl.ri_pvalue_t,
        "f2_ri_p_bound": 1 / (pl.n_draws + 1), "f2_n_as_large": pl.n_as_large,
        "f2_truth_text": f" (truth of the panel {true_att:.4f})" if synthetic else "",
        "f2_share_vs_5": share_vs_five_percent(share, pl.n_draws),
        "f2_sharp_null_note": SHARP_NULL_NOTE if synthetic else "",
        "f2_ratio_sd": abs(pl.actual_estimate) / summ["placebo s.d."],
    }


def record_fig2(pl, true_att: float, *, seed: int, paper: dict | None, synthetic: bool) -> None:
    """Record the actual estimate, the RI p-value and the placebo distribution's mean and share.

    ``paper`` is the printed Table 4 column (2), or None where the paper is not comparable; the
    placebo mean's 0 and the share's 5 % are targets only on the book's data, where the sharp
    null of the teaching design is known to hold for the placebo assignments."""
    summ = pl.summary_frame()["value"]
    record_result("fig2_actual_estimate", pl.actual, "CBEC", truth=true_att if synthetic else None,
                  paper=paper["estimate"] if paper else None)
    record("fig2_ri_pvalue", estimate=pl.ri_pvalue, p=pl.ri_pvalue, truth=None,
           n_draws=pl.n_draws, ri_pvalue_t=pl.ri_pvalue_t, seed=seed)
    record("fig2_placebo_mean", estimate=summ["placebo mean"], std_error=summ["placebo s.d."],
           truth=0.0 if synthetic else None, n_draws=pl.n_draws)
    record("fig2_placebo_share_p05", estimate=summ["share of placebo p < 0.05"],
           truth=0.05 if synthetic else None, n_draws=pl.n_draws)
