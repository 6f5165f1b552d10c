r"""Heterogeneity-robust difference-in-differences for staggered adoption.

The paper estimates one two-way fixed-effects (TWFE) coefficient on a design in
which cities became pilots in five waves. When effects differ across cohorts or
grow with time since adoption, that coefficient is not the average effect on
the treated. This module implements the three tools the modern literature
uses to see why and to fix it:

* :func:`bacon_decomposition` -- Goodman-Bacon (2021): the TWFE coefficient as a
  weighted average of every 2x2 DID in the data (weights sum to one);
* :func:`callaway_santanna` -- Callaway & Sant'Anna (2021): group-time effects
  ATT(g,t) against never-treated or not-yet-treated cities, with the
  aggregations of R ``did::aggte`` (simple, by cohort, by event time) and
  analytic influence-function standard errors;
* :func:`sun_abraham` -- Sun & Abraham (2021): the interaction-weighted event
  study (a saturated cohort x relative-period TWFE regression, averaged with
  cohort shares).

Vocabulary follows R ``did`` (``yname``, ``idname``, ``tname``, ``gname``).
``gname`` is the first treated period; never-treated units have a missing
value, 0 or ``inf`` there (R's convention is 0).

All three need a panel in which every unit is observed in every period (the
decomposition and the 2x2 means are defined on a balanced panel); units with a
missing outcome are dropped whole and counted in ``drop_reasons``.

References
----------
Goodman-Bacon, A. (2021). Difference-in-differences with variation in
treatment timing. *Journal of Econometrics*, 225(2), 254-277.
Callaway, B., & Sant'Anna, P. H. C. (2021). Difference-in-differences with
multiple time periods. *Journal of Econometrics*, 225(2), 200-230.
Sun, L., & Abraham, S. (2021). Estimating dynamic treatment effects in event
studies with heterogeneous treatment effects. *Journal of Econometrics*,
225(2), 175-199.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "BaconDecomposition",
    "CallawaySantAnna",
    "AggregatedATT",
    "SunAbraham",
    "bacon_decomposition",
    "callaway_santanna",
    "sun_abraham",
    "EventTimeEffects",
    "imputation",
    "dcdh",
    "stacked",
    "event_time_plot",
    "NEVER",
]

#: Label of the never-treated group in result frames.
NEVER = "never"

_BACON_TYPES = ("Treated vs never treated", "Earlier vs later treated (not yet treated)",
                "Later vs earlier treated (already treated)", "Treated vs always treated")


# --------------------------------------------------------------------- panel prep
@dataclass(frozen=True)
class _Wide:
    """A balanced panel in wide form: ``Y[unit, period]`` and each unit's cohort."""

    Y: np.ndarray
    G: np.ndarray          # first treated period; inf for never treated
    units: np.ndarray
    periods: np.ndarray
    nobs: int
    n_dropped: int
    drop_reasons: dict


def _check_columns(data: pd.DataFrame, columns: Sequence[str], fn: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise KeyError(f"{fn}: column(s) {missing} not in data; columns are "
                       f"{list(data.columns)[:25]}{' ...' if data.shape[1] > 25 else ''}")


def _cohorts(data: pd.DataFrame, idname: str, gname: str, fn: str) -> pd.Series:
    """Each unit's first treated period (inf = never), checked constant within unit."""
    g = pd.to_numeric(data[gname], errors="coerce").astype(float)
    g = g.where(g.notna() & (g != 0), np.inf)
    per_unit = g.groupby(data[idname].to_numpy()).nunique(dropna=False)
    bad = per_unit[per_unit > 1]
    if len(bad):
        raise ValueError(f"{fn}: column {gname!r} (first treated period) varies within "
                         f"{len(bad)} unit(s), e.g. {idname} = {list(bad.index[:5])}; it must be "
                         "constant per unit (missing, 0 or inf for never treated)")
    return g


def _wide_panel(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
                fn: str) -> _Wide:
    _check_columns(data, [yname, idname, tname, gname], fn)
    if data.duplicated([idname, tname]).any():
        dup = data.loc[data.duplicated([idname, tname], keep=False), [idname, tname]]
        raise ValueError(f"{fn}: {len(dup)} rows share a ({idname}, {tname}) pair, e.g. "
                         f"{dup.head(3).to_dict('records')}; the panel needs one row per unit and period")
    g = _cohorts(data, idname, gname, fn)
    frame = pd.DataFrame({"i": data[idname].to_numpy(), "t": pd.to_numeric(data[tname]).to_numpy(),
                          "y": pd.to_numeric(data[yname], errors="coerce").to_numpy(dtype=float),
                          "g": g.to_numpy()})
    drop_reasons: dict[str, int] = {}
    miss_units = frame.loc[~np.isfinite(frame["y"]), "i"].unique()
    n0 = len(frame)
    if len(miss_units):
        frame = frame[~frame["i"].isin(miss_units)]
        drop_reasons[f"{yname} missing (whole unit dropped)"] = n0 - len(frame)
    periods = np.sort(frame["t"].unique())
    counts = frame.groupby("i")["t"].size()
    short = counts[counts < len(periods)]
    if len(short):
        raise ValueError(f"{fn}: the panel is unbalanced: {len(short)} unit(s) lack some of the "
                         f"{len(periods)} periods, e.g. {idname} = {list(short.index[:5])}. These "
                         "estimators need every unit in every period; restrict the sample to a "
                         "balanced panel (e.g. sample='balanced')")
    wide = frame.pivot(index="i", columns="t", values="y").reindex(columns=periods)
    G = frame.groupby("i")["g"].first().reindex(wide.index).to_numpy()
    return _Wide(Y=wide.to_numpy(), G=G, units=wide.index.to_numpy(), periods=periods,
                 nobs=int(wide.size), n_dropped=n0 - len(frame), drop_reasons=drop_reasons)


def _twoway_demean(M: np.ndarray) -> np.ndarray:
    """Remove row and column means of a balanced unit x period array."""
    return M - M.mean(axis=1, keepdims=True) - M.mean(axis=0, keepdims=True) + M.mean()


def _twfe_balanced(Y: np.ndarray, D: np.ndarray) -> tuple[float, float]:
    """TWFE slope of ``Y`` on ``D`` (balanced) and the variance of demeaned ``D``."""
    Dt = _twoway_demean(D)
    vd = float((Dt**2).mean())
    return float((Dt * Y).sum() / (Dt**2).sum()), vd


def _label(g: float) -> Any:
    return NEVER if not np.isfinite(g) else int(g) if float(g).is_integer() else g


def _long_for_diff_diff(w: "_Wide") -> pd.DataFrame:
    """The kept balanced panel in long form with diff-diff's ``first_treat`` (0 = never)."""
    n, T = w.Y.shape
    return pd.DataFrame({"unit": np.repeat(np.arange(n), T), "time": np.tile(w.periods, n),
                         "y": w.Y.ravel(),
                         "first_treat": np.repeat(np.where(np.isfinite(w.G), w.G, 0), T)})


# ===================================================================== Bacon
@dataclass(frozen=True)
class BaconDecomposition:
    """The Goodman-Bacon decomposition of a TWFE coefficient.

    Attributes
    ----------
    components : DataFrame
        One row per 2x2 comparison: ``type``, ``treated`` (cohort whose
        treatment switches on), ``control`` (cohort used as control, or
        ``"never"``), ``estimate`` (the 2x2 DID), ``weight``.
    twfe : float
        The TWFE coefficient on the same balanced panel (no controls).
    nobs, n_units, n_periods, n_dropped : int
    drop_reasons : dict
    spec : dict
    """

    components: pd.DataFrame
    twfe: float
    nobs: int
    n_units: int
    n_periods: int
    n_dropped: int = 0
    drop_reasons: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)

    def by_type(self) -> pd.DataFrame:
        """Total weight, weighted mean estimate and count of 2x2s by comparison type."""
        c = self.components
        out = c.groupby("type", sort=False).apply(
            lambda d: pd.Series({"weight": d["weight"].sum(),
                                 "estimate": np.average(d["estimate"], weights=d["weight"])
                                 if d["weight"].sum() > 0 else np.nan,
                                 "comparisons": len(d)}), include_groups=False)
        out["contribution"] = out["weight"] * out["estimate"]
        out["comparisons"] = out["comparisons"].astype(int)
        order = [t for t in _BACON_TYPES if t in out.index]
        return out.loc[order]

    def tidy(self) -> pd.DataFrame:
        """The components, with each one's contribution ``weight * estimate``."""
        out = self.components.copy()
        out["contribution"] = out["weight"] * out["estimate"]
        return out

    def table(self, title: str | None = "Goodman-Bacon decomposition of the TWFE coefficient"):
        """:func:`lib.present.tables.frame_table` of :meth:`by_type` with the TWFE total."""
        from lib.present import tables

        bt = self.by_type()
        total = pd.DataFrame({"weight": [bt["weight"].sum()], "estimate": [self.twfe],
                              "comparisons": [int(bt["comparisons"].sum())],
                              "contribution": [bt["contribution"].sum()]}, index=["TWFE (sum)"])
        frame = pd.concat([bt, total])
        frame.index.name = "comparison"
        return tables.frame_table(
            frame, title=title,
            notes=[f"Balanced panel of {self.n_units:,} units x {self.n_periods} periods, no "
                   "controls; estimate = weighted mean of the 2x2 DIDs of the type; "
                   "contribution = weight x estimate, which sums to the TWFE coefficient"])

    def plot(self, ax: Any = None, *, truth: float | None = None) -> Any:
        """Scatter of each 2x2 estimate against its weight, by comparison type."""
        from lib.present.figures import PALETTE, new_axes

        fig, ax = new_axes(ax)
        styles = {_BACON_TYPES[0]: (PALETTE["control"], "o"),
                  _BACON_TYPES[1]: (PALETTE["highlight"], "^"),
                  _BACON_TYPES[2]: (PALETTE["paper"], "s"),
                  _BACON_TYPES[3]: (PALETTE["placebo"], "v")}
        for kind, d in self.components.groupby("type", sort=False):
            colour, marker = styles[kind]
            ax.scatter(d["weight"], d["estimate"], color=colour, marker=marker, s=42,
                       label=kind, zorder=3, alpha=0.9)
        ax.axhline(self.twfe, color=PALETTE["book"], lw=1.3, ls="--",
                   label=f"TWFE = {self.twfe:.4f}", zorder=2)
        if truth is not None and np.isfinite(truth):
            ax.axhline(truth, color=PALETTE["truth"], lw=1.2, ls=":",
                       label=f"truth (ATT) = {truth:.4f}", zorder=2)
        ax.axhline(0, color=PALETTE["reference"], lw=0.8, zorder=1)
        ax.set_xlabel("Weight in the TWFE coefficient")
        ax.set_ylabel("2x2 DID estimate")
        ax.legend(loc="best", fontsize="small")
        return fig


def bacon_decomposition(data: pd.DataFrame, *, yname: str, idname: str, tname: str,
                        gname: str) -> BaconDecomposition:
    r"""Goodman-Bacon (2021) decomposition of the TWFE DID coefficient.

    The TWFE regression :math:`y_{it} = \beta D_{it} + \alpha_i + \gamma_t + e_{it}`
    with :math:`D_{it} = 1\{t \ge g_i\}` on a balanced panel gives
    (Goodman-Bacon 2021, Theorem 1)

    .. math::

        \hat\beta = \sum_{k \ne U} s_{kU}\hat\beta_{kU}
          + \sum_{k}\sum_{l > k}\big(s^k_{kl}\hat\beta^k_{kl} + s^l_{kl}\hat\beta^l_{kl}\big),
        \qquad \sum s = 1,

    where :math:`\hat\beta_{kU}` compares cohort :math:`k` with the never
    treated, :math:`\hat\beta^k_{kl}` compares the earlier cohort :math:`k`
    with the later cohort :math:`l` before :math:`l` is treated, and
    :math:`\hat\beta^l_{kl}` compares :math:`l` with the **already treated**
    :math:`k` after :math:`k` is treated. Each weight is the squared share of
    observations in the 2x2 subsample times the variance of the two-way
    demeaned treatment in it, over the variance of demeaned :math:`D` in
    the full panel, e.g.
    :math:`s_{kU} = (n_k+n_U)^2\,n_{kU}(1-n_{kU})\,\bar D_k(1-\bar D_k)/\hat V^D`.
    Weights are computed in that form (one 2x2 subsample at a time), so
    always-treated cohorts (treated in the first period) enter as a fourth
    type without special cases.

    Parameters
    ----------
    data : DataFrame
        Long panel; every unit observed in every period.
    yname, idname, tname : str
        Outcome, unit and period columns.
    gname : str
        First treated period (missing, 0 or ``inf`` = never treated).

    Returns
    -------
    BaconDecomposition
        Computed by the package diff-diff (pinned; ``BaconDecomposition``);
        this module checks and prepares the panel. ``tests/test_staggered.py``
        holds diff-diff to the closed forms above and to an independent
        hand-written decomposition (1e-10).

    Notes
    -----
    No controls: with covariates the decomposition gains a within term
    (Goodman-Bacon 2021, section 5) that is not implemented. The identity
    :math:`\sum s\hat\beta = \hat\beta^{TWFE}` holds to rounding and is
    checked in ``tests/test_staggered.py``.

    Examples
    --------
    >>> dec = bacon_decomposition(df, yname="Inno", idname="city_id", tname="year",
    ...                           gname="adoption_year")            # doctest: +SKIP
    >>> dec.by_type()                                               # doctest: +SKIP
    """
    w = _wide_panel(data, yname=yname, idname=idname, tname=tname, gname=gname,
                    fn="bacon_decomposition")
    D = (w.periods[None, :] >= w.G[:, None]).astype(float)
    if not (_twoway_demean(D) ** 2).sum() > 0:
        raise ValueError(f"bacon_decomposition: the treatment implied by {gname!r} does not vary "
                         "after removing unit and period means (no unit switches into treatment "
                         "inside the panel)")
    return _bacon_diff_diff(w, dict(yname=yname, idname=idname, tname=tname, gname=gname))


def _bacon_diff_diff(w: _Wide, spec: dict) -> BaconDecomposition:
    import warnings

    import diff_diff

    # Units treated from the first period on have a constant treatment, which the unit effects
    # absorb: diff-diff pools them with the never treated (Goodman-Bacon 2021, fn. 11) and warns.
    # The pooling is exact for TWFE; it is recorded in spec["always_treated_pooled"] instead.
    n_always = int((np.isfinite(w.G) & (w.G <= w.periods[0])).sum())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Detected \d+ always-treated units", category=UserWarning)
        res = diff_diff.BaconDecomposition().fit(_long_for_diff_diff(w), outcome="y", unit="unit",
                                                 time="time", first_treat="first_treat")
    spec = dict(spec, always_treated_pooled=n_always)
    kinds = {"treated_vs_never": _BACON_TYPES[0], "earlier_vs_later": _BACON_TYPES[1],
             "later_vs_earlier": _BACON_TYPES[2], "treated_vs_always": _BACON_TYPES[3]}
    df = res.to_dataframe()

    def lab(v):
        return NEVER if str(v).startswith("never") else _label(float(v))
    comp = pd.DataFrame({"type": df["comparison_type"].map(lambda k: kinds.get(k, k)),
                         "treated": df["treated_group"].map(lab),
                         "control": df["control_group"].map(lab),
                         "estimate": df["estimate"].astype(float),
                         "weight": df["weight"].astype(float)})
    return BaconDecomposition(components=comp, twfe=float(res.twfe_estimate), nobs=w.nobs,
                              n_units=w.Y.shape[0], n_periods=len(w.periods), n_dropped=w.n_dropped,
                              drop_reasons=w.drop_reasons,
                              spec=dict(spec, backend=f"diff-diff {diff_diff.__version__}"))


# ===================================================================== Callaway-Sant'Anna
@dataclass(frozen=True)
class AggregatedATT:
    """An aggregation of ATT(g,t) (``simple``, ``group`` or ``event``), from diff-diff.

    Attributes
    ----------
    kind : str
    estimates : DataFrame
        Indexed by cohort or event time (one row ``"ATT"`` for ``simple``):
        estimate, std_error, ci_lower, ci_upper (pointwise), and, for a
        bootstrapped fit, the uniform band ``cband_lower``/``cband_upper``.
    overall : dict or None
        ``estimate`` and ``std_error`` of the ``simple`` aggregation (R
        ``aggte``'s "Overall ATT"); None for the other kinds.
    crit_value : float
        Critical value of the bands: the normal quantile (pointwise), or the
        bootstrap sup-t value when the fit was bootstrapped.
    """

    kind: str
    estimates: pd.DataFrame
    overall: dict | None
    crit_value: float = float(stats.norm.ppf(0.975))
    spec: dict = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        return self.estimates.copy()

    def table(self, title: str | None = None):
        from lib.present import tables

        inference = ("multiplier-bootstrap standard errors clustered by unit"
                     if self.spec.get("n_bootstrap") else
                     "analytic influence-function standard errors clustered by unit")
        head = (f"Overall: {self.overall['estimate']:.4f} (s.e. {self.overall['std_error']:.4f}); "
                if self.overall else "")
        return tables.frame_table(self.estimates, title=title, notes=[head + inference])

    def plot(self, ax: Any = None, *, truth: Any = None) -> Any:
        from lib.present.figures import band_plot

        e = self.estimates
        kw = {}
        if "cband_lower" in e:
            kw = dict(lower2=e["cband_lower"], upper2=e["cband_upper"])
        xlabel = {"event": "Years since adoption", "group": "Cohort (first treated year)",
                  "calendar": "Year"}.get(self.kind, "")
        return band_plot(e.index.to_numpy(dtype=float), e["estimate"], e["ci_lower"], e["ci_upper"],
                         truth=truth, ax=ax, xlabel=xlabel, ylabel="ATT", **kw,
                         vertical_line=-0.5 if self.kind == "event" else None,
                         estimate_label="book: Callaway-Sant'Anna")


@dataclass(frozen=True)
class CallawaySantAnna:
    """Group-time average treatment effects ATT(g,t), estimated by diff-diff.

    Attributes
    ----------
    att_gt : DataFrame
        One row per (group, time): event_time, estimate, std_error,
        ci_lower, ci_upper, n_treated, n_control, base_period, post, and
        ``one_treated_unit`` (a cohort of one unit, whose cell s.e. understate the
        uncertainty; see :attr:`single_unit_cohorts`).
    nobs, n_units, n_dropped : int
    drop_reasons, spec, extra : dict
        ``extra["skipped_cells"]`` lists the (group, time) cells without a
        treated or control unit.
    """

    att_gt: pd.DataFrame
    nobs: int = 0
    n_units: int = 0
    n_dropped: int = 0
    drop_reasons: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    fit: Any = field(default=None, repr=False, compare=False)

    def tidy(self) -> pd.DataFrame:
        return self.att_gt.copy()

    def table(self, title: str | None = "ATT(g,t)"):
        from lib.present import tables

        cols = ["group", "time", "event_time", "estimate", "std_error", "n_treated", "n_control"]
        return tables.frame_table(self.att_gt[cols].set_index(["group", "time"]), title=title)

    def plot(self, ax: Any = None, *, truth: Any = None) -> Any:
        return self.aggregate("event").plot(ax=ax, truth=truth)

    def aggregate(self, kind: Literal["simple", "group", "event", "calendar"] = "simple", *,
                  min_e: float = -np.inf, max_e: float = np.inf,
                  balance_e: int | None = None) -> AggregatedATT:
        r"""Aggregate ATT(g,t) as R ``did::aggte`` does (diff-diff's ``results.aggregate``).

        * ``"simple"``: :math:`\theta = \sum_{g,t\ge g} P(G=g)\,ATT(g,t)/\sum P(G=g)`;
        * ``"group"``: :math:`\theta(g) = \frac{1}{T-g+1}\sum_{t \ge g} ATT(g,t)` (with each
          cohort's ``n_treated``);
        * ``"event"``: :math:`\theta(e) = \sum_g P(G=g\mid g+e\le T)\,ATT(g,g+e)`;
        * ``"calendar"``: :math:`\theta(t) = \sum_{g \le t} P(G=g\mid G\le t)\,ATT(g,t)`, the
          effect in year :math:`t` on the units treated by then, and overall their mean over
          years (R ``aggte(type = "calendar")``). diff-diff has no calendar aggregation: it is
          computed here from diff-diff's cell influence functions with the same
          estimated-weights term, and its uniform band (bootstrapped fits) from a seeded
          Rademacher multiplier bootstrap of those influence functions. ``n_treated`` counts
          the treated units of each year; a year with one has no s.e. (NaN) and is left out of
          the band.

        Standard errors include the term for estimated weights (R
        ``did:::wif``). ``min_e``/``max_e`` select the event times returned;
        the uniform band of a bootstrapped fit is computed over all event
        times, so it is, if anything, wider than one for the window alone.
        ``balance_e`` = :math:`k` keeps only the cohorts observed :math:`k` periods after
        adoption (a balanced event window, so the dynamic path is not a changing mix of
        cohorts; diff-diff's ``balance_e``).
        """
        if kind not in ("simple", "group", "event", "calendar"):
            raise ValueError("aggregate: kind must be 'simple', 'group', 'event' or 'calendar', "
                             f"got {kind!r}")
        z = float(stats.norm.ppf(0.5 + self.spec["level"] / 2))
        if kind == "calendar":
            return self._calendar(z)
        extra = {} if balance_e is None else {"balance_e": int(balance_e)}
        res = _quiet(self.fit.aggregate, {"event": "event_study"}.get(kind, kind), **extra)
        tab = res.to_dataframe()
        key = {"simple": "label", "group": "label", "event": "event_time"}[kind]
        est = pd.DataFrame({"estimate": tab["att"].to_numpy(), "std_error": tab["se"].to_numpy(),
                            "ci_lower": tab["conf_int_lower"].to_numpy(),
                            "ci_upper": tab["conf_int_upper"].to_numpy()},
                           index=pd.Index(["ATT"] if kind == "simple" else
                                          [_label(float(v)) for v in tab[key]],
                                          name={"simple": "", "group": "group",
                                                "event": "event_time"}[kind]))
        crit = z
        if kind == "event" and "cband_lower" in tab and tab["cband_lower"].notna().any():
            est["cband_lower"] = tab["cband_lower"].to_numpy()
            est["cband_upper"] = tab["cband_upper"].to_numpy()
            crit = float(res.cband_crit_value)
        if kind == "event":
            est = est[(est.index >= min_e) & (est.index <= max_e)]
        if kind == "group":
            est["n_treated"] = (self.att_gt.groupby("group")["n_treated"].max()
                                .reindex(est.index).to_numpy())
        overall = ({"estimate": float(est["estimate"].iloc[0]),
                    "std_error": float(est["std_error"].iloc[0])} if kind == "simple" else None)
        return AggregatedATT(kind=kind, estimates=est, overall=overall, crit_value=crit,
                             spec=dict(self.spec, aggregation=kind, balance_e=balance_e))

    def pretest(self, *, min_e: float = -np.inf) -> dict[str, float]:
        r"""Joint Wald test that every lead of the dynamic aggregation is zero,
        :math:`W = \hat\theta_{pre}'\hat V_{pre}^{-1}\hat\theta_{pre} \sim \chi^2_q`, with diff-diff's
        covariance of the event-time effects (leads :math:`e \le -2`, or :math:`e < 0` with a
        varying base period; ``min_e`` drops the longest ones). A test of the aggregated leads,
        not of every pre-period ATT(g,t) cell (whose joint covariance diff-diff does not return).
        """
        es = _quiet(self.fit.aggregate, "event_study")
        idx = np.asarray(es.vcov_index, dtype=float)
        tab = es.to_dataframe().set_index("event_time")
        leads = [i for i, e in enumerate(idx) if min_e <= e < 0 and np.isfinite(tab.loc[e, "se"])
                 and tab.loc[e, "se"] > 0]
        b = tab.loc[idx[leads], "att"].to_numpy(dtype=float)
        V = np.asarray(es.vcov)[np.ix_(leads, leads)]
        w = float(b @ np.linalg.solve(V, b))
        return {"statistic": w, "df": len(leads), "p": float(stats.chi2.sf(w, len(leads))),
                "event_times": [int(e) for e in idx[leads]]}


    @property
    def single_unit_cohorts(self) -> list:
        """Cohorts with one treated unit: their ATT(g,t) s.e. carry only the control group's
        variability (the treated unit's own deviation from its cohort mean is zero), so they
        understate the uncertainty; ``pretest_cells`` leaves them out."""
        a = self.att_gt
        return sorted(a.loc[a["one_treated_unit"], "group"].unique().tolist())

    def cell_influence(self) -> tuple[np.ndarray, np.ndarray]:
        r"""The unit x cell influence functions of the ``att_gt`` rows, from diff-diff, scaled so
        that a cell's s.e. is :math:`\sqrt{\sum_i \psi_i^2}`, and each unit's cohort."""
        return self._influence

    @functools.cached_property
    def _influence(self) -> tuple[np.ndarray, np.ndarray]:
        # built once per fit: the calendar aggregation combines cells once per year
        kit = self.fit._aggregation_kit
        book = kit.bookkeeping
        psi = np.zeros((len(book["all_units"]), len(self.att_gt)))
        for j, (g, t) in enumerate(zip(self.att_gt["group"], self.att_gt["time"])):
            info = kit.influence[(g, t)]
            psi[info["treated_idx"], j] += info["treated_inf"]
            psi[info["control_idx"], j] += info["control_inf"]
        return psi, np.asarray(book["unit_cohorts"], dtype=float)

    def combine(self, rows: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        r"""One aggregate of the ``att_gt`` rows selected by the boolean ``rows`` and its influence
        function: with ``weights`` None, cohort-share weights :math:`P(G=g)/\sum P(G=g)` and the
        term for their estimation (R ``did:::wif``), otherwise the fixed ``weights``."""
        psi, cohort = self.cell_influence()
        idx = np.flatnonzero(rows)
        att = self.att_gt["estimate"].to_numpy(dtype=float)[idx]
        groups = self.att_gt["group"].to_numpy(dtype=float)[idx]
        n = psi.shape[0]
        if weights is not None:
            w = np.asarray(weights, dtype=float)
            return float(w @ att), psi[:, idx] @ w
        pg = np.array([np.mean(cohort == g) for g in groups])
        s = pg.sum()
        ind = (cohort[:, None] == groups[None, :]).astype(float) - pg[None, :]
        wif = ind / s - ind.sum(axis=1, keepdims=True) * (pg[None, :] / s**2)
        w = pg / s
        return float(w @ att), psi[:, idx] @ w + (wif @ att) / n

    def _calendar(self, z: float) -> AggregatedATT:
        a = self.att_gt
        post = (a["time"] >= a["group"]).to_numpy()
        years = sorted(a.loc[post, "time"].unique())
        est, infs = [], []
        for t in years:
            e, inf = self.combine(post & (a["time"] == t).to_numpy())
            est.append(e)
            infs.append(inf)
        Psi = np.column_stack(infs)
        se = np.sqrt((Psi**2).sum(axis=0))
        n_treated = a[post].groupby("time")["n_treated"].sum().reindex(years).to_numpy()
        # a year whose treated units are one unit has a s.e. without that unit's variability:
        # no interval for it, and it stays out of the band (its estimate stays in the mean)
        ok = (se > 0) & (n_treated > 1)
        se_shown = np.where(ok, se, np.nan)
        out = pd.DataFrame({"estimate": est, "std_error": se_shown,
                            "ci_lower": np.array(est) - z * se_shown,
                            "ci_upper": np.array(est) + z * se_shown, "n_treated": n_treated},
                           index=pd.Index([_label(float(t)) for t in years], name="time"))
        crit = z
        B = self.spec.get("n_bootstrap", 0)
        if B and ok.any():   # sup-t over years, as R's cband for the calendar aggregation
            rng = np.random.default_rng(self.spec.get("seed"))
            sup = np.empty(B)
            for lo in range(0, B, 256):   # chunks keep memory at 256 x units
                v = rng.choice([-1.0, 1.0], size=(min(256, B - lo), Psi.shape[0]))
                sup[lo:lo + len(v)] = np.max(np.abs(v @ Psi[:, ok]) / se[ok], axis=1)
            crit = float(np.quantile(sup, self.spec["level"]))
            out["cband_lower"] = out["estimate"] - crit * se_shown
            out["cband_upper"] = out["estimate"] + crit * se_shown
        overall_inf = Psi.mean(axis=1)
        overall = {"estimate": float(np.mean(est)), "std_error": float(np.sqrt((overall_inf**2).sum()))}
        return AggregatedATT(kind="calendar", estimates=out, overall=overall, crit_value=crit,
                             spec=dict(self.spec, aggregation="calendar", balance_e=None,
                                       calendar_inference="analytic s.e.; sup-t band from a "
                                       "multiplier bootstrap" if B else "analytic s.e."))

    def pretest_cells(self) -> dict[str, Any]:
        r"""R ``did``'s pre-test of parallel trends: the joint Wald test that every pre-period
        ATT(g,t) is zero, :math:`W = \hat\theta_{pre}'\hat V^{-1}\hat\theta_{pre} \sim \chi^2_q`,
        with :math:`\hat V = \Psi'\Psi` from the cells' influence functions. Cells of cohorts with
        one treated unit (s.e. without the treated unit's own variability) and cells with zero
        variance are left out and listed; a singular :math:`\hat V` uses its pseudo-inverse and
        its rank as the degrees of freedom.
        """
        a = self.att_gt
        pre = (~a["post"]).to_numpy()
        ok = pre & ~a["one_treated_unit"].to_numpy() & (a["std_error"].to_numpy() > 0)
        left_out = [(r.group, r.time) for r in a[pre & ~ok].itertuples()]
        if not ok.any():
            return {"statistic": np.nan, "df": 0, "p": np.nan, "n_cells": 0, "left_out": left_out}
        psi, _ = self.cell_influence()
        P = psi[:, ok]
        V = P.T @ P
        b = a["estimate"].to_numpy(dtype=float)[ok]
        rank = int(np.linalg.matrix_rank(V))
        w = float(b @ (np.linalg.solve(V, b) if rank == len(b) else np.linalg.pinv(V) @ b))
        return {"statistic": w, "df": rank, "p": float(stats.chi2.sf(w, rank)),
                "n_cells": int(ok.sum()), "left_out": left_out}


def _quiet(fn, *args, **kwargs):
    """Call diff-diff without its deprecation and small-cell warnings (the result says what it dropped)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def callaway_santanna(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
                      control_group: Literal["never_treated", "not_yet_treated"] = "never_treated",
                      base_period: Literal["varying", "universal"] = "varying",
                      n_bootstrap: int = 0, seed: int | None = None,
                      level: float = 0.95, controls: Sequence[str] = (),
                      estimation_method: Literal["reg", "ipw", "dr"] = "reg",
                      anticipation: int = 0) -> CallawaySantAnna:
    r"""Callaway & Sant'Anna (2021) group-time average treatment effects, with or without covariates.

    For cohort :math:`g` (first treated in :math:`g`) and period :math:`t`,

    .. math::

        \widehat{ATT}(g,t) = \frac{1}{n_g}\sum_{i:G_i=g}(Y_{it}-Y_{ib})
          - \frac{1}{n_C}\sum_{i \in C_{g,t}}(Y_{it}-Y_{ib}),

    with base period :math:`b = g-1` for :math:`t \ge g`, and for
    :math:`t < g` either :math:`b = t-1` (``"varying"``, R ``did``'s default:
    pre-period cells are one-period placebo DIDs) or :math:`b = g-1`
    (``"universal"``). Control units :math:`C_{g,t}`: the never treated
    (``"never_treated"``, the paper's eq. 2.4's :math:`C=1`), or units never
    treated or first treated after :math:`\max(t, b)`, other than :math:`g`
    (``"not_yet_treated"``).

    Estimated by diff-diff (pinned; ``CallawaySantAnna``, which its maintainers check against
    R ``did``). Without ``controls`` the three estimation methods coincide. With ``controls``
    (their values in the base period, as R ``did``), ``"reg"`` is the outcome regression
    :math:`\overline{\Delta Y - \hat m(X)}_{G=g}`, :math:`\hat m` fitted on the comparison
    units; ``"ipw"`` the normalised inverse-probability weighting of Abadie (2005); ``"dr"``
    the doubly robust estimator of Sant'Anna and Zhao (2020), consistent if either model is
    right. ``anticipation`` = :math:`\delta` moves the base period to :math:`g - 1 - \delta`.
    Standard errors are analytic influence-function s.e. clustered by unit (R
    ``did`` with ``bstrap=FALSE``); with ``n_bootstrap > 0`` they, the
    intervals and a uniform (sup-t) event-study band come from diff-diff's
    seeded Rademacher multiplier bootstrap (R ``bstrap=TRUE, cband=TRUE``).
    ``tests/staggered_oracle.py`` holds an independent hand-written version.

    Parameters
    ----------
    data : DataFrame
        Long, balanced panel.
    yname, idname, tname, gname : str
        Outcome, unit, period and first-treated-period columns (never
        treated: missing, 0 or ``inf``).
    control_group : {"never_treated", "not_yet_treated"}
    base_period : {"varying", "universal"}
    n_bootstrap : int
        Multiplier-bootstrap draws (0: analytic inference only).
    seed : int, optional
        Seed of the bootstrap.
    level : float
        Confidence level of the intervals.
    controls : sequence of str
        Covariates (units with a missing value in any period are dropped and counted).
    estimation_method : {"reg", "ipw", "dr"}
    anticipation : int
        Periods of anticipation :math:`\delta \ge 0`.

    Returns
    -------
    CallawaySantAnna
        ``.aggregate("simple" | "group" | "event")`` gives the summaries.

    Notes
    -----
    Cohorts treated in the first period have no pre-period and are dropped
    (counted in ``drop_reasons``), as in R ``did``; units first treated after
    the last period count as never treated. Cells without a control unit are
    skipped and listed in ``extra["skipped_cells"]``. With a universal base
    period the cells :math:`t = g-1` are zero by construction: they are not
    rows of ``att_gt``, and the event aggregation shows :math:`e=-1` as 0
    without a standard error, as R ``did`` does.
    """
    import diff_diff

    if control_group not in ("never_treated", "not_yet_treated"):
        raise ValueError(f"control_group must be 'never_treated' or 'not_yet_treated', got "
                         f"{control_group!r}")
    if base_period not in ("varying", "universal"):
        raise ValueError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    if not (isinstance(n_bootstrap, (int, np.integer)) and n_bootstrap >= 0):
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    if estimation_method not in ("reg", "ipw", "dr"):
        raise ValueError(f"estimation_method must be 'reg', 'ipw' or 'dr', got {estimation_method!r}")
    if int(anticipation) != anticipation or anticipation < 0:
        raise ValueError(f"anticipation must be a non-negative integer, got {anticipation!r}")
    controls = list(controls)
    _check_columns(data, controls, "callaway_santanna")
    if controls:   # a unit with a missing covariate cannot be compared: drop it whole, and say so
        bad = data.loc[data[controls].isna().any(axis=1), idname].unique()
        if len(bad):
            n_rows = int(data[idname].isin(bad).sum())
            data = data[~data[idname].isin(bad)]
    w = _wide_panel(data, yname=yname, idname=idname, tname=tname, gname=gname,
                    fn="callaway_santanna")
    per = w.periods
    drop_reasons = dict(w.drop_reasons)
    n_dropped = w.n_dropped
    if controls and len(bad):
        drop_reasons["a control missing (whole unit dropped)"] = n_rows
        n_dropped += n_rows
    early = np.isfinite(w.G) & (w.G <= per[0])
    if early.any():
        drop_reasons["treated in the first period (no pre-period)"] = int(early.sum() * len(per))
        n_dropped += int(early.sum() * len(per))
    G = np.where(w.G[~early] > per[-1], np.inf, w.G[~early])
    if control_group == "never_treated" and np.isfinite(G).all():
        raise ValueError("callaway_santanna: control_group='never_treated' but no unit is never "
                         f"treated (all have a finite {gname!r}); use control_group='not_yet_treated'")
    keep = _Wide(Y=w.Y[~early], G=G, units=w.units[~early], periods=per, nobs=0, n_dropped=0,
                 drop_reasons={})
    long = _long_for_diff_diff(keep)
    if controls:
        cov = data.set_index([idname, tname])[controls]
        keys = pd.MultiIndex.from_arrays([np.repeat(keep.units, len(per)), np.tile(per, len(keep.units))])
        for c in controls:
            long[c] = cov[c].reindex(keys).to_numpy(dtype=float)
    res = _quiet(diff_diff.CallawaySantAnna(
        control_group=control_group, estimation_method=estimation_method, base_period=base_period,
        anticipation=int(anticipation), alpha=1 - level, n_bootstrap=int(n_bootstrap), seed=seed).fit,
        long, outcome="y", unit="unit", time="time", first_treat="first_treat",
        covariates=controls or None)
    pos = {t: j for j, t in enumerate(per)}
    rows, skipped = [], []
    for (g, t), cell in sorted(res.group_time_effects.items()):
        if not np.isfinite(cell["effect"]):
            skipped.append((_label(g), _label(t)))
            continue
        post = t >= g - anticipation
        b = (g - 1 - anticipation if (post or base_period == "universal") else per[pos[t] - 1])
        if b == t:  # the universal base period itself: zero by construction, not estimated
            continue
        lo, hi = cell["conf_int"]
        rows.append({"group": _label(g), "time": _label(t), "event_time": _label(t - g),
                     "estimate": float(cell["effect"]), "std_error": float(cell["se"]),
                     "ci_lower": float(lo), "ci_upper": float(hi),
                     "n_treated": int(cell["n_treated"]), "n_control": int(cell["n_control"]),
                     "base_period": _label(b), "post": bool(post),
                     "one_treated_unit": int(cell["n_treated"]) == 1})
    if not rows:
        raise ValueError("callaway_santanna: no group-time cell has both treated and control units")
    return CallawaySantAnna(att_gt=pd.DataFrame(rows), nobs=int(keep.Y.size),
                            n_units=int(keep.Y.shape[0]), n_dropped=n_dropped,
                            drop_reasons=drop_reasons,
                            spec=dict(yname=yname, idname=idname, tname=tname, gname=gname,
                                      control_group=control_group, base_period=base_period,
                                      n_bootstrap=int(n_bootstrap), seed=seed, level=level,
                                      controls=tuple(controls), estimation_method=estimation_method,
                                      anticipation=int(anticipation),
                                      backend=f"diff-diff {diff_diff.__version__}"),
                            extra={"skipped_cells": skipped}, fit=res)


# ===================================================================== Sun-Abraham
@dataclass(frozen=True)
class SunAbraham:
    """Sun & Abraham (2021) interaction-weighted event study.

    Attributes
    ----------
    estimates : DataFrame
        Indexed by ``event_time`` inside the window: estimate, std_error,
        ci_lower, ci_upper, nobs (treated observations at that event time);
        the reference period is 0 by construction (s.e. 0).
    cohort_effects : DataFrame
        CATT(g, e) of the saturated regression: group, event_time, estimate,
        std_error, nobs.
    att : dict
        ``estimate`` and ``std_error`` of the average over treated
        observations (every post cell weighted by its observation count).
    n_clusters : int
        Clusters of the CRV1 variance (the ``cluster`` column).
    nobs, n_dropped : int
    drop_reasons, spec : dict
    """

    estimates: pd.DataFrame
    cohort_effects: pd.DataFrame
    att: dict
    n_clusters: int
    nobs: int = 0
    n_dropped: int = 0
    drop_reasons: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        return self.estimates.copy()

    def table(self, title: str | None = "Sun-Abraham interaction-weighted event study"):
        from lib.present import tables

        return tables.frame_table(self.estimates, title=title, notes=[
            f"ATT over treated observations: {self.att['estimate']:.4f} (s.e. "
            f"{self.att['std_error']:.4f}); CRV1 by {self.spec['cluster']} ({self.n_clusters} clusters); "
            f"N = {self.nobs:,}"])

    def plot(self, ax: Any = None, *, truth: Any = None) -> Any:
        from lib.present.figures import band_plot

        e = self.estimates
        return band_plot(e.index.to_numpy(dtype=float), e["estimate"], e["ci_lower"], e["ci_upper"],
                         truth=truth, ax=ax, xlabel="Years since adoption", ylabel="Effect",
                         vertical_line=-0.5, estimate_label="book: Sun-Abraham")


def sun_abraham(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
                controls: Sequence[str] = (), window: tuple[int, int] = (-5, 5), ref: int = -1,
                control_cohort: Literal["never_treated", "last_treated"] = "never_treated",
                cluster: str | None = None, level: float = 0.95) -> SunAbraham:
    r"""Sun & Abraham (2021) interaction-weighted (IW) event-study estimator.

    Step 1, a saturated TWFE regression on the treated cohorts and the
    control cohort :math:`C` (never treated, or the last-treated cohort
    before its treatment):

    .. math::

        y_{it} = \alpha_i + \lambda_t + \sum_{g \notin C}\sum_{e \ne r}
                 \delta_{g,e}\,1\{G_i = g\}\,1\{t - g = e\} + X_{it}'\gamma + \varepsilon_{it},

    with every relative period of every cohort in the data (not only those
    in ``window``) and reference period :math:`r` (``ref``, default -1).
    Step 2, the IW estimate at event time :math:`e`,

    .. math::

        \hat\nu_e = \sum_g \widehat{\Pr}(G = g \mid t - G = e)\,\hat\delta_{g,e},

    with the cohort shares among the observations at :math:`e`. Its
    variance is :math:`w_e'\hat V_\delta w_e` with the CRV1 covariance of the
    regression (clustered by ``cluster``, default the unit), treating the
    shares as fixed, as ``fixest::sunab`` does.

    Without controls and with never-treated controls, :math:`\hat\delta_{g,e}`
    equals Callaway-Sant'Anna's ATT(g, g+e) with never-treated controls and
    ``base_period="universal"`` (a test checks this).

    Parameters
    ----------
    data : DataFrame
    yname, idname, tname, gname : str
    controls : sequence of str
        Time-varying covariates (rows with missing values are dropped and
        counted).
    window : (int, int)
        Event times reported.
    ref : int
        Reference relative period (normalised to zero).
    control_cohort : {"never_treated", "last_treated"}
    cluster : str, optional
        Cluster column (default ``idname``).
    level : float

    Returns
    -------
    SunAbraham
        The estimates are the package diff-diff's (pinned; ``SunAbraham``);
        this module prepares the sample (complete cases, cohorts treated in
        the first period, the last-treated control) and counts what it drops.
        Intervals use :math:`t_{G-1}`. ``tests/test_staggered.py`` holds
        diff-diff to an independent hand-written saturated regression
        (itself checked against linearmodels) to 1e-10.
    """
    import diff_diff

    from lib.data import model_frame

    _check_columns(data, [yname, idname, tname, gname, *controls], "sun_abraham")
    cluster = cluster or idname
    g_all = _cohorts(data, idname, gname, "sun_abraham")
    frame = data[list(dict.fromkeys([yname, idname, tname, *controls, cluster]))].copy()
    frame["_g"] = g_all.to_numpy()
    frame, dropped = model_frame(frame, [yname, idname, tname, *controls, cluster, "_g"])
    drop_reasons = {k: int(v) for k, v in dropped.items() if k != "total" and v}
    n_dropped = int(dropped["total"])
    t = pd.to_numeric(frame[tname]).to_numpy(dtype=float)
    g = frame["_g"].to_numpy(dtype=float)
    first, last = t.min(), t.max()
    g = np.where(g > last, np.inf, g)
    keep = ~(np.isfinite(g) & (g <= first))
    if (~keep).any():
        drop_reasons["treated in the first period (no reference period)"] = int((~keep).sum())
    if control_cohort == "last_treated":
        glast = np.max(g[np.isfinite(g)])
        # the last cohort is a valid control only before it is treated itself
        keep &= t < glast
        drop_reasons[f"periods from {int(glast)} on (last-treated cohort is the control)"] = int(
            (t >= glast).sum())
        g = np.where(g == glast, np.inf, g)
    elif control_cohort != "never_treated":
        raise ValueError(f"control_cohort must be 'never_treated' or 'last_treated', got "
                         f"{control_cohort!r}")
    if not (~np.isfinite(g[keep])).any():
        raise ValueError("sun_abraham: no control units (never treated) left; use "
                         "control_cohort='last_treated'")
    n_dropped += int((~keep).sum())
    frame, t, g = frame.loc[keep], t[keep], g[keep]
    e = np.where(np.isfinite(g), t - g, np.nan)
    cells = (pd.DataFrame({"g": g, "e": e}).dropna().query("e != @ref")
             .value_counts().sort_index().rename("nobs").reset_index())
    res = _sa_diff_diff(frame, g, t, yname=yname, idname=idname, controls=controls, cluster=cluster)
    n_clusters = int(frame[cluster].nunique())
    q = float(stats.t.ppf(0.5 + level / 2, n_clusters - 1))
    ce = pd.DataFrame([{"group": int(gg), "event_time": int(ee), "estimate": float(v["effect"]),
                        "std_error": float(v["se"])} for (gg, ee), v in res.cohort_effects.items()])
    ce = ce.merge(cells.rename(columns={"g": "group", "e": "event_time"}).astype(
        {"group": int, "event_time": int}), on=["group", "event_time"], how="left")
    effects = {int(k): v for k, v in res.event_study_effects.items()}
    rows = []
    for ev in range(window[0], window[1] + 1):
        if ev == ref:
            rows.append({"event_time": ev, "estimate": 0.0, "std_error": 0.0, "nobs": 0})
        elif ev in effects:
            rows.append({"event_time": ev, "estimate": float(effects[ev]["effect"]),
                         "std_error": float(effects[ev]["se"]),
                         "nobs": int(cells.loc[cells["e"] == ev, "nobs"].sum())})
    est = pd.DataFrame(rows).set_index("event_time")
    est["ci_lower"] = est["estimate"] - q * est["std_error"]
    est["ci_upper"] = est["estimate"] + q * est["std_error"]
    est = est[["estimate", "std_error", "ci_lower", "ci_upper", "nobs"]]
    att = {"estimate": float(res.overall_att), "std_error": float(res.overall_se),
           "nobs": int(cells.loc[cells["e"] >= 0, "nobs"].sum())}
    return SunAbraham(estimates=est, cohort_effects=ce[["group", "event_time", "estimate", "std_error",
                                                        "nobs"]],
                      att=att, nobs=int(len(frame)), n_clusters=n_clusters, n_dropped=n_dropped,
                      drop_reasons=drop_reasons,
                      spec=dict(yname=yname, idname=idname, tname=tname, gname=gname,
                                controls=list(controls), window=tuple(window), ref=ref,
                                control_cohort=control_cohort, cluster=cluster,
                                backend=f"diff-diff {diff_diff.__version__}"))


def _sa_diff_diff(frame, g, t, *, yname, idname, controls, cluster):
    """diff-diff's SunAbraham on the prepared sample (never treated: ``g = inf``)."""
    import warnings

    import diff_diff

    long = frame[[yname, idname, *controls]].copy()
    long.columns = ["y", "unit", *[f"x{j}" for j in range(len(controls))]]
    long["time"], long["first_treat"] = t, np.where(np.isfinite(g), g, 0)
    long["cl"] = frame[cluster].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # diff-diff's own deprecations
        return diff_diff.SunAbraham(control_group="never_treated", cluster="cl").fit(
            long, outcome="y", unit="unit", time="time", first_treat="first_treat",
            covariates=[f"x{j}" for j in range(len(controls))] or None)


# ===================================================================== comparison figure
def event_time_plot(estimates: dict[str, pd.DataFrame], *, truth: pd.Series | None = None,
                    ax: Any = None, xlabel: str = "Years since adoption",
                    ylabel: str = "Effect on Inno") -> Any:
    """Several event-time estimators side by side (dodged points with 95% CIs) and the truth.

    Parameters
    ----------
    estimates : dict of str to DataFrame
        Label -> frame indexed by event time with ``estimate``, ``ci_lower``,
        ``ci_upper`` (e.g. ``SunAbraham.estimates``,
        ``AggregatedATT.estimates``, an event study's ``.estimates``).
    truth : Series, optional
        True effect by event time (black diamonds).
    """
    from lib.present.figures import MARKERS, PALETTE, new_axes

    fig, ax = new_axes(ax)
    colours = [PALETTE["book"], PALETTE["highlight"], PALETTE["treated"], PALETTE["placebo"],
               PALETTE["control"], PALETTE["reference"]]   # Okabe-Ito; the sixth, grey, by its marker
    markers = ["o", "s", "^", "v", "P", "X"]
    m = len(estimates)
    offsets = (np.arange(m) - (m - 1) / 2) * min(0.16, 0.8 / max(m, 1))
    ax.axhline(0, color=PALETTE["reference"], lw=0.9, ls="--", zorder=1)
    ax.axvline(-0.5, color=PALETTE["reference"], lw=0.9, ls=":", zorder=1)
    for j, (name, fr) in enumerate(estimates.items()):
        x = fr.index.to_numpy(dtype=float) + offsets[j]
        est = fr["estimate"].to_numpy(dtype=float)
        lo, hi = fr["ci_lower"].to_numpy(dtype=float), fr["ci_upper"].to_numpy(dtype=float)
        ax.errorbar(x, est, yerr=np.vstack([est - lo, hi - est]), fmt=markers[j % 6],
                    color=colours[j % 6], ms=5, elinewidth=1.2, capsize=0, label=name, zorder=3)
    if truth is not None:
        tr = truth.dropna()
        lo_x = min(fr.index.min() for fr in estimates.values())
        hi_x = max(fr.index.max() for fr in estimates.values())
        tr = tr[(tr.index >= lo_x) & (tr.index <= hi_x)]
        ax.scatter(tr.index.to_numpy(dtype=float), tr.to_numpy(), marker=MARKERS["truth"],
                   facecolors="none", edgecolors=PALETTE["truth"], s=62, linewidths=1.4,
                   label="truth", zorder=4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", fontsize="small")
    return fig


# ================================================================ imputation, dCDH, stacked
@dataclass(frozen=True)
class EventTimeEffects:
    """An event study from one of the heterogeneity-robust estimators.

    Attributes
    ----------
    estimator : str
    estimates : DataFrame
        Index ``event_time``; ``estimate``, ``std_error``, ``ci_lower``, ``ci_upper`` (the
        reference period, where there is one, has estimate 0 and no s.e.).
    overall : dict
        ``estimate`` and ``std_error`` of the estimator's summary ATT (see ``identifies``).
    identifies : str
        What the estimator identifies, in one sentence.
    nobs : int
    spec, extra : dict
    """

    estimator: str
    estimates: pd.DataFrame
    overall: dict
    identifies: str
    nobs: int = 0
    spec: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    fit: Any = field(default=None, repr=False, compare=False)

    def plot(self, ax: Any = None, *, truth: Any = None) -> Any:
        return event_time_plot({self.estimator: self.estimates}, truth=truth, ax=ax)


def _diff_diff_long(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
                    controls: Sequence[str], fn: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Complete cases of the estimator's columns in diff-diff's long form (first_treat 0 = never)."""
    controls = list(controls)
    _check_columns(data, [yname, idname, tname, gname, *controls], fn)
    g = _cohorts(data, idname, gname, fn)
    frame = pd.DataFrame({"unit": data[idname].to_numpy(), "time": pd.to_numeric(data[tname]).to_numpy(),
                          "y": pd.to_numeric(data[yname], errors="coerce").to_numpy(dtype=float),
                          "first_treat": np.where(np.isfinite(g.to_numpy()), g.to_numpy(), 0.0)})
    for c in controls:
        frame[c] = pd.to_numeric(data[c], errors="coerce").to_numpy(dtype=float)
    keep = frame[["y", *controls]].notna().all(axis=1)
    drop = {} if keep.all() else {f"{yname} or a control missing": int((~keep).sum())}
    return frame[keep].reset_index(drop=True), drop


def _effects_frame(event_time, estimate, se, level: float) -> pd.DataFrame:
    z = float(stats.norm.ppf(0.5 + level / 2))
    est = pd.DataFrame({"estimate": np.asarray(estimate, float), "std_error": np.asarray(se, float)},
                       index=pd.Index(np.asarray(event_time).astype(int), name="event_time"))
    est["ci_lower"] = est["estimate"] - z * est["std_error"]
    est["ci_upper"] = est["estimate"] + z * est["std_error"]
    return est.sort_index()


def imputation(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
               controls: Sequence[str] = (), horizon_max: int | None = None,
               level: float = 0.95, event_times: bool = True) -> EventTimeEffects:
    r"""Borusyak, Jaravel and Spiess (2024) imputation estimator, by diff-diff (pinned ``ImputationDiD``).

    Unit and period effects (and the controls' coefficients) are estimated on the untreated
    unit-periods only; each treated unit-period's untreated outcome is imputed from them,
    :math:`\hat\tau_{it} = Y_{it} - \hat Y_{it}(0)`, and the ATT (overall and by event time)
    averages :math:`\hat\tau_{it}`. Standard errors: BJS's conservative clustered variance
    (Theorem 3), by unit. Leads (event times below 0) are BJS's pre-trend regression
    coefficients. Handles unbalanced panels; without never-treated units the periods after the
    last cohort's adoption are not identified (NaN). ``event_times=False`` skips the event-time
    aggregation (``estimates`` is then empty): the overall ATT and the pre-trend test only, at
    a third of the cost, for simulations.
    """
    import diff_diff

    frame, drop = _diff_diff_long(data, yname=yname, idname=idname, tname=tname, gname=gname,
                                  controls=controls, fn="imputation")
    res = _quiet(diff_diff.ImputationDiD(pretrends=True, horizon_max=horizon_max, alpha=1 - level).fit,
                 frame, outcome="y", unit="unit", time="time", first_treat="first_treat",
                 covariates=list(controls) or None)
    if event_times:
        es = _quiet(res.aggregate, "event_study").to_dataframe()
        est = _effects_frame(es["event_time"], es["att"], es["se"], level)
    else:
        est = _effects_frame([], [], [], level)
    return EventTimeEffects(
        estimator="imputation (Borusyak-Jaravel-Spiess)", estimates=est,
        overall={"estimate": float(res.overall_att), "std_error": float(res.overall_se)},
        identifies="the ATT over all treated unit-periods, each imputed from the untreated ones "
                   "under parallel trends and no anticipation",
        nobs=len(frame), spec=dict(yname=yname, idname=idname, tname=tname, gname=gname,
                                   controls=tuple(controls), horizon_max=horizon_max, level=level,
                                   backend=f"diff-diff {diff_diff.__version__}"),
        extra={"drop_reasons": drop, "pretrend_test": _quiet(res.pretrend_test)}, fit=res)


def dcdh(data: pd.DataFrame, *, yname: str, idname: str, tname: str, dname: str, horizons: int = 3,
         level: float = 0.95) -> EventTimeEffects:
    r"""de Chaisemartin and D'Haultfoeuille (2024) dynamic effects :math:`DID_\ell`, by diff-diff
    (pinned ``ChaisemartinDHaultfoeuille``).

    :math:`DID_\ell` compares the outcome change from the period before a unit's first switch
    to :math:`\ell - 1` periods after it with the same change among units whose treatment has
    not changed yet, weighted by the number of switchers (event time :math:`e = \ell - 1`;
    :math:`DID_1` is the effect on impact). Placebos (event times below 0) compare the
    switchers' earlier changes. The summary ATT is diff-diff's average over the horizons
    (the cost-benefit :math:`\delta` of de Chaisemartin-D'Haultfoeuille). Standard errors:
    the cohort-recentred influence function, clustered by unit.
    """
    import diff_diff

    _check_columns(data, [yname, idname, tname, dname], "dcdh")
    frame = pd.DataFrame({"unit": data[idname].to_numpy(), "time": pd.to_numeric(data[tname]).to_numpy(),
                          "y": pd.to_numeric(data[yname], errors="coerce").to_numpy(dtype=float),
                          "treated": pd.to_numeric(data[dname], errors="coerce").to_numpy(dtype=float)})
    keep = frame[["y", "treated"]].notna().all(axis=1)
    drop = {} if keep.all() else {f"{yname} or {dname} missing": int((~keep).sum())}
    frame = frame[keep].reset_index(drop=True)
    res = _quiet(diff_diff.ChaisemartinDHaultfoeuille(twfe_diagnostic=False, alpha=1 - level).fit,
                 frame, outcome="y", unit="unit", time="time", treatment="treated", L_max=int(horizons))
    # DID_l is event time l - 1; placebo l (keyed -l) compares e = -1 - l with the reference e = -1
    rows = {l - 1: v for l, v in res.event_study_effects.items()}
    rows.update({k - 1: v for k, v in (res.placebo_event_study or {}).items()})
    rows[-1] = {"effect": 0.0, "se": np.nan}
    e = sorted(rows)
    est = _effects_frame(e, [rows[k]["effect"] for k in e], [rows[k]["se"] for k in e], level)
    return EventTimeEffects(
        estimator="de Chaisemartin-D'Haultfoeuille", estimates=est,
        overall={"estimate": float(res.overall_att), "std_error": float(res.overall_se)},
        identifies="the effect ℓ periods after the first switch, among switchers, against units "
                   "not yet switched (never a comparison with already-treated units)",
        nobs=len(frame), spec=dict(yname=yname, idname=idname, tname=tname, dname=dname,
                                   horizons=int(horizons), level=level,
                                   backend=f"diff-diff {diff_diff.__version__}"),
        extra={"drop_reasons": drop}, fit=res)


def stacked(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
            kappa_pre: int = 3, kappa_post: int = 3,
            control_group: Literal["not_yet_treated", "never_treated"] = "not_yet_treated",
            level: float = 0.95) -> EventTimeEffects:
    r"""Stacked DID (Wing, Freedman and Hollingsworth 2024), by diff-diff (pinned ``StackedDiD``).

    One sub-experiment per cohort :math:`g`: its units and the clean controls (not treated by
    :math:`g + \kappa_{post}`), periods :math:`g-\kappa_{pre}\dots g+\kappa_{post}`; cohorts
    whose window leaves the sample are trimmed. The stacked event-study regression has
    sub-experiment-by-unit and sub-experiment-by-period effects and the corrective
    ("aggregate") weights that make it the trimmed aggregate ATT. Standard errors clustered by
    unit. The summary ATT averages the post-period event times.
    """
    import diff_diff

    frame, drop = _diff_diff_long(data, yname=yname, idname=idname, tname=tname, gname=gname,
                                  controls=(), fn="stacked")
    res = _quiet(diff_diff.StackedDiD(kappa_pre=int(kappa_pre), kappa_post=int(kappa_post),
                                      control_group=control_group, alpha=1 - level).fit,
                 frame, outcome="y", unit="unit", time="time", first_treat="first_treat")
    tab = res.to_dataframe()
    est = _effects_frame(tab["relative_period"], tab["effect"], tab["se"].replace(0.0, np.nan), level)
    return EventTimeEffects(
        estimator="stacked DID", estimates=est,
        overall={"estimate": float(res.overall_att), "std_error": float(res.overall_se)},
        identifies="the trimmed aggregate ATT: each cohort against its own clean controls in its own "
                   f"window ({kappa_pre} periods before, {kappa_post} after), cohorts weighted by size",
        nobs=len(frame), spec=dict(yname=yname, idname=idname, tname=tname, gname=gname,
                                   kappa_pre=int(kappa_pre), kappa_post=int(kappa_post),
                                   control_group=control_group, level=level,
                                   backend=f"diff-diff {diff_diff.__version__}"),
        extra={"drop_reasons": drop, "trimmed": list(res.trimmed_groups),
               "n_sub_experiments": int(res.n_sub_experiments)}, fit=res)


# ===================================================================== TWFE weights and truth
def twfe_weights(data: pd.DataFrame, *, idname: str, tname: str, gname: str,
                 yname: str | None = None) -> pd.DataFrame:
    r"""Weights TWFE puts on each treated unit-period (de Chaisemartin & D'Haultfoeuille 2020).

    On a balanced panel without controls the TWFE coefficient is
    :math:`\hat\beta = \sum_{(i,t): D_{it}=1} w_{it} Y_{it} + \sum_{D_{it}=0}(\dots)`, and
    under parallel trends it estimates

    .. math::

        \beta^{TWFE} = \sum_{(i,t): D_{it}=1} w_{it}\,\tau_{it},\qquad
        w_{it} = \frac{\ddot D_{it}}{\sum_{D_{js}=1}\ddot D_{js}},\qquad \sum w_{it} = 1,

    with :math:`\ddot D` the two-way demeaned treatment (their Theorem 1).
    Weights are negative where the demeaned treatment is, typically for
    early cohorts late in the panel: their effects enter with the wrong sign.

    Returns
    -------
    DataFrame
        One row per treated unit-period: ``idname``, ``tname``, ``group``,
        ``event_time``, ``weight`` (and ``yname`` if given).
    """
    y = yname or "_y0"
    frame = data if yname else data.assign(_y0=0.0)
    w = _wide_panel(frame, yname=y, idname=idname, tname=tname, gname=gname, fn="twfe_weights")
    D = (w.periods[None, :] >= w.G[:, None]).astype(float)
    Dt = _twoway_demean(D)
    treated = D == 1
    weight = Dt / Dt[treated].sum()
    ii, tt = np.nonzero(treated)
    g, e = w.G[ii], w.periods[tt] - w.G[ii]
    if np.all(np.mod(g, 1) == 0):
        g, e = g.astype(int), e.astype(int)
    out = pd.DataFrame({idname: w.units[ii], tname: w.periods[tt], "group": g,
                        "event_time": e, "weight": weight[ii, tt]})
    if yname:
        out[yname] = w.Y[ii, tt]
    return out


def with_true_effects(data: pd.DataFrame, effects: pd.DataFrame, *, idname: str,
                      tname: str, name: str = "true_effect") -> pd.DataFrame:
    """``data`` with a column ``name`` holding the true effect tau (0 where untreated).

    Running an estimator on this column instead of the outcome gives the
    quantity it targets on these data (every estimator here is linear in
    the outcome): the TWFE target is a weighted average of tau with the
    weights of :func:`twfe_weights`, the Callaway-Sant'Anna and Sun-Abraham
    targets are the ATT itself.

    Parameters
    ----------
    effects : DataFrame
        ``lib.data.synthetic.Truth.effects`` (columns city_id, year, tau).
    """
    eff = effects.set_index(["city_id", "year"])["tau"]
    keys = pd.MultiIndex.from_frame(data[[idname, tname]].astype("int64"))
    return data.assign(**{name: eff.reindex(keys).fillna(0.0).to_numpy()})


def weights_by(weights: pd.DataFrame, by: str = "group", *, effect: str | None = None) -> pd.DataFrame:
    """TWFE weights (:func:`twfe_weights`) summed by cohort or event time, beside the ATT's.

    The ATT weights every treated unit-period equally (share of treated
    observations); TWFE's weights differ, which is the bias from
    heterogeneous effects. With ``effect`` (a column of true effects), adds
    the mean effect of each row.

    Returns
    -------
    DataFrame
        Indexed by ``by``: ``twfe_weight``, ``att_weight``, ``negative`` (number
        of negatively weighted unit-periods) and optionally ``mean_effect``.
    """
    if by not in weights.columns:
        raise KeyError(f"weights_by: by={by!r} is not a column of the weights ({list(weights.columns)})")
    g = weights.groupby(by)
    out = pd.DataFrame({"twfe_weight": g["weight"].sum(), "att_weight": g.size() / len(weights),
                        "negative": g["weight"].apply(lambda w: int((w < 0).sum()))})
    if effect is not None:
        out["mean_effect"] = g[effect].mean()
    if by == "group":  # cohorts are years: label them, do not format them as numbers
        out.index = out.index.astype(str)
    out.index.name = by
    return out


def robust_summary(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
                   dname: str, controls: Sequence[str] = (), effects: pd.DataFrame | None = None) -> pd.DataFrame:
    """TWFE (without and with controls), Sun-Abraham and Callaway-Sant'Anna (without and, doubly
    robust, with the same controls as TWFE) on one panel.

    One row per estimator: ``estimate``, ``std_error``, ``p`` (normal for
    CS/SA, t with G-1 d.o.f. for TWFE), ``nobs`` and, given the true
    ``effects`` (``Truth.effects``), ``target`` (the same estimator run on
    the true effects, see :func:`with_true_effects`) and ``truth`` (the ATT
    over the treated city-years the estimator used).
    TWFE is :func:`lib.methods.did.twfe` with CRV1 by ``idname``; CS is the
    ``"simple"`` aggregation.
    """
    from lib.methods.did import twfe

    kw = dict(idname=idname, tname=tname, gname=gname)
    vcov = {"CRV1": idname}
    rows: dict[str, dict] = {}
    fits = {"TWFE": twfe(data, yname=yname, dname=dname, idname=idname, tname=tname, vcov=vcov)}
    if controls:
        fits["TWFE + controls"] = twfe(data, yname=yname, dname=dname, idname=idname, tname=tname,
                                       controls=list(controls), vcov=vcov)
    for name, r in fits.items():
        c = r.coef(dname)
        rows[name] = {"estimate": c["estimate"], "std_error": c["std_error"], "p": c["p"],
                      "nobs": c["nobs"]}
    sa = sun_abraham(data, yname=yname, **kw)
    rows["Sun-Abraham"] = {**{k: sa.att[k] for k in ("estimate", "std_error")}, "nobs": sa.nobs}
    for cg, label in (("never_treated", "Callaway-Sant'Anna (never treated)"),
                      ("not_yet_treated", "Callaway-Sant'Anna (not yet treated)")):
        agg = callaway_santanna(data, yname=yname, control_group=cg, **kw).aggregate("simple")
        rows[label] = {**agg.overall, "nobs": int(data.shape[0])}
    cs_controls = "Callaway-Sant'Anna + controls (doubly robust)"
    if controls:   # the same controls as TWFE, at the base period; units missing one are dropped
        cs = callaway_santanna(data, yname=yname, controls=list(controls), estimation_method="dr", **kw)
        rows[cs_controls] = {**cs.aggregate("simple").overall, "nobs": int(cs.nobs)}
        incomplete = data.loc[data[list(controls)].isna().any(axis=1), idname].unique()
    out = pd.DataFrame(rows).T
    z = (out["estimate"] / out["std_error"]).astype(float)
    out["p"] = out["p"].where(out["p"].notna(), 2 * stats.norm.sf(np.abs(z)))
    out["nobs"] = out["nobs"].astype(int)
    if effects is not None:
        tf = with_true_effects(data, effects, idname=idname, tname=tname)
        used = ({"TWFE + controls": tf.dropna(subset=[yname, *controls]),
                 cs_controls: tf[~tf[idname].isin(incomplete)]} if controls else {})
        target, truth = {}, {}
        for name in out.index:
            frame = used.get(name, tf)
            treated = frame[dname] == 1
            truth[name] = float(frame.loc[treated, "true_effect"].mean())
            if name.startswith("TWFE"):
                target[name] = float(twfe(frame.assign(**{yname: frame["true_effect"]}), yname=yname,
                                          dname=dname, idname=idname, tname=tname,
                                          controls=list(controls) if "controls" in name else [],
                                          vcov=vcov).params[dname])
            elif name == cs_controls:   # doubly robust ATT is linear in the outcome, too
                target[name] = (callaway_santanna(frame, yname="true_effect", controls=list(controls),
                                                  estimation_method="dr", **kw).aggregate("simple")
                                .overall["estimate"])
            else:
                cg = "not_yet_treated" if "not yet" in name else "never_treated"
                target[name] = (callaway_santanna(frame, yname="true_effect", control_group=cg,
                                                  **kw).aggregate("simple")
                                .overall["estimate"])
        out["target"] = pd.Series(target)
        out["truth"] = pd.Series(truth)
    else:  # a reader's data: no truth, so no target either
        out["target"] = np.nan
        out["truth"] = np.nan
    return out
