"""The companion paper's chapters (digital trade and FDI): data, targets, robustness and words.

What the ``fdi_*`` chapters call beyond the estimators: :func:`chapter_data`
(the provincial panel, its sample and, on the book's own data, its truth), the
targets each estimate is shown against, the robustness set, and the sentences
whose wording depends on the data. The panel, its generator and its contract
are :mod:`lib.data.provincial`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from lib.data.provincial import (CONTROLS, DEFAULT_SEED, DIMENSIONS, DIRECTIONS, EXTRA_CONTROLS,
                                 INDICATORS, LEVELS, MEDIATORS, ProvincialTruth, apply_sample,
                                 default_truth, load_provincial_panel, simulate_province_panel)
from lib.book.chapter import Cited, and_list, estimate_values, result_record
from lib.data.indices import entropy_index

@dataclass(frozen=True)
class ProvincialData:
    """What a provincial chapter estimates on (see :func:`chapter_data`)."""

    frame: pd.DataFrame
    sample: dict
    truth: ProvincialTruth | None
    source: str
    paper_declared: bool = False

    @property
    def synthetic(self) -> bool:
        return self.truth is not None

    @property
    def paper_comparable(self) -> bool:
        """The companion paper's printed numbers belong beside these estimates: on the book's
        semi-synthetic panel (calibrated to them) and on a file declared ``paper_panel: true``."""
        return self.truth is not None or self.paper_declared

    def published_estimate(self, table, column, term: str) -> dict | None:
        """The companion paper's printed estimate where it is comparable, else None."""
        if not self.paper_comparable:
            return None
        from lib.data.published import published_estimate

        return published_estimate("fdi", table, column, term)

    def ate(self, frame: pd.DataFrame | None = None) -> float:
        return float("nan") if self.truth is None else self.truth.ate_on(self.frame if frame is None else frame)

    def banner(self):
        from IPython.display import Markdown

        n = len(self.frame)
        if self.synthetic:
            return Markdown(
                f"**What these numbers are.** Estimates on {self.source} (sample: *{self.sample['name']}*, "
                f"{n:,} province-years). The data are **semi-synthetic**: real provinces and years, "
                "simulated indicators, FDI, controls and mediators with a known true effect. They are "
                "not findings about China.")
        return Markdown(f"**What these numbers are.** Estimates on {self.source} (sample: "
                        f"*{self.sample['name']}*, {n:,} rows). No true effect is known for these "
                        "data, so the *truth* column is empty.")


def chapter_data(data_path: str = "", columns: str = "", sample: str = "all", *,
                 seed: int | None = None) -> ProvincialData:
    """The provincial panel a chapter's parameters point at.

    Empty ``data_path``: the shipped semi-synthetic panel (or a fresh draw with
    another ``seed``), with its truth. Otherwise the reader's file, validated
    by :func:`load_provincial_panel`, with no truth.
    """
    from lib.present import provenance

    declared = False
    if data_path:
        from lib.data.provincial import paper_panel_declared

        frame, truth = load_provincial_panel(data_path, columns=columns or None), None
        source = f"the reader's panel `{Path(data_path).name}`"
        declared = paper_panel_declared(columns or None)
        provenance.declare(provenance.readers(Path(data_path).name))
    elif seed in (None, DEFAULT_SEED):
        frame, truth = load_provincial_panel(), default_truth()
        source = "the book's semi-synthetic provincial panel"
        provenance.declare(provenance.semi_synthetic(
            f"the book's semi-synthetic provincial panel (seed {DEFAULT_SEED})"))
    else:
        frame, truth = simulate_province_panel(seed=int(seed))
        source = f"a semi-synthetic provincial panel drawn with seed {seed}"
        provenance.declare(provenance.semi_synthetic(f"a semi-synthetic provincial panel (seed {seed})"))
    frame, info = apply_sample(frame, sample)
    return ProvincialData(frame=frame.reset_index(drop=True), sample=info, truth=truth, source=source,
                          paper_declared=declared)


def twfe_target(data: ProvincialData, result, frame: pd.DataFrame | None = None) -> float:
    """What a fitted TWFE slope on DT targets: the same regression with the
    outcome replaced by the true effect part :math:`\\tau_{g(i)} DT_{it}`.

    With effects that differ by group the pooled slope is a weighted average of
    the group effects (weights: each group's residual variance of DT); on a
    reader's data, nan.
    """
    from lib.methods.did import twfe

    if data.truth is None:
        return float("nan")
    spec = result.spec
    frame = (data.frame if frame is None else frame).copy()
    frame["_tau_dt"] = data.truth.effect_of(frame) * frame[spec["dname"]]
    frame.loc[frame[spec["yname"]].isna(), "_tau_dt"] = np.nan
    kw = {k: spec[k] for k in ("dname", "idname", "tname", "controls", "vcov") if k in spec}
    return float(twfe(frame, yname="_tau_dt", **kw).params[spec["dname"]])


# ------------------------------------------------------------------- chapter helpers
def index_of(frame: pd.DataFrame, *, pooled: bool = True, two_level: bool = False):
    """The entropy-weight DT index of the panel's indicators (:func:`lib.data.indices.entropy_index`)."""
    missing = [c for c in INDICATORS if c not in frame.columns]
    if missing:
        raise KeyError(f"the index needs the indicator columns {missing}; a reader's panel without "
                       "them can still run the empirical chapter, which uses DT as given")
    return entropy_index(frame[list(INDICATORS)], DIRECTIONS, dimensions=DIMENSIONS,
                         period=frame["year"].to_numpy(), pooled=pooled, two_level=two_level)


def weighting_comparison(frame: pd.DataFrame) -> pd.DataFrame:
    """Entropy weights against equal weights and the first principal component.

    Returns Spearman rank correlations (over province-years and over the
    provinces' 2022 ranking) of each alternative with the pooled entropy index.
    """
    from scipy.stats import spearmanr

    ent = index_of(frame)
    std = ent.standardised
    equal = std.mean(axis=1)
    Z = (std - std.mean()) / std.std().replace(0, 1)
    _, _, vt = np.linalg.svd(Z.to_numpy(), full_matrices=False)
    pc1 = Z.to_numpy() @ vt[0]
    pc1 = pc1 * np.sign(np.corrcoef(pc1, ent.index)[0, 1])
    alts = {"entropy, per-year weights": index_of(frame, pooled=False).index,
            "entropy, two-level": index_of(frame, two_level=True).index,
            "equal weights": equal, "first principal component": pd.Series(pc1, index=frame.index)}
    last = frame["year"] == frame["year"].max()
    rows = {k: {"rank corr., all province-years": spearmanr(ent.index, v)[0],
                f"rank corr., provinces in {frame['year'].max()}": spearmanr(ent.index[last], v[last])[0]}
            for k, v in alts.items()}
    return pd.DataFrame(rows).T


def plot_global_trade(table: pd.DataFrame, ax=None):
    """Paper's Table 1: export levels (bars) and growth (lines), 2019-2023."""
    from lib.present.figures import PALETTE, new_axes

    fig, ax = new_axes(ax)
    series = [("goods_export", "goods"), ("service_export", "services"),
              ("digital_delivery_export", "digitally delivered services")]
    table = table.reset_index() if "year" not in table.columns else table
    x = table["year"].to_numpy()
    width = 0.27
    colors = list(PALETTE.values()) if isinstance(PALETTE, dict) else list(PALETTE)
    ax2 = ax.twinx()
    for k, (col, label) in enumerate(series):
        ax.bar(x + (k - 1) * width, table[f"{col}_tn_usd"], width, color=colors[k % len(colors)],
               label=f"{label} (level)")
        growth = "digital_delivery_growth_pct" if col.startswith("digital") else f"{col}_growth_pct"
        ax2.plot(x, table[growth], marker="o", color=colors[k % len(colors)], lw=1.2, ls="--")
    ax.set_ylabel("exports, trillion USD (bars)")
    ax2.set_ylabel("growth, % (dashed lines)")
    ax2.axhline(0, color="grey", lw=0.6)
    ax.set_xticks(x)
    ax.legend(loc="upper left", frameon=False)
    return fig


def plot_index_heatmap(frame: pd.DataFrame, column: str = "DT", ax=None):
    """Index by province (rows, sorted by the last year) and year (columns)."""
    import matplotlib.pyplot as plt

    from lib.present.figures import new_axes

    wide = frame.pivot(index="province", columns="year", values=column)
    wide = wide.loc[wide.iloc[:, -1].sort_values(ascending=False).index]
    fig, ax = new_axes(ax, figsize=(7.5, 8.0)) if ax is None else new_axes(ax)
    im = ax.imshow(wide.to_numpy(), aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(wide)), wide.index, fontsize=7)
    ax.set_xticks(range(wide.shape[1]), wide.columns, fontsize=7, rotation=90)
    ax.grid(False)
    plt.colorbar(im, ax=ax, label=column)
    return fig


def vif_table(frame: pd.DataFrame, columns=("DT", *CONTROLS)) -> pd.DataFrame:
    """Variance inflation factors (statsmodels) of DT and the controls, with their mean."""
    from statsmodels.stats.outliers_influence import variance_inflation_factor
    from statsmodels.tools import add_constant

    X = add_constant(frame[list(columns)].dropna().astype(float))
    v = {c: variance_inflation_factor(X.to_numpy(), i) for i, c in enumerate(X.columns) if c != "const"}
    out = pd.Series(v, name="VIF").to_frame()
    out.loc["mean"] = out["VIF"].mean()
    return out


def robustness(frame: pd.DataFrame, *, controls=CONTROLS, vcov=None) -> dict:
    """The paper's robustness checks as TWFE fits (one column each).

    ``DT lagged``: DT of t-1 (endogeneity: a reverse effect of FDI on DT in t
    cannot move DT in t-1); ``added controls``: lnPGDP and Open when present;
    ``FDI_alt``: the other dependent variable when present; ``2012-2019`` and
    ``no municipalities``: other samples.
    """
    from lib.methods.did import twfe

    vcov = vcov or {"CRV1": "province"}
    kw = dict(idname="province", tname="year", vcov=vcov)
    f = frame.sort_values(["province", "year"]).copy()
    lagged = f.groupby("province")["DT"].shift(1)
    f["DT_lag1"] = lagged.where(f.groupby("province")["year"].diff() == 1)
    out = {"baseline": twfe(f, yname="FDI", dname="DT", controls=controls, **kw),
           "DT lagged": twfe(f, yname="FDI", dname="DT_lag1", controls=controls, **kw)}
    extra = [c for c in EXTRA_CONTROLS if c in f.columns]
    if extra:
        out["added controls"] = twfe(f, yname="FDI", dname="DT", controls=[*controls, *extra], **kw)
    if "FDI_alt" in f.columns:
        out["FDI_alt"] = twfe(f, yname="FDI_alt", dname="DT", controls=controls, **kw)
    out["2012-2019"] = twfe(f, yname="FDI", dname="DT", controls=controls,
                            sample=f["year"].le(2019).to_numpy(), **kw)
    if "is_municipality" in f.columns:
        out["no municipalities"] = twfe(f, yname="FDI", dname="DT", controls=controls,
                                        sample=~f["is_municipality"].astype(bool).to_numpy(), **kw)
    return out


@dataclass(frozen=True)
class GroupSlopes:
    """DT's slope by infrastructure level: subsamples (the paper's Table 2) and one interacted model."""

    subsamples: dict
    interacted: Any
    wald: dict
    levels: tuple

    def tidy(self) -> pd.DataFrame:
        rows = []
        for lev in self.levels:
            c = self.subsamples[lev].coef("DT")
            i = self.interacted.coef(f"DT_{lev}")
            rows.append({"level": lev, "subsample": c["estimate"], "t": c["t"], "R2 within": self.subsamples[lev].r2,
                         "R2 with effects": self.subsamples[lev].extra["r2_inclusive"], "N": c["nobs"],
                         "interacted": i["estimate"], "interacted s.e.": i["std_error"]})
        return pd.DataFrame(rows).set_index("level")

    def plot(self, truth: Mapping[str, float] | None = None, paper: Mapping[str, float] | None = None, ax=None):
        from lib.present.figures import coefficient_plot

        frame = pd.DataFrame({lev: {"estimate": self.subsamples[lev].coef("DT")["estimate"],
                                    "ci_lower": self.subsamples[lev].conf_int().loc["DT"].iloc[0],
                                    "ci_upper": self.subsamples[lev].conf_int().loc["DT"].iloc[1]}
                              for lev in self.levels}).T
        if truth:
            frame["truth"] = pd.Series(truth)
        if paper:
            frame["paper"] = pd.Series(paper)
        return coefficient_plot(frame, truth="truth" if truth else None, paper="paper" if paper else None, ax=ax)


def group_slopes(frame: pd.DataFrame, *, group: str = "infra_level", controls=CONTROLS,
                 levels=LEVELS, vcov=None) -> GroupSlopes:
    r"""Slope of FDI on DT by group.

    Subsample: :math:`FDI_{it} = \beta_g DT_{it} + X'\gamma + \mu_i + \nu_t + \varepsilon` on the
    provinces of group g (the paper's Table 2). Interacted (one model, all provinces):
    :math:`\sum_g \beta_g 1[G_i=g] DT_{it}`, with the Wald test of equal
    :math:`\beta_g` (:func:`lib.methods.heterogeneity.wald_equal`).
    :func:`lib.methods.heterogeneity.group_effects` is written for a 0/1 treatment
    (it needs treated rows per level), hence this continuous-treatment version.
    """
    from lib.methods.did import twfe
    from lib.methods.heterogeneity import wald_equal

    if group not in frame.columns:
        raise KeyError(f"group_slopes: column {group!r} not in the panel (set infra_level or infra_score)")
    vcov = vcov or {"CRV1": "province"}
    kw = dict(idname="province", tname="year", vcov=vcov)
    f = frame.copy()
    subs = {lev: twfe(f[f[group] == lev], yname="FDI", dname="DT", controls=controls, **kw) for lev in levels}
    inter = [f"DT_{lev}" for lev in levels]
    for lev, col in zip(levels, inter):
        f[col] = f["DT"] * (f[group] == lev)
    res = twfe(f, yname="FDI", dname=inter[0], controls=[*inter[1:], *controls], **kw)
    wald = wald_equal(res.params, res.cov, inter, dof_resid=res.dof_resid)
    return GroupSlopes(subsamples=subs, interacted=res, wald=wald, levels=tuple(levels))


def subsample_wild(frame: pd.DataFrame, *, reps: int, seed: int, weights: str = "auto",
                   group: str = "infra_level", levels=LEVELS, controls=CONTROLS) -> dict:
    """The wild cluster bootstrap (WCR, inverted interval) of DT's slope in each subsample of
    Table 2: about ten provinces each, where the CRV1 t-test is least reliable."""
    from lib.methods.inference import wild_cluster_bootstrap

    return {lev: wild_cluster_bootstrap(frame[frame[group] == lev], yname="FDI", dname="DT",
                                        idname="province", tname="year", controls=list(controls),
                                        reps=reps, weights=weights, seed=seed)
            for lev in levels}


def subsample_wild_table(wild: Mapping[str, Any]):
    """One row per subsample: provinces, slope, CRV1 and wild-bootstrap p, and both intervals."""
    from scipy import stats

    from lib.present.tables import format_pvalue, frame_table

    rows = []
    for lev, w in wild.items():
        q = stats.t.ppf(0.5 + w.level / 2, w.n_clusters - 1)
        rows.append({"level": lev, "provinces": w.n_clusters, "DT": w.estimate,
                     "CRV1 p": format_pvalue(w.p_analytic, 4),
                     "CRV1 95% CI": f"[{w.estimate - q * w.std_error:.3f}, {w.estimate + q * w.std_error:.3f}]",
                     "wild bootstrap p": w.p_text,
                     "wild 95% CI": f"[{w.ci_lower:.3f}, {w.ci_upper:.3f}]", "weights": w.weights})
    first = next(iter(wild.values()))
    return frame_table(pd.DataFrame(rows).set_index("level"),
                       title="Table 2's subsamples with few clusters: CRV1 and the wild cluster bootstrap",
                       notes=f"Wild cluster bootstrap with the null imposed (WCR), {first.reps} draws, the "
                             "interval by inverting the test; Webb weights below 13 clusters.")


# ------------------------------------------------------- estimates against their targets
#: other draws of the panel over which the chapter averages the gaps estimate - target
#: (not hand-picked: the next twenty seeds after 100; tests/test_provincial.py uses them too)
GAP_SEEDS = tuple(range(101, 121))


def _within(frame: pd.DataFrame, cols) -> np.ndarray:
    """Two-way within transformation of a balanced province x year panel."""
    X = frame[list(cols)].to_numpy(float)
    gi = pd.DataFrame(X).groupby(frame["province"].to_numpy()).transform("mean").to_numpy()
    gt = pd.DataFrame(X).groupby(frame["year"].to_numpy()).transform("mean").to_numpy()
    return X - gi - gt + X.mean(0)


def fe_slopes(frame: pd.DataFrame, y: str, xs, controls=CONTROLS) -> dict:
    """FE OLS point estimates of ``y`` on ``xs`` + controls, province and year effects.

    A fast twin of :func:`lib.methods.did.twfe` (same point estimates on a balanced
    panel, no standard errors) for loops over many simulated panels.
    """
    W = _within(frame, [y, *xs, *controls])
    beta = np.linalg.lstsq(W[:, 1:], W[:, 0], rcond=None)[0]
    return dict(zip(xs, beta[: len(xs)]))


def estimate_gaps(frame: pd.DataFrame, truth: ProvincialTruth) -> dict:
    """Gap (estimate - what the estimator targets) of the chapter's estimates on one panel.

    Pooled TWFE slope against its TWFE target (the regression of the true DT
    component on DT), Table 2's subsample slopes against the group effects,
    both paths a, and the three-step a·b against the true a·b.
    """
    tau = frame.assign(_tau=truth.effect_of(frame) * frame["DT"])
    out = {"pooled slope": fe_slopes(frame, "FDI", ["DT"])["DT"] - fe_slopes(tau, "_tau", ["DT"])["DT"]}
    for lev in LEVELS:
        sub = frame[frame["infra_level"] == lev]
        out[f"Table 2, {lev}"] = fe_slopes(sub, "FDI", ["DT"])["DT"] - truth.total[lev]
    for m in MEDIATORS:
        a = fe_slopes(frame, m, ["DT"])["DT"]
        b = fe_slopes(frame, "FDI", ["DT", m])[m]
        out[f"a: DT -> {m}"] = a - truth.paths[f"a_{m}"]
        out[f"a·b via {m}"] = a * b - truth.indirect[m]
    return out


def seed_gaps(seeds=GAP_SEEDS, sample: str = "all") -> pd.DataFrame:
    """:func:`estimate_gaps` on fresh draws of the panel (one row per seed), restricted to ``sample``."""
    rows = {}
    for s in seeds:
        df, truth = simulate_province_panel(seed=int(s))
        rows[int(s)] = estimate_gaps(apply_sample(df, sample)[0].reset_index(drop=True), truth)
    return pd.DataFrame(rows).T.rename_axis("seed")


def gap_table(rows: Mapping[str, tuple[float, float, float]], seeds: pd.DataFrame | None = None
              ) -> pd.DataFrame:
    """Estimates against their targets, in standard errors; with the mean gap over other draws.

    ``rows`` maps a label to (estimate, s.e., target). ``seeds`` (from
    :func:`seed_gaps`, same labels) adds the mean gap over those draws, its
    standard error and their ratio: a mean gap within about 2 s.e. of zero
    means the estimator is not biased for its target, whatever one draw shows.
    """
    out = pd.DataFrame({k: {"estimate": e, "s.e.": se, "target": t} for k, (e, se, t) in rows.items()}).T
    out["gap"] = out["estimate"] - out["target"]
    out["gap / s.e."] = out["gap"] / out["s.e."]
    if seeds is not None:
        cols = [c for c in out.index if c in seeds.columns]
        mean, sem = seeds[cols].mean(), seeds[cols].std(ddof=1) / np.sqrt(len(seeds))
        out[f"mean gap, {len(seeds)} draws"] = mean
        out["its s.e."] = sem
        out["mean gap / its s.e."] = mean / sem
    return out.astype(float)


def side(gap: float, tol: float = 5e-4) -> str:
    """'below' / 'above' / 'on' for a gap estimate - target."""
    return "on" if abs(gap) < tol else ("below" if gap < 0 else "above")


def gap_summary_text(table: pd.DataFrame, seeds_note: str = "") -> str:
    """One paragraph on :func:`gap_table`: where this draw's estimates lie and whether that is bias."""
    n, below = len(table), int((table["gap"] < 0).sum())
    z = table["gap / s.e."].abs()
    where = (f"all {n} estimates lie below their targets" if below == n else
             f"all {n} estimates lie above their targets" if below == 0 else
             f"{below} of {n} estimates lie below their targets, {n - below} above")
    text = (f"On this draw {where}, by {z.min():.1f} to {z.max():.1f} of their own standard errors "
            f"({int((z > 2).sum()) or 'none'} by more than 2).")
    mcol = next((c for c in table.columns if c.startswith("mean gap,")), None)
    if mcol is not None and table["mean gap / its s.e."].notna().all():
        inside = int((table["mean gap / its s.e."].abs() <= 2).sum())
        verdict = ("so the gaps of one draw are that draw's noise, not a bias of the estimators"
                   if inside == n else
                   f"the other {n - inside} point to a bias of those estimators for their targets")
        text += (f" Over {mcol.split(', ')[1].split()[0]} other draws of the panel the mean gaps run from "
                 f"{table[mcol].min():.3f} to {table[mcol].max():.3f}, and {inside} of {n} lie within "
                 f"2 standard errors of zero; {verdict}{seeds_note}.")
    return text


# --------------------------------------------------------------------- robustness
def robustness_targets(data: ProvincialData, rob: Mapping, frame: pd.DataFrame | None = None) -> dict:
    """What each column of :func:`robustness` targets (nan on a reader's data).

    The same regression with the outcome replaced by its true DT component
    (``FDI_alt``: times ``alt_scale``), on the same rows. ``DT lagged`` gets
    nan: FDI responds to same-year DT only in the simulation, so there is no
    effect of last year's DT to recover.
    """
    from lib.methods.did import twfe

    if data.truth is None:
        return {k: float("nan") for k in rob}
    f = (data.frame if frame is None else frame).sort_values(["province", "year"]).copy()
    f["_tau"] = data.truth.effect_of(f) * f["DT"]
    f["_tau_alt"] = data.truth.params.get("alt_scale", 0.8) * f["_tau"]
    sample = {"2012-2019": f["year"].le(2019).to_numpy()}
    if "is_municipality" in f.columns:
        sample["no municipalities"] = ~f["is_municipality"].astype(bool).to_numpy()
    out = {}
    for name, res in rob.items():
        if name == "DT lagged":
            out[name] = float("nan")
            continue
        spec = res.spec
        y = "_tau_alt" if spec["yname"] == "FDI_alt" else "_tau"
        fit = twfe(f, yname=y, dname=spec["dname"], idname=spec["idname"], tname=spec["tname"],
                   controls=list(spec["controls"]), vcov=spec["vcov"], sample=sample.get(name))
        out[name] = float(fit.params[spec["dname"]])
    return out


def lag_persistence(frame: pd.DataFrame, controls=CONTROLS) -> float:
    """Within slope of DT on its one-year lag (province and year effects, controls).

    If FDI responds only to same-year DT, a regression of FDI on lagged DT
    recovers about the effect times this slope, not a delayed effect.
    """
    from lib.methods.did import twfe

    f = frame.sort_values(["province", "year"]).copy()
    lag = f.groupby("province")["DT"].shift(1)
    f["DT_lag1"] = lag.where(f.groupby("province")["year"].diff() == 1)
    fit = twfe(f, yname="DT", dname="DT_lag1", idname="province", tname="year", controls=list(controls),
               vcov={"CRV1": "province"})
    return float(fit.params["DT_lag1"])


def lag_expected(data: ProvincialData, frame: pd.DataFrame | None = None, controls=CONTROLS) -> float:
    """What the lagged-DT regression picks up when FDI responds to same-year DT only.

    The regression of the true DT component :math:`\\tau_{g(i)} DT_{it}` on
    :math:`DT_{i,t-1}` with the same effects and controls (nan on a reader's data).
    """
    from lib.methods.did import twfe

    if data.truth is None:
        return float("nan")
    f = (data.frame if frame is None else frame).sort_values(["province", "year"]).copy()
    f["_tau"] = data.truth.effect_of(f) * f["DT"]
    f["DT_lag1"] = f.groupby("province")["DT"].shift(1).where(f.groupby("province")["year"].diff() == 1)
    return float(twfe(f, yname="_tau", dname="DT_lag1", idname="province", tname="year",
                      controls=list(controls), vcov={"CRV1": "province"}).params["DT_lag1"])


#: how the prose names the robustness columns
ROBUSTNESS_PHRASES = {"added controls": "adding log GDP per capita and trade openness gives",
                      "FDI_alt": "log FDI per capita as the outcome",
                      "2012-2019": "the years 2012-2019",
                      "no municipalities": "the provinces without the four municipalities"}


def robustness_text(rob: Mapping, targets: Mapping[str, float], *, persistence: float,
                    expected_lag: float = float("nan"), alpha: float = 0.05) -> tuple[str, str]:
    """Two passages on :func:`robustness`: the columns that re-estimate DT's effect, and the lag.

    Numbers come from the fits; the truth is mentioned only where ``targets``
    (and ``expected_lag``) are finite, i.e. on the semi-synthetic panel.
    """
    cols = [k for k in ROBUSTNESS_PHRASES if k in rob]
    c = {k: rob[k].coef(rob[k].spec["dname"]) for k in rob}
    parts = [f"{ROBUSTNESS_PHRASES[k]} {c[k]['estimate']:.3f} (s.e. {c[k]['std_error']:.3f})" for k in cols]
    first = and_list(parts)
    n_sig = sum(c[k]["p"] < alpha and c[k]["estimate"] > 0 for k in cols)
    sig = (f"all {len(cols)} are positive and significant at {alpha:.0%} (CRV1)" if n_sig == len(cols) else
           f"{n_sig} of the {len(cols)} are positive and significant at {alpha:.0%} (CRV1)")
    text = f"{first[0].upper()}{first[1:]}; {sig}."
    gaps = {k: (c[k]["estimate"] - targets[k]) / c[k]["std_error"] for k in cols if np.isfinite(targets.get(k, np.nan))}
    if gaps:
        sides = {side(c[k]["estimate"] - targets[k]) for k in gaps}
        where = f"each lies {sides.pop()} its target" if len(sides) == 1 else "they lie on both sides of their targets"
        z = np.abs(list(gaps.values()))
        text += (f" Measured against what each column targets (the same regression on the true DT "
                 f"component, on the column's rows), {where}, by {z.min():.1f} to {z.max():.1f} s.e.")
    lag = c.get("DT lagged")
    if lag is None:
        return text, ""
    lag_text = (f"The lagged column gives {lag['estimate']:.3f} (s.e. {lag['std_error']:.3f}, "
                f"p = {lag['p']:.3f}). ")
    if np.isfinite(expected_lag):
        z = (lag["estimate"] - expected_lag) / lag["std_error"]
        fits = abs(z) <= 2
        strength = "weak" if abs(persistence) < 0.3 else "moderate" if abs(persistence) < 0.7 else "strong"
        lag_text += (f"In these data FDI responds to same-year DT only, so there is no lagged effect to "
                     f"recover and the table shows no truth for this column. The lagged slope picks up "
                     f"the same-year effect through the persistence of DT, which is {strength}: within a "
                     f"province, after the fixed effects and controls, last year's DT predicts this "
                     f"year's with a slope of {persistence:.3f}. The regression of the true DT component "
                     f"on lagged DT gives {expected_lag:.3f}, and the estimate lies "
                     f"{'within' if fits else 'further than'} 2 s.e. of it ({abs(z):.1f} s.e.)")
        lag_text += ((". The lagged slope here is what a same-year effect alone produces; its size says "
                      "nothing against that effect.") if fits else
                     ", more than the same-year effect alone explains.")
    else:
        lag_text += (f"Within a province, after the fixed effects and controls, last year's DT predicts "
                     f"this year's with a slope of {persistence:.3f}; if FDI responds to same-year DT "
                     f"only, the lagged slope recovers about that fraction of the effect, so it is not "
                     f"a test of whether DT matters.")
    return text, lag_text


def baseline_truth_text(beta: float, target: float, ate: float, ses: Mapping[str, float]) -> str:
    """The baseline slope against the mean true effect and against its TWFE target ('' without truth)."""
    if not np.isfinite(target):
        return ""
    gap = beta - target
    zs = " or ".join(f"{abs(gap) / se:.1f} {name}" for name, se in ses.items())
    return (f"The mean true effect over province-years is {ate:.3f}, but because the effect differs by "
            f"infrastructure level the regression targets a variance-weighted average of the group "
            f"effects, {target:.3f} on these data (the same regression with FDI replaced by its true DT "
            f"component); the first three rows compare with that target, the last with the mean. "
            f"Against its target the slope lies {abs(gap):.3f} {side(gap)}, {zs} standard errors.")


def mediation_truth_text(med: Mapping, truth: ProvincialTruth | None) -> str:
    """The mediation estimates next to the true paths ('' on a reader's data)."""
    if truth is None:
        return ""
    parts = [f"{m}: a = {res.a:.3f} against a true {truth.paths[f'a_{m}']:.3f}, a·b = {res.indirect:.3f} "
             f"(Sobel s.e. {res.indirect_se:.3f}) against {truth.indirect[m]:.3f}" for m, res in med.items()]
    return "The true paths of the simulation: " + "; ".join(parts) + "."


def between_share(frame: pd.DataFrame, column: str, unit: str = "province") -> float:
    """Share of a column's variance that lies between units (variance of unit means / total)."""
    x = frame[column].astype(float)
    return float(x.groupby(frame[unit]).transform("mean").var(ddof=0) / x.var(ddof=0))


def group_sizes_text(frame: pd.DataFrame, group: str = "infra_level", unit: str = "province") -> str:
    """Provinces per group in words: '9', '10 or 11', '9 to 12'."""
    n = sorted(set(frame.drop_duplicates(unit)[group].value_counts()))
    return str(n[0]) if len(n) == 1 else (f"{n[0]} or {n[1]}" if len(n) == 2 else f"{n[0]} to {n[-1]}")


# ------------------------------------------------------------------ chapter fdi_index words
def weight_rank_phrase(weights: pd.Series, name: str) -> str:
    """Where one indicator's weight ranks: 'the smallest of the 14', 'the 3rd smallest of the 14'."""
    k = int((weights < weights.loc[name]).sum()) + 1
    n = len(weights)
    if k == 1:
        return f"the smallest of the {n}"
    if k == n:
        return f"the largest of the {n}"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(k % 10 if k % 100 not in (11, 12, 13) else 0, "th")
    return f"the {k}{suffix} smallest of the {n}"


def weighting_phrases(comparison: pd.DataFrame, synthetic: bool) -> dict:
    """Words for the prose on :func:`weighting_comparison`, chosen from its numbers."""
    col = comparison.columns[0]
    rho = comparison[col]
    low = min(rho.loc["equal weights"], rho.loc["first principal component"])
    alike = ("rank almost alike" if low >= 0.95 else "rank similarly" if low >= 0.8 else "rank differently")
    d = rho.loc["entropy, per-year weights"] - rho.loc["equal weights"]
    per_year = "less" if d < -0.005 else "more" if d > 0.005 else "about as much"
    reason = (", because all the simulated indicators load on one latent development level"
              if synthetic and low >= 0.8 else "")
    return {"rank_alike": alike, "peryear_cmp": per_year, "rank_reason": reason}


# ------------------------------------------------------------------ chapter fdi_empirics sections
@dataclass(frozen=True)
class Section:
    """One section of the empirics chapter: its comparison-table ``rows``, its estimates against
    their targets for the gaps table (``gaps``: label -> (estimate, s.e., target)) and what its
    prose cites (``cited``)."""

    rows: list
    gaps: dict
    cited: Cited


def descriptives_values(cal: pd.DataFrame, vif: pd.DataFrame, frame: pd.DataFrame) -> Cited:
    """The pooled correlation and mean VIF (against the paper's where ``cal`` has its column), and
    DT's between-province share."""
    corr, mean_vif = cal.loc["corr(DT, FDI)"], vif.loc["mean", "VIF"]
    printed = "paper" in cal.columns
    return Cited({"corr_dt_fdi": corr["book"], "mean_vif": mean_vif,
                  "dt_between_share": between_share(frame, "DT")},
                 records={"corr(DT, FDI)": dict(estimate=corr["book"],
                                                paper=corr["paper"] if printed else None),
                          "mean VIF": dict(estimate=mean_vif, paper=cal.filter(like="mean VIF", axis=0)[
                              "paper"].iloc[0] if printed else None)})


def baseline_section(data: ProvincialData, base, wild, dk, paper: Mapping[str, Any] | None) -> Section:
    """The baseline slope with CRV1, wild-bootstrap and Driscoll-Kraay inference, each against
    the TWFE target (and, on the book's panel, against the mean true effect)."""
    from lib.present import tables

    target, ate = twfe_target(data, base), data.ate(data.frame)
    rows = [tables.comparison_row("DT, CRV1 by province", base, "DT", paper=paper, truth=target),
            tables.comparison_row("DT, wild cluster bootstrap p", book=wild.estimate, book_p=wild.p_boot,
                                  paper=paper, truth=target),
            tables.comparison_row("DT, Driscoll-Kraay", dk, "DT", paper=paper, truth=target)]
    if data.synthetic:
        rows.append(tables.comparison_row("DT, CRV1, against the mean true effect", base, "DT",
                                          paper=paper, truth=ate))
    dk_se = dk.coef("DT")["std_error"]
    values = {**estimate_values("base", base, "DT"), "wild_p_text": wild.p_text, "wild_reps": wild.reps,
              "wild_weights": wild.weights, "wild_ci_lo": wild.ci_lower, "wild_ci_hi": wild.ci_upper,
              "dk_se": dk_se,
              "base_truth_text": baseline_truth_text(base.params["DT"], target, ate,
                                                     {"CRV1": base.std_errors["DT"], "Driscoll-Kraay": dk_se})}
    printed = paper["estimate"] if paper else None
    records = {"baseline DT": result_record(base, "DT", truth=ate, paper=printed, twfe_target=target),
               "baseline DT wild bootstrap p": dict(estimate=wild.estimate, p=wild.p_boot, nobs=wild.nobs,
                                                    ci_lower=wild.ci_lower, ci_upper=wild.ci_upper,
                                                    weights=wild.weights, reps=wild.reps),
               "baseline DT Driscoll-Kraay": result_record(dk, "DT", truth=ate, paper=printed,
                                                           twfe_target=target)}
    return Section(rows=rows, gaps={"pooled slope": (base.params["DT"], base.std_errors["DT"], target)},
                   cited=Cited(values, records=records))


def mediation_section(data: ProvincialData, med: Mapping,
                      paper_keys: Mapping[str, str]) -> Section:
    """Each mediator's first step ``a`` (the paper prints only that, shown where comparable) and
    indirect effect ``a·b``."""
    from lib.present import tables

    truth = data.truth
    rows, gaps, values, records = [], {}, {}, {}
    for m, res in med.items():
        pa = data.published_estimate("text", "mediator", paper_keys[m])
        tr_a = truth.paths[f"a_{m}"] if truth else np.nan
        tr_ab = truth.indirect[m] if truth else np.nan
        rows.append(tables.comparison_row(f"a: DT -> {m}", res.a_path, "DT", paper=pa, truth=tr_a))
        rows.append(tables.comparison_row(f"a·b via {m}", book=res.indirect, book_se=res.indirect_se,
                                          book_p=res.sobel_p, truth=tr_ab))
        records[f"a DT->{m}"] = result_record(res.a_path, "DT", truth=tr_a,
                                              paper=pa["estimate"] if pa else None)
        records[f"indirect via {m}"] = dict(estimate=res.indirect, std_error=res.indirect_se,
                                            p=res.sobel_p, truth=tr_ab)
        values[f"med_{m}_a"], values[f"med_{m}_ab"] = res.a, res.indirect
        gaps[f"a: DT -> {m}"] = (res.a, res.a_path.std_errors["DT"], tr_a)
        gaps[f"a·b via {m}"] = (res.indirect, res.indirect_se, tr_ab)
    values["med_truth_text"] = mediation_truth_text(med, truth)
    return Section(rows=rows, gaps=gaps, cited=Cited(values, records=records))


def table2_section(data: ProvincialData, het, frame: pd.DataFrame) -> Section:
    """Table 2's subsample slopes by infrastructure level against the paper (where comparable)
    and each group's true effect, and the Wald test of equal slopes."""
    from lib.present import tables

    truth = data.truth
    rows, gaps, values, records = [], {}, {}, {}
    for lev in LEVELS:
        fit = het.subsamples[lev]
        pe = data.published_estimate(2, lev, "DT")
        tr = truth.total[lev] if truth else np.nan
        rows.append(tables.comparison_row(f"Table 2, {lev}", fit, "DT", paper=pe, truth=tr))
        records[f"table2 {lev}"] = result_record(fit, "DT", truth=tr, paper=pe["estimate"] if pe else None,
                                                 r2_paper=pe["r2"] if pe else None, r2_within=fit.r2)
        values[f"t2_{lev}"] = fit.params["DT"]
        gaps[f"Table 2, {lev}"] = (fit.params["DT"], fit.std_errors["DT"], tr)
    values.update(t2_wald_p=het.wald["p"], t2_n_provinces=group_sizes_text(frame))
    records["table2 Wald equal effects"] = dict(estimate=het.wald["statistic"], p=het.wald["p"])
    return Section(rows=rows, gaps=gaps, cited=Cited(values, records=records))


def gap_values(gaps: pd.DataFrame, draws: pd.DataFrame | None, *, synthetic: bool) -> Cited:
    """The reading of the gaps table, and one record per estimate against its target."""
    text = (gap_summary_text(gaps) if synthetic else
            "No truth is known for these data, so no estimate can be compared with a target.")
    records = {f"gap {k}": dict(estimate=row["gap"], std_error=row["s.e."], truth=row["target"],
                                mean_gap_draws=row.get(f"mean gap, {len(draws)} draws")
                                if draws is not None else None)
               for k, row in gaps.iterrows()}
    return Cited({"gap_text": text}, records=records)


def robustness_section(data: ProvincialData, rob: Mapping, paper: Mapping[str, Any] | None) -> Section:
    """The paper's four robustness checks, each against what it targets. The lagged column
    estimates the response to last year's DT, a different quantity: FDI responds to same-year
    DT only in these data, so no truth is shown for it."""
    from lib.present import tables

    targets = robustness_targets(data, rob)
    rows, records = [], {}
    for name, res in rob.items():
        term = res.spec["dname"]
        rows.append(tables.comparison_row(f"{name} ({term})", res, term, paper=paper, truth=targets[name]))
        records[f"robustness {name}"] = result_record(res, term, truth=targets[name])
    rob_text, lag_text = robustness_text(rob, targets, persistence=lag_persistence(data.frame),
                                         expected_lag=lag_expected(data))
    return Section(rows=rows, gaps={}, cited=Cited({"rob_text": rob_text, "rob_lag_text": lag_text},
                                                   records=records))
