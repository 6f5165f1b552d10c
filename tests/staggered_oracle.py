"""Hand-written twins of the staggered-DID estimators the book takes from diff-diff.

Not used at run time: ``lib.methods.staggered`` calls diff-diff (pinned) for
Goodman-Bacon, Callaway-Sant'Anna and Sun-Abraham. These are the book's earlier, independent
implementations, kept as oracles: ``tests/test_staggered.py`` checks diff-diff
against them (and them against linearmodels and closed forms) on small panels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from lib.methods.panel import fe_ols
from lib.methods.staggered import _BACON_TYPES, _label, _twfe_balanced, _wide_panel


def bacon_by_hand(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str):
    """Goodman-Bacon (2021) components, one 2x2 subsample at a time: ``(components, twfe)``."""
    w = _wide_panel(data, yname=yname, idname=idname, tname=tname, gname=gname,
                    fn="bacon_decomposition")
    Y, G, per = w.Y, w.G, w.periods
    D = (per[None, :] >= G[:, None]).astype(float)
    beta, vd = _twfe_balanced(Y, D)
    n_total = Y.size
    first, last = per[0], per[-1]
    timing = sorted(g for g in np.unique(G[np.isfinite(G)]) if first < g <= last)
    always = [g for g in np.unique(G[np.isfinite(G)]) if g <= first]
    never_mask = ~np.isfinite(G) | (G > last)
    rows = []

    def add(kind, treated, control, units, cols):
        Ys, Ds = Y[np.ix_(units, cols)], D[np.ix_(units, cols)]
        b, v = _twfe_balanced(Ys, Ds)
        weight = (Ys.size / n_total) ** 2 * v / vd
        rows.append({"type": kind, "treated": _label(treated), "control": _label(control),
                     "estimate": b, "weight": weight})

    all_cols = np.arange(len(per))
    for k in timing:
        if never_mask.any():
            add(_BACON_TYPES[0], k, np.inf, np.flatnonzero((G == k) | never_mask), all_cols)
        for a in always:
            add(_BACON_TYPES[3], k, a, np.flatnonzero((G == k) | (G == a)), all_cols)
    for i, k in enumerate(timing):
        for l in timing[i + 1:]:
            units = np.flatnonzero((G == k) | (G == l))
            add(_BACON_TYPES[1], k, l, units, np.flatnonzero(per < l))
            add(_BACON_TYPES[2], l, k, units, np.flatnonzero(per >= k))
    return pd.DataFrame(rows, columns=["type", "treated", "control", "estimate", "weight"]), beta


def sun_abraham_by_hand(frame: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
                        controls=(), window=(-5, 5), ref: int = -1, level: float = 0.95):
    """The saturated cohort x relative-period TWFE regression and its IW averages, by hand.

    ``frame`` holds complete cases with never-treated ``gname`` missing. Returns
    ``(estimates, cohort_effects, att, params)``.
    """
    cluster = idname
    t = pd.to_numeric(frame[tname]).to_numpy(dtype=float)
    g = frame[gname].to_numpy(dtype=float)
    g = np.where(np.isnan(g) | (g > t.max()), np.inf, g)
    e = np.where(np.isfinite(g), t - g, np.nan)
    cells = (pd.DataFrame({"g": g, "e": e}).dropna().query("e != @ref")
             .value_counts().sort_index().rename("nobs").reset_index())
    cell_index = {(a, b): j for j, (a, b) in enumerate(zip(cells["g"], cells["e"]))}
    Xd = np.zeros((len(frame), len(cells)))
    for r_, (gi, ei) in enumerate(zip(g, e)):
        j = cell_index.get((gi, ei))
        if j is not None:
            Xd[r_, j] = 1.0
    X = np.column_stack([Xd, frame[list(controls)].to_numpy(dtype=float)]) if controls else Xd
    fit = fe_ols(frame[yname].to_numpy(dtype=float), X, frame[idname].to_numpy(),
                 t, frame[cluster].to_numpy(), vcov="CRV1")
    names = [f"g{int(a)}_e{int(b)}" for a, b in zip(cells["g"], cells["e"])] + list(controls)
    params = pd.Series(fit.params, index=names)
    k = len(cells)
    V = fit.cov[:k, :k]
    delta = fit.params[:k]
    q = float(stats.t.ppf(0.5 + level / 2, fit.dof_resid))
    ce = cells.assign(estimate=delta, std_error=np.sqrt(np.clip(np.diag(V), 0, None)))
    ce = ce.rename(columns={"g": "group", "e": "event_time"})
    ce["group"] = ce["group"].astype(int)
    ce["event_time"] = ce["event_time"].astype(int)
    rows = []
    for ev in range(window[0], window[1] + 1):
        if ev == ref:
            rows.append({"event_time": ev, "estimate": 0.0, "std_error": 0.0, "nobs": 0})
            continue
        sel = (cells["e"] == ev).to_numpy()
        if not sel.any():
            continue
        wv = np.zeros(k)
        wv[sel] = cells.loc[sel, "nobs"] / cells.loc[sel, "nobs"].sum()
        rows.append({"event_time": ev, "estimate": float(wv @ delta),
                     "std_error": float(np.sqrt(max(wv @ V @ wv, 0.0))), "nobs": int(cells.loc[sel, "nobs"].sum())})
    est = pd.DataFrame(rows).set_index("event_time")
    est["ci_lower"] = est["estimate"] - q * est["std_error"]
    est["ci_upper"] = est["estimate"] + q * est["std_error"]
    est = est[["estimate", "std_error", "ci_lower", "ci_upper", "nobs"]]
    postc = (cells["e"] >= 0).to_numpy()
    wa = np.zeros(k)
    wa[postc] = cells.loc[postc, "nobs"] / cells.loc[postc, "nobs"].sum()
    att = {"estimate": float(wa @ delta), "std_error": float(np.sqrt(max(wa @ V @ wa, 0.0))),
           "nobs": int(cells.loc[postc, "nobs"].sum())}
    return est, ce, att, params


# ------------------------------------------------------------------ Callaway-Sant'Anna
def _se(psi: np.ndarray) -> np.ndarray:
    """Standard error from influence functions scaled so that est - theta = mean(psi)."""
    n = psi.shape[0]
    return np.sqrt((psi**2).sum(axis=0)) / n


def _wif(G: np.ndarray, groups: np.ndarray, pg: np.ndarray) -> np.ndarray:
    """Influence of estimating the weights pg_j / sum(pg) (R ``did:::wif``)."""
    ind = (G[:, None] == groups[None, :]).astype(float)
    s = pg.sum()
    if1 = (ind - pg[None, :]) / s
    if2 = (ind - pg[None, :]).sum(axis=1, keepdims=True) * (pg[None, :] / s**2)
    return if1 - if2


@dataclass(frozen=True)
class HandAggregatedATT:
    """An aggregation by hand; ``influence`` holds its unit x row influence functions."""

    kind: str
    estimates: pd.DataFrame
    overall: dict
    influence: np.ndarray = field(repr=False)
    crit_value: float = float(stats.norm.ppf(0.975))
    spec: dict = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        return self.estimates.copy()

@dataclass(frozen=True)
class HandCallawaySantAnna:
    """ATT(g,t) by hand, with the unit x cell ``influence`` functions and each unit's ``cohort``."""

    att_gt: pd.DataFrame
    influence: np.ndarray = field(repr=False)
    cohort: np.ndarray = field(repr=False)
    nobs: int = 0
    n_units: int = 0
    n_dropped: int = 0
    drop_reasons: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        return self.att_gt.copy()

    def pretest(self, cells: np.ndarray) -> tuple[float, int]:
        """R ``did``'s Wald pre-test on the ``att_gt`` rows ``cells``: n² θ'(Ψ'Ψ)⁻¹θ and its d.o.f."""
        b = self.att_gt["estimate"].to_numpy()[cells]
        P = self.influence[:, cells]
        n = P.shape[0]
        return float(n**2 * b @ np.linalg.solve(P.T @ P, b)), int(cells.sum())

    def aggregate(self, kind: Literal["simple", "group", "event", "calendar"] = "simple", *,
                  n_bootstrap: int = 0, seed: int | None = None, level: float = 0.95,
                  min_e: float = -np.inf, max_e: float = np.inf) -> "HandAggregatedATT":
        """R ``did::aggte`` by hand, with the ``did:::wif`` term and a seeded Rademacher band."""
        a = self.att_gt
        psi = self.influence
        G = self.cohort
        n = psi.shape[0]
        groups = a["group"].to_numpy(dtype=float)
        pg_of = {g: float(np.mean(G == g)) for g in np.unique(groups)}
        pg = np.array([pg_of[g] for g in groups])
        att = a["estimate"].to_numpy()
        post = a["post"].to_numpy()

        def combine(keep: np.ndarray, weights: np.ndarray | None = None, with_wif: bool = True):
            idx = np.flatnonzero(keep)
            w = pg[idx] / pg[idx].sum() if weights is None else weights
            est = float(w @ att[idx])
            inf = psi[:, idx] @ w
            if with_wif and weights is None:
                inf = inf + _wif(G, groups[idx], pg[idx]) @ att[idx]
            return est, inf

        rows, infs = [], []
        if kind == "simple":
            est, inf = combine(post)
            index, rows, infs = ["ATT"], [est], [inf]
            overall_est, overall_inf = est, inf
        elif kind == "group":
            index = sorted(np.unique(groups[post]))
            for g in index:
                keep = post & (groups == g)
                est, inf = combine(keep, np.full(keep.sum(), 1 / keep.sum()))
                rows.append(est)
                infs.append(inf)
            th, Th = np.array(rows), np.column_stack(infs)
            pgg = np.array([pg_of[g] for g in index])
            w = pgg / pgg.sum()
            overall_est = float(w @ th)
            overall_inf = Th @ w + _wif(G, np.array(index), pgg) @ th
            index = [int(g) if float(g).is_integer() else g for g in index]
        elif kind == "event":
            e_all = a["event_time"].to_numpy(dtype=float)
            index = [e for e in sorted(np.unique(e_all)) if min_e <= e <= max_e]
            for e in index:
                est, inf = combine(e_all == e)
                rows.append(est)
                infs.append(inf)
            pos = [j for j, e in enumerate(index) if e >= 0]
            overall_est = float(np.mean([rows[j] for j in pos]))
            overall_inf = np.column_stack([infs[j] for j in pos]).mean(axis=1)
            index = [int(e) for e in index]
        elif kind == "calendar":   # R compute.aggte.R, type = "calendar"
            t_all = a["time"].to_numpy(dtype=float)
            index = sorted(np.unique(t_all[post]))
            for t in index:
                est, inf = combine(post & (t_all == t))
                rows.append(est)
                infs.append(inf)
            overall_est = float(np.mean(rows))
            overall_inf = np.column_stack(infs).mean(axis=1)
            index = [int(t) for t in index]
        else:
            raise ValueError(f"aggregate: kind must be 'simple', 'group' or 'event', got {kind!r}")
        Psi = np.column_stack(infs)
        se = _se(Psi)
        z = float(stats.norm.ppf(0.5 + level / 2))
        est = pd.DataFrame({"estimate": rows, "std_error": se, "ci_lower": np.array(rows) - z * se,
                            "ci_upper": np.array(rows) + z * se},
                           index=pd.Index(index, name={"simple": "", "group": "group",
                                                       "event": "event_time", "calendar": "time"}[kind]))
        crit = z
        if n_bootstrap and kind != "simple":
            rng = np.random.default_rng(seed)
            ok = se > 0
            sup = np.empty(n_bootstrap)
            for b in range(n_bootstrap):
                v = rng.choice([-1.0, 1.0], size=n)
                sup[b] = np.max(np.abs(v @ Psi[:, ok] / n) / se[ok])
            crit = float(np.quantile(sup, level))
            est["cband_lower"] = est["estimate"] - crit * se
            est["cband_upper"] = est["estimate"] + crit * se
        overall = {"estimate": overall_est, "std_error": float(_se(overall_inf[:, None])[0])}
        return HandAggregatedATT(kind=kind, estimates=est, overall=overall, influence=Psi,
                             crit_value=crit, spec=dict(self.spec, aggregation=kind,
                                                        n_bootstrap=n_bootstrap, seed=seed))


def callaway_santanna_by_hand(data: pd.DataFrame, *, yname: str, idname: str, tname: str,
                              gname: str, control_group: str = "never_treated",
                              base_period: str = "varying",
                              level: float = 0.95) -> HandCallawaySantAnna:
    """ATT(g,t) by hand: the equation and conventions of ``lib.methods.staggered.callaway_santanna``,
    with the influence functions psi_i = (n/n_g)1{G=g}(dY - mean_g) - (n/n_C)1{C}(dY - mean_C)
    behind the s.e. sqrt(sum psi^2)/n and the aggregations (``HandCallawaySantAnna.aggregate``)."""
    if control_group not in ("never_treated", "not_yet_treated"):
        raise ValueError(f"control_group must be 'never_treated' or 'not_yet_treated', got "
                         f"{control_group!r}")
    if base_period not in ("varying", "universal"):
        raise ValueError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    w = _wide_panel(data, yname=yname, idname=idname, tname=tname, gname=gname,
                    fn="callaway_santanna")
    Y, G, per = w.Y, w.G, w.periods
    drop_reasons = dict(w.drop_reasons)
    n_dropped = w.n_dropped
    early = np.isfinite(G) & (G <= per[0])
    if early.any():
        drop_reasons["treated in the first period (no pre-period)"] = int(early.sum() * len(per))
        n_dropped += int(early.sum() * len(per))
        Y, G = Y[~early], G[~early]
    G = np.where(G > per[-1], np.inf, G)
    never = ~np.isfinite(G)
    if control_group == "never_treated" and not never.any():
        raise ValueError("callaway_santanna: control_group='never_treated' but no unit is never "
                         f"treated (all have a finite {gname!r}); use control_group='not_yet_treated'")
    n = Y.shape[0]
    pos = {t: j for j, t in enumerate(per)}
    z = float(stats.norm.ppf(0.5 + level / 2))
    rows, infs, skipped = [], [], []
    for g in np.unique(G[np.isfinite(G)]):
        treat = G == g
        ng = treat.sum()
        for t in per:
            post = t >= g
            b = g - 1 if (post or base_period == "universal") else per[pos[t] - 1] if pos[t] > 0 else None
            if b is None or b not in pos or b == t:
                continue
            if control_group == "never_treated":
                ctrl = never
            else:
                ctrl = never | ((G > max(t, b)) & (G != g))
            nc = ctrl.sum()
            if nc == 0:
                skipped.append((int(g), int(t)))
                continue
            dy = Y[:, pos[t]] - Y[:, pos[b]]
            mg, mc = dy[treat].mean(), dy[ctrl].mean()
            psi = (n / ng) * treat * (dy - mg) - (n / nc) * ctrl * (dy - mc)
            rows.append({"group": g, "time": t, "event_time": t - g, "estimate": mg - mc,
                         "n_treated": int(ng), "n_control": int(nc), "base_period": b,
                         "post": bool(post)})
            infs.append(psi)
    if not rows:
        raise ValueError("callaway_santanna: no group-time cell has both treated and control units")
    att = pd.DataFrame(rows)
    Psi = np.column_stack(infs)
    att["std_error"] = _se(Psi)
    att["ci_lower"] = att["estimate"] - z * att["std_error"]
    att["ci_upper"] = att["estimate"] + z * att["std_error"]
    for c in ("group", "time", "event_time", "base_period"):
        att[c] = att[c].astype(int) if np.all(np.mod(att[c], 1) == 0) else att[c]
    att = att[["group", "time", "event_time", "estimate", "std_error", "ci_lower", "ci_upper",
               "n_treated", "n_control", "base_period", "post"]]
    return HandCallawaySantAnna(att_gt=att, influence=Psi, cohort=G, nobs=int(Y.size), n_units=n,
                            n_dropped=n_dropped, drop_reasons=drop_reasons,
                            spec=dict(yname=yname, idname=idname, tname=tname, gname=gname,
                                      control_group=control_group, base_period=base_period,
                                      backend="by hand"),
                            extra={"skipped_cells": skipped})




def cs_covariate_cells_by_hand(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
                               controls: list[str], method: Literal["reg", "ipw", "dr", "dr_r"]) -> pd.DataFrame:
    r"""Post-period ATT(g,t) with covariates and never-treated controls, one cell at a time.

    Base period :math:`b = g - 1`, :math:`\Delta Y = Y_t - Y_b`, covariates at :math:`b`
    (R ``did``'s convention), the sample: cohort ``g`` and the never treated.

    * ``reg`` (outcome regression, Heckman-Ichimura-Todd): :math:`\hat m` = OLS of
      :math:`\Delta Y` on :math:`(1, X)` among controls;
      :math:`ATT = \overline{\Delta Y - \hat m(X)}_{G=g}`.
    * ``ipw`` (Abadie 2005, normalised): :math:`\hat p` = logit of :math:`G = g` on
      :math:`(1, X)`, clipped to [0.01, 0.99] as diff-diff does; :math:`ATT = \overline{\Delta Y}_{G=g} - \sum_c w_c \Delta Y_c`,
      :math:`w_c \propto \hat p_c/(1-\hat p_c)`.
    * ``dr`` (Sant'Anna-Zhao 2020, doubly robust): the weights applied to
      :math:`\Delta Y - \hat m(X)`, the control term divided by the number of treated units,
      as diff-diff computes it; ``dr_r``: divided by the sum of the control weights instead, as
      R's ``DRDID::drdid_panel`` (and so R ``did``) computes it. The two differ by
      :math:`O(1/n)`.
    """
    import statsmodels.api as sm

    per = np.sort(data[tname].unique())
    g_of = data.groupby(idname)[gname].first()
    never = g_of.index[~np.isfinite(g_of.astype(float)) | (g_of.astype(float) == 0)]
    wide_y = data.pivot(index=idname, columns=tname, values=yname)
    rows = []
    for g in sorted(v for v in g_of.dropna().unique() if v > per[0] and v <= per[-1]):
        cohort = g_of.index[g_of == g]
        b = g - 1
        xb = data[data[tname] == b].set_index(idname)[controls]
        for t in (p for p in per if p >= g):
            units = cohort.append(never)
            dy = (wide_y.loc[units, t] - wide_y.loc[units, b]).to_numpy()
            X = sm.add_constant(xb.loc[units].to_numpy(float), has_constant="add")
            d = np.isin(units, cohort).astype(float)
            m = X @ np.linalg.lstsq(X[d == 0], dy[d == 0], rcond=None)[0]
            if method == "reg":
                att = float(np.mean((dy - m)[d == 1]))
            else:
                # diff-diff clips the scores to [0.01, 0.99] (R's DRDID instead drops controls
                # with a score above 0.995)
                p = np.clip(sm.Logit(d, X).fit(disp=0).predict(X), 0.01, 0.99)
                w = p[d == 0] / (1 - p[d == 0])
                resid = dy if method == "ipw" else dy - m
                scale = d.sum() if method == "dr" else w.sum()
                att = float(resid[d == 1].mean() - w @ resid[d == 0] / scale)
            rows.append({"group": _label(g), "time": _label(t), "estimate": att})
    return pd.DataFrame(rows)
