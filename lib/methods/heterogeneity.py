r"""Heterogeneity of the pilot effect across groups of cities (the paper's §4.4, Tables 7-10).

The paper reports, for each grouping (region, industrial structure, city size,
urban agglomeration), one regression per group level of the baseline TWFE with
the single regressor ``Group_g × CBEC`` on the full sample. That design
compares group ``g``'s treated city-years with *everything else*, including
the other groups' treated city-years, and "significant in A, not in B" is not
a test that A and B differ (Gelman & Stern 2006). :func:`group_effects`
therefore returns three estimates per level and a formal test:

* ``interaction`` -- the paper's specification as printed, one regression per
  level;
* ``subsamples`` -- the baseline TWFE on the cities of one level only;
* ``interacted`` -- one model with every ``Group_g × CBEC`` term (common city
  and year effects and controls), and ``wald``: the cluster-robust Wald test
  that all group effects are equal.

The book's group definitions (city-level, fixed at the base year) are data, not
methods: :func:`lib.data.groups.classify_industry` and
:func:`lib.data.groups.classify_city_size`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from lib.methods.results import RegressionResult

__all__ = [
    "GroupEffects",
    "group_effects",
    "interaction_term",
    "wald_equal",
]

def interaction_term(level: Any, dname: str) -> str:
    """Column name of ``1[group == level] × dname``, e.g. ``"East×CBEC"``."""
    return f"{level}×{dname}"


# ----------------------------------------------------------------------- Wald
def wald_equal(params: pd.Series, cov: pd.DataFrame, terms: Sequence[str], *,
               dof_resid: float | None) -> dict[str, float]:
    r"""Wald test that the coefficients ``terms`` are all equal.

    With :math:`R` the :math:`(q \times L)` matrix of successive differences
    (:math:`q = L-1`),

    .. math::

        W = (R\hat\beta)'\,(R\hat V R')^{-1}\,(R\hat\beta), \qquad
        F = W / q \sim F(q,\, G-1),

    the cluster-robust F form that Stata's ``test`` reports after
    ``vce(cluster)``; ``p_chi2`` is the asymptotic :math:`\chi^2_q` p-value.

    Returns
    -------
    dict
        ``statistic`` (F), ``chi2`` (W), ``df`` (q), ``df_denom``, ``p`` (F),
        ``p_chi2``.
    """
    terms = list(terms)
    if len(terms) < 2:
        raise ValueError(f"wald_equal needs at least two terms, got {terms}")
    b = params.reindex(terms).to_numpy(float)
    V = cov.loc[terms, terms].to_numpy(float)
    q = len(terms) - 1
    R = np.zeros((q, len(terms)))
    R[np.arange(q), np.arange(q)] = 1.0
    R[np.arange(q), np.arange(1, q + 1)] = -1.0
    d = R @ b
    W = float(d @ np.linalg.solve(R @ V @ R.T, d))
    F = W / q
    p = float(stats.f.sf(F, q, dof_resid)) if dof_resid else float(stats.chi2.sf(W, q))
    return {"statistic": F, "chi2": W, "df": q, "df_denom": dof_resid,
            "p": p, "p_chi2": float(stats.chi2.sf(W, q))}


# --------------------------------------------------------------------- result
@dataclass(frozen=True)
class GroupEffects:
    """Group-specific pilot effects, three ways, and a test that they are equal.

    Attributes
    ----------
    group, dname, yname : str
        The grouping column, treatment and outcome.
    levels : tuple
        Levels estimated (levels without treated rows are in ``skipped``).
    interaction : dict level -> RegressionResult
        The paper's specification: one full-sample TWFE per level with the
        single regressor ``level×CBEC``.
    subsamples : dict level -> RegressionResult
        The baseline TWFE on that level's cities only.
    interacted : RegressionResult
        One TWFE with every ``level×CBEC`` term.
    wald : dict
        :func:`wald_equal` on ``interacted`` (equal effects across levels).
    skipped : dict
        Levels not estimated and why.
    no_subsample : dict
        Levels whose subsample regression cannot be estimated, and why (their
        ``subsamples`` entry is absent).
    """

    group: str
    dname: str
    yname: str
    levels: tuple
    interaction: dict[Any, RegressionResult]
    subsamples: dict[Any, RegressionResult]
    interacted: RegressionResult
    wald: dict[str, float]
    skipped: dict[Any, str] = field(default_factory=dict)
    no_subsample: dict[Any, str] = field(default_factory=dict)

    _METHODS = {"interaction": "as printed (level×CBEC, full sample)",
                "subsample": "subsample", "interacted": "one interacted model"}

    def term(self, level: Any) -> str:
        """Name of the ``level×CBEC`` term."""
        return interaction_term(level, self.dname)

    def pairwise(self, first: Any, second: Any) -> dict[str, float]:
        r"""Wald test that two levels' effects are equal in the interacted model.

        :math:`H_0: \beta_a = \beta_b`, i.e. :func:`wald_equal` on the two
        ``level×CBEC`` terms of ``interacted`` (cluster-robust covariance,
        :math:`F(1, G-1)`). Adds ``difference`` (:math:`\hat\beta_a -
        \hat\beta_b`) and its ``std_error``; :math:`F = (\text{difference} /
        \text{std\_error})^2`.
        """
        for lev in (first, second):
            if lev not in self.levels:
                raise KeyError(f"pairwise: level {lev!r} not estimated; levels are {self.levels}")
        ta, tb = self.term(first), self.term(second)
        out = wald_equal(self.interacted.params, self.interacted.cov, [ta, tb],
                         dof_resid=self.interacted.dof_resid)
        V = self.interacted.cov
        var = float(V.loc[ta, ta] + V.loc[tb, tb] - 2 * V.loc[ta, tb])
        out["difference"] = float(self.interacted.params[ta] - self.interacted.params[tb])
        out["std_error"] = float(np.sqrt(var))
        return out

    def tidy(self, level: float = 0.95) -> pd.DataFrame:
        """One row per level and method: estimate, s.e., t, p, CI, N."""
        rows = []
        for lev in self.levels:
            t = self.term(lev)
            for method, res, term in (("interaction", self.interaction.get(lev), t),
                                      ("subsample", self.subsamples.get(lev), self.dname),
                                      ("interacted", self.interacted, t)):
                if res is None:
                    continue
                r = res.tidy(level).loc[term]
                rows.append({"group": self.group, "level": lev, "method": method,
                             "estimate": r["estimate"], "std_error": r["std_error"],
                             "t": r["t"], "p": r["p"], "ci_lower": r["ci_lower"],
                             "ci_upper": r["ci_upper"], "nobs": int(res.nobs),
                             "r2": res.r2})
        return pd.DataFrame(rows)

    def table(self, *, title: str | None = None, notes: str | Sequence[str] | None = None):
        """The paper's layout: one column per level (``level×CBEC`` models as printed)."""
        from lib.present.tables import regression_table

        res = {f"{lev} ({i + 1})": self.interaction[lev] for i, lev in enumerate(self.levels)
               if lev in self.interaction}
        w = self.wald
        wald_note = (f"Equal effects across levels (one interacted model): F({w['df']}, "
                     f"{w['df_denom']:g}) = {w['statistic']:.2f}, p = {w['p']:.4f}")
        return regression_table(res, keep=[self.term(lev) for lev in self.levels
                                           if lev in self.interaction],
                                title=title, notes=[wald_note, *_as_list(notes)])

    def comparison_table(self, *, paper: Mapping[Any, Any] | None = None,
                         truth: Mapping[Any, float] | pd.Series | None = None,
                         title: str | None = None, notes: str | Sequence[str] | None = None):
        """Paper | book | truth for each level's printed ``level×CBEC`` estimate.

        ``paper`` maps level -> :func:`published_group_effects` dict (or a
        number); ``truth`` maps level -> true effect. The book's number is the
        specification as printed; the interacted model's estimate follows in a
        second row per level.
        """
        from lib.present.tables import comparison_row, comparison_table

        paper = dict(paper or {})
        tv = pd.Series(truth) if truth is not None else pd.Series(dtype=float)
        rows = []
        for lev in self.levels:
            t = self.term(lev)
            true = float(tv.get(lev, np.nan))
            rows.append(comparison_row(f"{lev}×{self.dname} (as printed)", self.interaction[lev],
                                       t, paper=paper.get(lev), truth=true))
            rows.append(comparison_row(f"{lev}×{self.dname} (interacted model)", self.interacted,
                                       t, truth=true))
        return comparison_table(rows, title=title, notes=notes)

    def methods_table(self, *, truth: Mapping[Any, float] | pd.Series | None = None,
                      title: str | None = None, notes: str | Sequence[str] | None = None):
        """Estimate (s.e.) per level under each method, beside the truth."""
        from lib.present.tables import format_number, frame_table

        tid = self.tidy()
        cells, numbers = {}, {}
        for m, label in self._METHODS.items():
            sub = tid[tid["method"] == m].set_index("level")
            cells[label] = {lev: (f"{format_number(sub.loc[lev, 'estimate'])} "
                                  f"({format_number(sub.loc[lev, 'std_error'])})")
                            if lev in sub.index else "" for lev in self.levels}
            for col in ("estimate", "std_error"):   # the CSV holds the numbers, each in a column
                numbers[f"{m}_{col}"] = [sub[col].get(lev, np.nan) for lev in self.levels]
        frame = pd.DataFrame(cells)
        numbers = pd.DataFrame(numbers, index=frame.index)
        if truth is not None:
            frame["truth"] = [float(pd.Series(truth).get(lev, np.nan)) for lev in self.levels]
            numbers["truth"] = frame["truth"]
        frame["N (subsample)"] = [self.subsamples[lev].nobs if lev in self.subsamples else np.nan
                                  for lev in self.levels]
        numbers["n_subsample"] = frame["N (subsample)"]
        frame.index.name = numbers.index.name = self.group
        w = self.wald
        note = (f"Estimates with cluster-robust s.e. in parentheses. Wald test of equal effects "
                f"in the interacted model: F({w['df']}, {w['df_denom']:g}) = "
                f"{w['statistic']:.2f}, p = {w['p']:.4f}")
        return frame_table(frame, title=title, notes=[note, *_as_list(notes)], numbers=numbers)

    def plot(self, truth: Mapping[Any, float] | pd.Series | None = None,
             paper: Mapping[Any, float] | pd.Series | None = None, *,
             methods: Sequence[str] = ("interaction", "subsample", "interacted"),
             labels: Mapping[Any, str] | None = None, ax: Any = None):
        """Forest plot: each level's estimates (95% CI), its true effect and the paper's number.

        ``truth`` and ``paper`` map level -> value; the paper's number is
        drawn on the "as printed" row only (it estimates that specification).
        """
        from lib.present import figures

        tid = self.tidy()
        tid = tid[tid["method"].isin(methods)].copy()
        order = {m: i for i, m in enumerate(methods)}
        lev_order = {lev: i for i, lev in enumerate(self.levels)}
        tid = tid.sort_values(["level", "method"], key=lambda s: s.map(
            lev_order if s.name == "level" else order)).reset_index(drop=True)
        short = {"interaction": "as printed", "subsample": "subsample", "interacted": "interacted"}
        names = dict(labels or {})
        tid["label"] = [f"{names.get(lev, lev)} · {short[m]}" for lev, m in zip(tid["level"],
                                                                               tid["method"])]
        tv = pd.Series(truth) if truth is not None else None
        pv = pd.Series(paper) if paper is not None else None
        tid["truth"] = [float(tv.get(lev, np.nan)) if tv is not None else np.nan
                        for lev in tid["level"]]
        tid["paper"] = [float(pv.get(lev, np.nan)) if pv is not None and m == "interaction"
                        else np.nan for lev, m in zip(tid["level"], tid["method"])]
        if ax is None:
            fig, ax = figures.new_axes(figsize=(7.0, 1.2 + 0.34 * len(tid)))
        return figures.coefficient_plot(tid, truth="truth" if tv is not None else None,
                                        paper="paper" if pv is not None else None, ax=ax,
                                        xlabel=f"Effect of {self.dname} on {self.yname} (95% CI)")


def _as_list(x) -> list:
    if x is None:
        return []
    return [x] if isinstance(x, str) else list(x)


# ------------------------------------------------------------------ estimator
def group_effects(
    data: pd.DataFrame,
    *,
    yname: str,
    dname: str,
    group: str,
    idname: str,
    tname: str,
    controls: Sequence[str] = (),
    vcov: dict[str, str] | str,
    levels: Sequence[Any] | None = None,
) -> GroupEffects:
    r"""Pilot effects by group: the paper's Tables 7-10 and what they leave out.

    For levels :math:`g = 1..L` of the city-level grouping ``group``:

    *As printed* (one regression per level, full sample):

    .. math::

        Y_{it} = \beta_g\,(1[G_i = g]\,D_{it}) + X_{it}'\gamma + \mu_i + \nu_t + \varepsilon_{it}.

    Its control group mixes the never- and not-yet-treated cities with the
    *other* groups' treated city-years, so :math:`\beta_g` is not the effect in
    group :math:`g` unless the other groups' effects are zero.

    *Subsample*: eq. (7) on the cities with :math:`G_i = g` only.

    *Interacted* (one model):

    .. math::

        Y_{it} = \textstyle\sum_g \beta_g\,(1[G_i = g]\,D_{it}) + X_{it}'\gamma
        + \mu_i + \nu_t + \varepsilon_{it},

    with the Wald test :math:`H_0: \beta_1 = \dots = \beta_L` (:func:`wald_equal`).

    All fits use :func:`lib.methods.did.twfe` (CRV1 with the small-sample factor
    documented there).

    Parameters
    ----------
    data : pandas.DataFrame
        City-year panel.
    yname, dname : str
        Outcome and treatment dummy.
    group : str
        City-level grouping column (constant within city).
    idname, tname : str
        City and year identifiers.
    controls : sequence of str
        Controls of eq. (7).
    vcov : {"CRV1": column} or "hetero" or "iid"
        Inference, passed to :func:`lib.methods.did.twfe`.
    levels : sequence, optional
        Levels to report, in order (default: the sorted levels present). The
        interacted model and the Wald test always use every level with treated
        rows, so that no treated city-year is left in the comparison group.

    Returns
    -------
    GroupEffects

    Raises
    ------
    KeyError
        A column is missing, or a requested level does not occur.
    ValueError
        ``group`` is missing for some rows or varies within a city (the
        message names the cities), or fewer than two levels have treated rows.

    References
    ----------
    Lyu, Li & Wang, §4.4; Gelman, A. & Stern, H. (2006), "The difference
    between 'significant' and 'not significant' is not itself statistically
    significant", *The American Statistician* 60(4).

    Examples
    --------
    >>> ge = group_effects(panel, yname="Inno", dname="CBEC", group="region",
    ...                    controls=CONTROLS, vcov={"CRV1": "city_id"})  # doctest: +SKIP
    >>> ge.wald["p"]                                                      # doctest: +SKIP
    """
    from lib.methods.did import _check_columns, twfe

    controls = list(controls)
    _check_columns(data, [yname, dname, group, idname, tname, *controls], "group_effects")
    miss = data[group].isna()
    if miss.any():
        ids = sorted(data.loc[miss, idname].unique().tolist())
        raise ValueError(f"group_effects: {group!r} is missing in {int(miss.sum())} rows "
                         f"({len(ids)} cities, e.g. {ids[:5]}); classify every city first.")
    varying = data.groupby(idname)[group].nunique()
    if (varying > 1).any():
        bad = varying.index[varying > 1].tolist()
        raise ValueError(f"group_effects: {group!r} varies within {len(bad)} cities "
                         f"(e.g. {bad[:5]}); the grouping must be fixed per city "
                         f"(e.g. at the base year).")
    present = sorted(pd.unique(data[group]).tolist(), key=str)
    if levels is None:
        levels = present
    levels = list(levels)
    unknown = [lev for lev in levels if lev not in present]
    if unknown:
        raise KeyError(f"group_effects: levels {unknown} do not occur in {group!r}; "
                       f"levels are {present}")

    frame = data.copy()
    treated_by_level = frame.loc[frame[dname] == 1].groupby(group).size()
    skipped = {lev: f"no rows with {dname} == 1" for lev in present
               if treated_by_level.get(lev, 0) == 0}
    active = [lev for lev in present if lev not in skipped]
    if len(active) < 2:
        raise ValueError(f"group_effects: only {active} of {present} have treated rows; "
                         f"need two levels to compare.")
    for lev in active:
        frame[interaction_term(lev, dname)] = (frame[group] == lev).astype(float) * frame[dname]

    kw = dict(idname=idname, tname=tname, vcov=vcov)
    interaction, subsamples, no_subsample = {}, {}, {}
    for lev in levels:
        if lev in skipped:
            continue
        term = interaction_term(lev, dname)
        interaction[lev] = twfe(frame, yname=yname, dname=term, controls=controls, **kw)
        if frame.loc[frame[group] == lev, idname].nunique() < 2:
            no_subsample[lev] = ("a single unit: with its own unit and period effects nothing is "
                                 "left to estimate from")
            continue
        try:
            subsamples[lev] = twfe(frame.loc[frame[group] == lev], yname=yname, dname=dname,
                                   controls=controls, **kw)
        except ValueError as err:  # e.g. one adoption date and no untreated unit in the level
            if "absorbed" not in str(err):
                raise
            no_subsample[lev] = (f"{dname} has no variation within the level once its own unit and "
                                 "period effects are removed")
    terms = [interaction_term(lev, dname) for lev in active]
    interacted = twfe(frame, yname=yname, dname=terms[0], controls=[*terms[1:], *controls], **kw)
    wald = wald_equal(interacted.params, interacted.cov, terms, dof_resid=interacted.dof_resid)
    return GroupEffects(group=group, dname=dname, yname=yname,
                        levels=tuple(lev for lev in levels if lev not in skipped),
                        interaction=interaction, subsamples=subsamples, interacted=interacted,
                        wald=wald, skipped=skipped, no_subsample=no_subsample)
