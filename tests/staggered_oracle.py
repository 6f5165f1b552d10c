"""Hand-written twins of the staggered-DID estimators the book takes from diff-diff.

Not used at run time: ``lib.methods.staggered`` calls diff-diff (pinned) for
Goodman-Bacon and Sun-Abraham. These are the book's earlier, independent
implementations, kept as oracles: ``tests/test_staggered.py`` checks diff-diff
against them (and them against linearmodels and closed forms) on small panels.
"""

from __future__ import annotations

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
