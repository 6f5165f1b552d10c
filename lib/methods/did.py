r"""Difference-in-differences estimators (the paper's section 3.3 and 3.1.3).

* :func:`twfe` -- the staggered two-way fixed-effects DID of eq. (7),
  estimated by the book's one FE engine, :func:`lib.methods.panel.fe_ols` (Table 4);
* :func:`selection_logit` -- the pooled panel logit (or probit) of pilot
  designation on the city antecedents (section 3.1.3);
* :func:`event_study` -- relative-time dummies around adoption, the
  pre-trend Wald test and a sup-t band (Fig. 1, section 4.2);
* :func:`placebo_test` -- random pseudo-treatments re-estimated in one
  vectorised Frisch-Waugh-Lovell pass, with randomization inference
  (Fig. 2, section 4.3.1).

The first two return :class:`lib.methods.results.RegressionResult`; the last two
return frozen result objects with ``tidy()``, ``table()`` and ``plot()``. The numerics that later
methods reuse (within transformation, CRV1, a vectorised FE engine) live in
:mod:`lib.methods.panel`; ``METHODS.md`` is the registry of conventions and
tolerances.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from lib.methods import panel
from lib.methods.results import RegressionResult

__all__ = ["twfe", "selection_logit", "event_study", "EventStudyResult", "placebo_test",
           "PlaceboResult", "placebo_assignments", "ri_pvalue", "placebo_fwl", "VALID_VCOV"]

#: Accepted values of ``vcov``.
VALID_VCOV = ('{"CRV1": <column>}', '"hetero" (HC1)', '"iid"')


# --------------------------------------------------------------------- helpers
def _parse_vcov(vcov: Any) -> tuple[str, str | None]:
    """``("CRV1", column)``, ``("hetero", None)`` or ``("iid", None)``."""
    if isinstance(vcov, dict) and len(vcov) == 1:
        (kind, col), = vcov.items()
        if str(kind).upper() == "CRV1" and isinstance(col, str):
            return "CRV1", col
    if isinstance(vcov, str):
        v = vcov.lower()
        if v in ("hetero", "hc1", "robust"):
            return "hetero", None
        if v == "iid":
            return "iid", None
    raise ValueError(
        f"unknown vcov {vcov!r}; valid values are {', '.join(VALID_VCOV)}. "
        "Pass inference explicitly, e.g. vcov={'CRV1': 'city_id'}."
    )


def _check_columns(data: pd.DataFrame, columns: Sequence[str], fn: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise KeyError(
            f"{fn}: column(s) {missing} not in data ({data.shape[1]} columns: "
            f"{list(data.columns)[:20]}{' ...' if data.shape[1] > 20 else ''}); "
            "check the names or the column map in lib.data."
        )


def _model_frame(data: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Complete cases of ``data[columns]`` and the rows dropped per column (no ``total`` key)."""
    from lib.data import model_frame

    frame, dropped = model_frame(data, list(dict.fromkeys(columns)))
    return frame, {k: int(v) for k, v in dict(dropped).items() if k != "total" and int(v)}


def _drop_singletons(frame: pd.DataFrame, idname: str, tname: str) -> tuple[pd.DataFrame, int]:
    """Iteratively drop rows whose unit (or period) has one observation (reghdfe, pyfixest)."""
    n0 = len(frame)
    while True:
        keep = (frame.groupby(idname)[idname].transform("size") > 1) & (
            frame.groupby(tname)[tname].transform("size") > 1)
        if keep.all():
            break
        frame = frame.loc[keep]
    return frame, n0 - len(frame)


def _factorize(values: np.ndarray) -> tuple[np.ndarray, int]:
    c, uniques = pd.factorize(values, sort=True)
    return c.astype(np.intp, copy=False), len(uniques)


def _recode(c: np.ndarray, n_levels: int) -> tuple[np.ndarray, int]:
    """Codes ``0..L'-1`` again after rows (and perhaps whole levels) were dropped; order kept."""
    present = np.bincount(c, minlength=n_levels) > 0
    if present.all():
        return c, n_levels
    return (np.cumsum(present) - 1)[c], int(present.sum())


def estimation_rows(data: pd.DataFrame, needed: Sequence[str], *, idname: str, tname: str,
                    fn: str, drop_singletons: bool = True, repeated: bool = False):
    """The rules of :func:`estimation_frame` without copying ``data``.

    Returns ``(rows, reasons, (unit_codes, E), (time_codes, T))``: the positions of the rows
    used (``None`` when every row is), why the others were dropped, and the sorted integer
    codes of ``idname`` and ``tname`` on the rows used.
    """
    _check_columns(data, needed, fn)
    cols = list(dict.fromkeys(needed))
    # complete cases, each dropped row counted under its first missing column (lib.data.model_frame)
    keep = np.ones(len(data), dtype=bool)
    reasons: dict[str, int] = {}
    for c in cols:
        miss = data[c].isna().to_numpy()
        if miss.any():
            n_c = int((miss & keep).sum())
            if n_c:
                reasons[c] = n_c
            keep &= ~miss
    if not keep.any():
        _model_frame(data, needed)  # raises lib.data's error naming the worst column
    rows = None if keep.all() else np.flatnonzero(keep)

    def take(c):
        a = data[c].to_numpy()
        return a if rows is None else a[rows]

    (cu, nu), (ct, nt) = _factorize(take(idname)), _factorize(take(tname))
    if drop_singletons:  # iteratively, as reghdfe and pyfixest
        n_single = 0
        while True:
            bad = (np.bincount(cu, minlength=nu)[cu] < 2) | (np.bincount(ct, minlength=nt)[ct] < 2)
            if not bad.any():
                break
            n_single += int(bad.sum())
            good = ~bad
            rows = (np.arange(len(data)) if rows is None else rows)[good]
            cu, ct = cu[good], ct[good]
        if n_single:
            reasons[f"singleton {idname} or {tname}"] = n_single
            (cu, nu), (ct, nt) = _recode(cu, nu), _recode(ct, nt)
    if cu.size == 0:
        raise ValueError(f"{fn}: no complete rows left; dropped {reasons}")
    if not repeated:
        pair = cu * nt + ct
        if nu * nt <= 4 * pair.size + 1024:
            has_dup = bool(np.bincount(pair, minlength=nu * nt).max() > 1)
        else:
            pair = np.sort(pair)
            has_dup = bool((pair[1:] == pair[:-1]).any())
        if has_dup:
            frame = data if rows is None else data.iloc[rows]
            dup = frame.duplicated([idname, tname])
            raise ValueError(f"{fn}: {int(dup.sum())} duplicate ({idname}, {tname}) rows, e.g. rows "
                             f"{list(frame.index[dup][:5])}; the panel must have one row per unit and "
                             "period (for repeated cross-sections, several rows per group and period, "
                             "pass repeated_cross_sections=True).")
    return rows, reasons, (cu, nu), (ct, nt)


def estimation_frame(data: pd.DataFrame, needed: Sequence[str], *, idname: str, tname: str,
                     fn: str, drop_singletons: bool = True,
                     repeated: bool = False) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows a two-way FE model uses, and why the others were dropped.

    Checks that ``needed`` columns exist, keeps complete cases (each dropped
    row counted under its first missing column), drops singleton units or
    periods iteratively (counted), and rejects an empty sample or duplicate
    unit-period rows (unless ``repeated``: repeated cross-sections, several rows per
    group and period), naming ``fn`` in every message. Every FE estimator in
    ``lib`` builds its sample here (or in :func:`estimation_rows`, the same rules on
    positions), so all of them report drops alike.
    """
    rows, reasons, _, _ = estimation_rows(data, needed, idname=idname, tname=tname, fn=fn,
                                          drop_singletons=drop_singletons, repeated=repeated)
    frame = data[list(dict.fromkeys(needed))]
    return (frame if rows is None else frame.iloc[rows]), reasons


def _apply_sample(data: pd.DataFrame, sample) -> tuple[pd.DataFrame, int]:
    if sample is None:
        return data, 0
    if isinstance(sample, str):
        out = data.query(sample)
    else:
        mask = sample(data) if callable(sample) else sample
        mask = pd.Series(np.asarray(mask, dtype=bool), index=data.index) if not isinstance(
            mask, pd.Series) else mask.reindex(data.index).fillna(False).astype(bool)
        out = data.loc[mask]
    if out.empty:
        raise ValueError(f"sample {sample!r} keeps no rows of the {len(data)} in data")
    return out, len(data) - len(out)


# ------------------------------------------------------------------------ TWFE
def twfe(
    data: pd.DataFrame,
    *,
    yname: str,
    dname: str,
    idname: str,
    tname: str,
    controls: Sequence[str] = (),
    vcov: dict[str, str] | str,
    sample=None,
    k_fixef: Literal["nonnested", "full", "none"] = "nonnested",
    drop_singletons: bool = True,
    weights: str | None = None,
    repeated_cross_sections: bool = False,
    effects: Literal["twoway", "unit", "none"] = "twoway",
) -> RegressionResult:
    r"""Staggered two-way fixed-effects DID (the paper's eq. 7, Table 4).

    The model as implemented:

    .. math::

        Inno_{it} = \alpha_1\,CBEC_{it} + X_{it}'\alpha_2 + \mu_i + \nu_t + \varepsilon_{it},

    with :math:`CBEC_{it} = Treat_i \times Post_{it}` switching on in city
    :math:`i`'s pilot year, city effects :math:`\mu_i` and year effects
    :math:`\nu_t` absorbed by the two-way within transformation (the paper's
    :math:`\alpha_0` is not separately identified), estimated by
    :func:`lib.methods.panel.fe_ols` (exact within transformation; the tests
    hold it to linearmodels ``PanelOLS``, pyfixest and statsmodels dummies).

    Cluster-robust covariance (CRV1) by the ``vcov`` column, :math:`G` clusters:

    .. math::

        \hat V = \frac{G}{G-1}\,\frac{N-1}{N-K}\,
        (\ddot X'\ddot X)^{-1}\Big(\sum_g \ddot X_g'\hat\varepsilon_g
        \hat\varepsilon_g'\ddot X_g\Big)(\ddot X'\ddot X)^{-1},

    inference with :math:`t_{G-1}`. ``K`` follows Stata ``reghdfe`` and
    fixest/pyfixest defaults (``k_fixef="nonnested"``): city effects nested in
    city clusters are not counted, one parameter is kept for the intercept, so
    :math:`K = k + T` (:math:`k` regressors, :math:`T` years). ``"full"``
    counts every effect, :math:`K = k + E + T - 1` (OLS with dummies;
    linearmodels' own count for two-way effects, which its ``auto_df`` does
    not reduce even when the entity effect is nested in the clusters). The
    ratio of the two variances is :math:`(N-k-E-T+1)/(N-k-T)`, about 0.915
    (s.e. 4.3 % smaller under ``"nonnested"``) for the paper's
    :math:`N=3316, E=280, T=12`. ``"hetero"`` is HC1
    (:math:`N/(N-K)`, all effects counted), ``"iid"`` the classical
    :math:`\hat\sigma^2(\ddot X'\ddot X)^{-1}` with
    :math:`\hat\sigma^2 = \hat\varepsilon'\hat\varepsilon/(N-K)`.

    Parameters
    ----------
    data : pandas.DataFrame
        City-year panel in long form.
    yname, dname : str
        Outcome (``Inno``) and treatment dummy (``CBEC``).
    idname, tname : str
        City and year identifiers.
    controls : sequence of str
        Control variables (Table 4 col. 2-3); empty for col. 1.
    vcov : {"CRV1": column} or "hetero" or "iid"
        Inference; always pass it explicitly (house style).
    sample : None, str, boolean array/Series or callable
        Rows to use: a ``DataFrame.query`` string (e.g.
        ``"~municipality"``), a mask aligned with ``data`` or a function of
        ``data`` returning one. Rows it excludes are counted in
        ``extra["n_excluded_by_sample"]``, not in ``n_dropped``.
    k_fixef : {"nonnested", "full", "none"}
        Fixed-effect parameters counted in ``K``; see :func:`lib.methods.panel.fe_dof_k`.
    drop_singletons : bool
        Drop units (or years) with a single complete observation, iteratively,
        as reghdfe and pyfixest do; they carry no within variation but would
        inflate ``N``.
    weights : str, optional
        Column of positive analytic (regression) weights: weighted least squares
        on the weighted within transformation, as ``reghdfe ... [aw=w]`` and
        pyfixest ``feols(..., weights="w")``. Rows with a missing weight are
        dropped and counted.
    repeated_cross_sections : bool
        Allow several rows per (``idname``, ``tname``): repeated cross-sections of
        individuals in groups (states, counties), with group and period effects.
    effects : {"twoway", "unit", "none"}
        Fixed effects absorbed: unit and period (the DID), unit only, or none (pooled
        OLS with an intercept). ``K`` counts them as ``k_fixef`` says (an intercept
        for "none").

    Returns
    -------
    RegressionResult
        ``params`` / ``std_errors`` / ``cov`` for ``dname`` then ``controls``;
        ``r2`` is the within R² :math:`1-\sum\hat\varepsilon^2/\sum\ddot y^2`
        (two-way demeaned, as reghdfe's "Within R-sq." and pyfixest's
        ``r2_within``; linearmodels' ``rsquared``); ``extra`` holds
        ``n_clusters``, ``entities``, ``periods``, ``dof_k``, ``r2_inclusive``
        (R² with the effects, Stata's "R-squared", comparable to the paper's
        Table 4 row) and ``n_excluded_by_sample``.

    Raises
    ------
    KeyError
        A named column is not in ``data``.
    ValueError
        Unknown ``vcov``; duplicate (city, year) rows; ``dname`` absorbed by the
        effects or without variation.

    Notes
    -----
    Source: the paper, section 3.3, eq. (7). The staggered TWFE estimand is a
    variance-weighted average of 2x2 comparisons (Goodman-Bacon 2021); the
    heterogeneity-robust estimators are in :mod:`lib.methods.staggered`.

    Examples
    --------
    >>> res = twfe(panel, yname="Inno", dname="CBEC", controls=CONTROLS,
    ...            vcov={"CRV1": "city_id"})                      # doctest: +SKIP
    >>> res.coef("CBEC")                                          # doctest: +SKIP
    """
    controls = list(controls)
    kind, ccol = _parse_vcov(vcov)
    if k_fixef not in ("nonnested", "full", "none"):
        raise ValueError(f"k_fixef must be 'nonnested', 'full' or 'none', got {k_fixef!r}")
    if effects not in ("twoway", "unit", "none"):
        raise ValueError(f"effects must be 'twoway', 'unit' or 'none', got {effects!r}")
    needed = [yname, dname, *controls, idname, tname] + ([ccol] if ccol else []) + (
        [weights] if weights else [])
    _check_columns(data, needed, "twfe")
    if dname in controls or yname in [dname, *controls]:
        raise ValueError("twfe: yname, dname and controls must be distinct columns")

    sub, n_excl = _apply_sample(data, sample)
    # Positions and codes, not a copied frame: each column is read once, into Z below.
    rows, drop_reasons, (cu, nu), (ct, nt) = estimation_rows(
        sub, needed, idname=idname, tname=tname, fn="twfe", drop_singletons=drop_singletons,
        repeated=repeated_cross_sections)

    def column(c):
        a = sub[c].to_numpy()
        return a if rows is None else a[rows]

    N = cu.shape[0]
    w = None
    if weights:
        w = np.asarray(column(weights), dtype=float)
        ok = np.isfinite(w) & (w > 0)
        if not ok.all():
            index = sub.index if rows is None else sub.index[rows]
            raise ValueError(f"twfe: weights {weights!r} must be positive and finite; rows "
                             f"{list(index[~ok][:5])} are not")
    n_dropped = len(sub) - N
    regressors = [dname, *controls]
    k = len(regressors)
    Z = np.empty((N, 1 + k), order="F")  # [y, X], demeaned in place by the engine
    for j, c in enumerate([yname, *regressors]):
        Z[:, j] = column(c)
        if j and (Z[:, j] == Z[0, j]).all():
            raise ValueError(f"twfe: regressor {c!r} is constant in the estimation sample "
                             f"({N} rows); drop it or change the sample.")
    if kind == "CRV1":
        cl_codes = cu if ccol == idname else ct if ccol == tname else panel.codes(column(ccol))[0]
    # an effect that is not absorbed is a single level: demeaning by it removes only the mean
    if effects != "twoway":
        ct, nt = np.zeros(N, dtype=np.intp), 1
    if effects == "none":
        cu, nu = np.zeros(N, dtype=np.intp), 1
    E, T = nu, nt
    design = panel._TwoWay(cu, nu, ct, nt, w)
    buf = design.buffer()
    wts = np.ones(N) if w is None else w
    ybar = float(wts @ Z[:, 0] / wts.sum())
    np.subtract(Z[:, 0], ybar, out=buf)
    tss = float(wts @ buf**2)
    raw = []  # centred sums of squares, the scale of the absorbed-regressor check
    for j in range(1, 1 + k):
        np.subtract(Z[:, j], Z[:, j].mean(), out=buf)
        raw.append(float(buf @ buf))
    if not np.isfinite([tss, *raw]).all():
        panel._check_finite(Z)  # raises, naming missing or infinite values
    design.demean_(Z)
    # A regressor without within variation is absorbed by the effects: say which, instead
    # of returning the arbitrary numbers of a singular fit.
    absorbed = [c for j, c in enumerate(regressors)
                if float(Z[:, 1 + j] @ Z[:, 1 + j]) <= 1e-20 * max(raw[j], 1.0)]
    if absorbed:
        raise ValueError(f"twfe: {absorbed} absorbed by the {idname} and {tname} effects (no within "
                         f"variation in the {N} rows); drop them or change the sample.")
    groups = None
    if kind == "CRV1":
        groups = design.u if cl_codes is design.u.c else panel._Groups(cl_codes, cl_codes.max() + 1)
    # Non-clustered covariances count every effect in K (OLS with dummies), unless "none".
    k_rule = k_fixef if kind == "CRV1" else ("none" if k_fixef == "none" else "full")
    fit = panel._fit_demeaned(Z, 1, design, groups, vcov=kind, k_fixef=k_rule, names=regressors)
    dof_k = int(fit.dof_k)
    cov = pd.DataFrame(fit.cov[0], index=regressors, columns=regressors)
    se = pd.Series(fit.std_errors[0], index=regressors, name="std_error")
    resid = fit.resid[:, 0]
    r2_inclusive = 1.0 - float(wts @ resid**2) / tss

    if kind == "CRV1":
        G = int(fit.n_clusters)
        dof_resid: float = G - 1
        vtext = f"CRV1 by {ccol} ({G} clusters)"
    else:
        G = None
        dof_resid = N - dof_k
        vtext = "HC1 (heteroskedasticity-robust)" if kind == "hetero" else "iid"

    spec = dict(estimator="twfe", yname=yname, dname=dname, idname=idname, tname=tname,
                controls=tuple(controls), vcov=dict(vcov) if isinstance(vcov, dict) else vcov,
                sample=sample if sample is None or isinstance(
                    sample, str) else repr(sample)[:200], k_fixef=k_fixef,
                drop_singletons=drop_singletons, weights=weights,
                repeated_cross_sections=repeated_cross_sections, effects=effects)
    extra = {
        "n_clusters": G,
        "entities": int(E),
        "periods": int(T),
        "dof_k": int(dof_k),
        "ssc_factor": (G / (G - 1) if G else 1.0) * ((N - 1) if kind == "CRV1" else N) / (N - dof_k),
        "r2_inclusive": r2_inclusive,
        "n_excluded_by_sample": int(n_excl),
        "backend": "lib.methods.panel.fe_ols",
    }
    return RegressionResult(
        params=pd.Series(fit.params[0], index=regressors, name="estimate"),
        std_errors=se,
        cov=cov.loc[regressors, regressors],
        nobs=int(N),
        dof_resid=dof_resid,
        r2=float(fit.r2_within[0]),
        r2_kind="within",
        fixed_effects=(idname.removesuffix("_id"), tname.removesuffix("_id")),
        controls=bool(controls),
        vcov=vtext,
        n_dropped=int(n_dropped),
        drop_reasons=drop_reasons,
        spec=spec,
        extra=extra,
    )


# ------------------------------------------------------------- selection logit
def selection_logit(
    data: pd.DataFrame,
    *,
    treated: str,
    covariates: Sequence[str],
    idname: str | None = None,
    tname: str | None = None,
    period: Any = None,
    kind: Literal["logit", "probit"] = "logit",
    vcov: dict[str, str] | str,
) -> RegressionResult:
    r"""Pooled panel logit (or probit) of pilot designation on city antecedents.

    The paper's section 3.1.3 "panel binary logit", as implemented (pooled
    over city-year rows, or one year's cross-section with ``period``):

    .. math::

        \Pr(Treat_{i}=1 \mid x_{it}) = F(\beta_0 + x_{it}'\beta),\qquad
        F = \Lambda \text{ (logit) or } \Phi \text{ (probit)},

    estimated by maximum likelihood (statsmodels ``Logit``/``Probit``). The
    covariance is cluster-robust by city (CRV1, statsmodels' correction):

    .. math::

        \hat V = \frac{G}{G-1}\frac{N-1}{N-K}\, H^{-1}
        \Big(\sum_g s_g s_g'\Big) H^{-1},

    with :math:`s_g` the score summed over city :math:`g` and :math:`K` the
    number of coefficients (intercept included). Stata's ``logit,
    vce(cluster)`` applies :math:`G/(G-1)` only; its s.e. are smaller by
    :math:`\sqrt{(N-K)/(N-1)}` (0.1 % at :math:`N=3360, K=9`). Inference is
    normal (z). ``r2`` is McFadden's pseudo-R² :math:`1-\ln L/\ln L_0`.

    Parameters
    ----------
    data : pandas.DataFrame
        City-year panel.
    treated : str
        0/1 designation indicator (``Treat``: ever a pilot city).
    covariates : sequence of str
        The antecedents (Popu, Capi, Econ, Infra, Gov, Urban, Consum, Inter).
    idname, tname : str, optional
        Unit and period identifiers (rows missing them are dropped); leave both
        out for a cross-section.
    period : optional
        Use only rows with ``data[tname] == period`` (e.g. the pre-policy
        year) -- a cross-section; pooled over all years when ``None``.
    kind : {"logit", "probit"}
    vcov : {"CRV1": column} or "hetero" or "iid"

    Returns
    -------
    RegressionResult
        ``extra["marginal_effects"]`` is a DataFrame of average marginal
        effects (``get_margeff(at="overall")``) with columns ``dy/dx``,
        ``s.e.``, ``z``, ``p`` (delta method, with the chosen covariance).

    Raises
    ------
    ValueError
        ``treated`` not 0/1; a covariate constant in the sample; a covariate
        that perfectly predicts ``treated``; separation detected by the fit.

    Examples
    --------
    >>> res = selection_logit(panel, treated="Treat", covariates=ANTECEDENTS,
    ...                       vcov={"CRV1": "city_id"})           # doctest: +SKIP
    >>> res.extra["marginal_effects"]                             # doctest: +SKIP
    """
    # the two models and the helper, not statsmodels.api (which imports every model: 1.4 s)
    from statsmodels.discrete.discrete_model import Logit, Probit
    from statsmodels.tools import add_constant
    from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

    covariates = list(covariates)
    if not covariates:
        raise ValueError("selection_logit: give at least one covariate")
    if kind not in ("logit", "probit"):
        raise ValueError(f"kind must be 'logit' or 'probit', got {kind!r}")
    vkind, ccol = _parse_vcov(vcov)
    needed = list(dict.fromkeys([treated, *covariates, *(c for c in (idname, tname, ccol) if c)]))
    _check_columns(data, needed, "selection_logit")

    sub = data
    if period is not None and tname is None:
        raise ValueError("selection_logit: period= needs tname= (the column the period is read from)")
    if period is not None:
        sub = data.loc[data[tname] == period]
        if sub.empty:
            raise ValueError(f"selection_logit: no rows with {tname} == {period!r}; "
                             f"available: {sorted(data[tname].dropna().unique())[:20]}")
    frame, drop_reasons = _model_frame(sub, needed)
    n_dropped = len(sub) - len(frame)
    y = frame[treated]
    if not set(pd.unique(y)) <= {0, 1, True, False}:
        raise ValueError(f"selection_logit: {treated!r} must be 0/1; values include "
                         f"{sorted(pd.unique(y))[:5]}")
    y = y.astype(float)
    if y.nunique() < 2:
        raise ValueError(f"selection_logit: {treated!r} takes one value in all {len(y)} rows")
    X = frame[covariates].astype(float)
    for c in covariates:
        x = X[c]
        if x.nunique() < 2:
            raise ValueError(f"selection_logit: covariate {c!r} is constant in the "
                             f"{len(x)} estimation rows; drop it.")
        x1, x0 = x[y == 1], x[y == 0]
        if x1.min() > x0.max() or x1.max() < x0.min():
            raise ValueError(f"selection_logit: covariate {c!r} perfectly predicts {treated!r} "
                             "(complete separation); the MLE does not exist. Drop or coarsen it.")
    Xc = add_constant(X, has_constant="add")
    Model = Logit if kind == "logit" else Probit
    if vkind == "CRV1":
        groups = pd.factorize(frame[ccol])[0]
        fit_kw = dict(cov_type="cluster", cov_kwds={"groups": groups})
        G = int(groups.max() + 1)
        vtext = f"CRV1 by {ccol} ({G} clusters)"
    elif vkind == "hetero":
        fit_kw, G, vtext = dict(cov_type="HC1"), None, "HC1 (heteroskedasticity-robust)"
    else:
        fit_kw, G, vtext = dict(cov_type="nonrobust"), None, "iid (inverse Hessian)"
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        try:
            res = Model(y, Xc).fit(disp=0, maxiter=200, **fit_kw)
        except (PerfectSeparationError, PerfectSeparationWarning) as err:
            raise ValueError(
                f"selection_logit: (quasi-)complete separation of {treated!r} by the "
                f"covariates {covariates}; the MLE does not exist ({err}). Drop or "
                "coarsen the covariate(s) that predict designation exactly.") from err
    if not res.mle_retvals.get("converged", True):
        warnings.warn(f"selection_logit: {kind} did not converge in 200 iterations "
                      f"on {len(y)} rows", RuntimeWarning, stacklevel=2)
    me = res.get_margeff(at="overall", method="dydx").summary_frame()
    me = me.rename(columns={"Std. Err.": "s.e.", "Pr(>|z|)": "p"})[["dy/dx", "s.e.", "z", "p"]]
    me.index.name = "term"
    spec = dict(estimator="selection_logit", treated=treated, covariates=tuple(covariates),
                idname=idname, tname=tname, period=period, kind=kind,
                vcov=dict(vcov) if isinstance(vcov, dict) else vcov)
    extra = {
        "marginal_effects": me,
        "n_clusters": G,
        "n_treated": int(y.sum()),
        "llf": float(res.llf),
        "llnull": float(res.llnull),
        "converged": bool(res.mle_retvals.get("converged", True)),
        "kind": kind,
        "period": period,
        "backend": f"statsmodels.{Model.__name__}",
    }
    params = res.params.rename("estimate")
    return RegressionResult(
        params=params,
        std_errors=res.bse.rename("std_error"),
        cov=pd.DataFrame(res.cov_params(), index=params.index, columns=params.index),
        nobs=int(res.nobs),
        dof_resid=None,
        r2=float(res.prsquared),
        r2_kind="pseudo",
        fixed_effects=(),
        controls=None,
        vcov=vtext,
        n_dropped=int(n_dropped),
        drop_reasons=drop_reasons,
        spec=spec,
        extra=extra,
    )


# ================================================================ event study
def _event_label(e: int) -> str:
    """Regressor name of relative period ``e`` (``e-5`` ... ``e+0`` ... ``e+5``)."""
    return f"e{int(e):+d}"


def _event_frame(data: pd.DataFrame, *, yname: str, idname: str, tname: str, gname: str,
                 controls: Sequence[str], ccol: str | None, window: tuple[int, int], ref: int,
                 bin_endpoints: bool, fn: str,
                 weights: str | None = None) -> tuple[pd.DataFrame, dict[str, int], int]:
    """Complete cases with an ``_event_time`` column (binned or trimmed to ``window``)."""
    lo, hi = (int(window[0]), int(window[1]))
    if not lo <= ref <= hi:
        raise ValueError(f"{fn}: ref={ref} is outside window={window}")
    if not lo < 0 <= hi:
        raise ValueError(f"{fn}: window={window} must contain at least one pre-period and 0")
    needed = [yname, *controls, idname, tname] + ([ccol] if ccol else []) + ([weights] if weights else [])
    _check_columns(data, [*needed, gname], fn)
    g = pd.to_numeric(data[gname], errors="coerce")
    bad = data[gname].notna() & g.isna()
    if bad.any():
        raise ValueError(f"{fn}: column {gname!r} must be a year or missing (never treated); "
                         f"{int(bad.sum())} rows are not numeric, e.g. rows "
                         f"{list(data.index[bad][:5])}")
    varies = g.groupby(data[idname]).nunique(dropna=False) > 1
    if varies.any():
        raise ValueError(f"{fn}: {gname!r} varies within {int(varies.sum())} units "
                         f"(e.g. {idname} {list(varies[varies].index[:5])}); it must be the "
                         "unit's adoption year, constant over time.")
    frame, drop_reasons = _model_frame(data, needed)
    frame = frame.copy()
    frame["_g"] = g.reindex(frame.index)
    e = frame[tname].astype(float) - frame["_g"]
    if bin_endpoints:
        e = e.clip(lower=lo, upper=hi)
    else:
        outside = e.notna() & ((e < lo) | (e > hi))
        if outside.any():
            drop_reasons[f"treated rows outside window {window}"] = int(outside.sum())
            frame, e = frame.loc[~outside], e.loc[~outside]
    frame["_event_time"] = e
    frame, n_singleton = _drop_singletons(frame, idname, tname)
    if n_singleton:
        drop_reasons[f"singleton {idname} or {tname}"] = n_singleton
    if frame.empty:
        raise ValueError(f"{fn}: no complete rows left; dropped {drop_reasons}")
    dup = frame.duplicated([idname, tname])
    if dup.any():
        raise ValueError(f"{fn}: {int(dup.sum())} duplicate ({idname}, {tname}) rows, e.g. rows "
                         f"{list(frame.index[dup][:5])}; one row per unit and period, please.")
    if frame["_g"].notna().all():
        raise ValueError(f"{fn}: every unit has an adoption year in {gname!r}; the event study "
                         "needs never-treated units (missing gname) as the comparison group.")
    return frame, drop_reasons, len(data) - len(frame)


def _sup_t_critical(corr: np.ndarray, level: float, dof: float | None, draws: int,
                    seed: int) -> float:
    """Quantile of max_j |Z_j| with Z multivariate t (or normal) with correlation ``corr``."""
    k = corr.shape[0]
    rng = np.random.default_rng(seed)
    # eigh, not cholesky: the correlation matrix may be singular to rounding
    vals, vecs = np.linalg.eigh(corr)
    root = vecs * np.sqrt(np.clip(vals, 0, None))
    Z = rng.standard_normal((draws, k)) @ root.T
    if dof is not None:
        Z = Z / np.sqrt(rng.chisquare(dof, size=(draws, 1)) / dof)
    return float(np.quantile(np.abs(Z).max(axis=1), level))


@dataclass(frozen=True)
class EventStudyResult:
    """Event-study (dynamic TWFE) estimates with a pre-trend test and a sup-t band.

    Attributes
    ----------
    estimates : DataFrame
        Indexed by ``event_time`` (the window, reference period included with
        estimate 0 and no s.e.): estimate, std_error, t, p, ci_lower,
        ci_upper (pointwise), band_lower, band_upper (simultaneous sup-t),
        n_treated (treated observations in the bin) and binned (whether the
        bin pools the event times beyond it).
    pretrend_test : dict
        ``statistic`` (F = Wald/q), ``df`` ((q, G-1) or (q, N-K)), ``p``,
        ``kind`` (a description), ``wald`` (the chi-square form) and
        ``p_chi2`` (its asymptotic p-value).
    regression : RegressionResult
        The underlying regression (all relative-time dummies and controls).
    nobs : int
    sup_t_critical : float
        Critical value of the simultaneous band (vs ``pointwise_critical``).
    sample : DataFrame
        The rows used: unit, period, adoption year, (binned) event time.
    spec : dict
    """

    estimates: pd.DataFrame
    pretrend_test: dict
    regression: RegressionResult
    nobs: int
    sup_t_critical: float
    pointwise_critical: float
    sample: pd.DataFrame = field(repr=False)
    spec: dict = field(default_factory=dict)

    def tidy(self) -> pd.DataFrame:
        """One row per event time (the reference period included)."""
        out = self.estimates.reset_index()
        out["nobs"] = self.nobs
        return out

    def table(self, title: str | None = "Event-study coefficients", *, truth=None):
        """The estimates as a book table (optionally with a ``truth`` column)."""
        from lib.present import tables

        cols = ["estimate", "std_error", "ci_lower", "ci_upper", "band_lower", "band_upper",
                "n_treated"]
        df = self.estimates[cols].copy()
        if truth is not None:
            df.insert(1, "truth", pd.Series(truth).reindex(df.index).to_numpy(dtype=float))
        pt = self.pretrend_test
        notes = [f"Reference period {self.spec['ref']} (estimate fixed at 0). "
                 f"{'End points binned' if self.spec['bin_endpoints'] else 'Trimmed window'}; "
                 f"never-treated cities are the comparison; {self.regression.vcov}; "
                 f"N = {self.nobs:,}.",
                 f"ci: 95% pointwise (critical value {self.pointwise_critical:.3f}); band: 95% "
                 f"simultaneous sup-t (critical value {self.sup_t_critical:.3f}).",
                 f"Pre-trend test: {pt['kind']}, F = {pt['statistic']:.3f}, p = {pt['p']:.4f}."]
        return tables.frame_table(df, title=title, notes=notes)

    def true_effects(self, truth) -> pd.Series:
        """The truth of each bin on the rows used (``nan`` when ``truth`` is None).

        Mean over the treated rows in each event-time bin of the true effect
        tau plus the generator's pre-trend deviation, minus the same mean at
        the reference period: the dynamic effect the coefficients should
        recover under homogeneous effects across cohorts.
        """
        idx = self.estimates.index
        if truth is None:
            return pd.Series(np.nan, index=idx, name="truth")
        s = self.sample
        tr = s.loc[s["event_time"].notna()].copy()
        eff = truth.effects.set_index(["city_id", "year"])["tau"]
        keys = pd.MultiIndex.from_arrays([tr["unit"].astype("int64"), tr["period"].astype("int64")])
        tau = eff.reindex(keys).fillna(0.0).to_numpy()
        raw_e = (tr["period"] - tr["adoption_year"]).to_numpy(dtype=float)
        pretrend = float(truth.params.get("pretrend", 0.0) or 0.0)
        dev = pretrend * (np.minimum(raw_e, -1) + 1)
        v = pd.Series(tau + dev, index=tr.index).groupby(tr["event_time"].to_numpy()).mean()
        v = v.reindex(idx)
        return (v - v.loc[self.spec["ref"]]).rename("truth")

    def plot(self, ax: Any = None, *, truth=None, overlay: pd.DataFrame | None = None,
             overlay_label: str = "Sun-Abraham (95% CI)", show_test: bool = True) -> Any:
        """Coefficients with the pointwise CI and the sup-t band; truth markers; test printed.

        ``truth`` is one value per event time (a Series indexed like
        ``estimates``, e.g. :meth:`true_effects`); ``overlay`` a frame indexed
        by event time with estimate, ci_lower, ci_upper (e.g.
        ``lib.methods.staggered.sun_abraham(...).estimates``), drawn slightly offset.
        """
        from lib.present.figures import PALETTE, _legend, band_plot

        e = self.estimates
        x = e.index.to_numpy(dtype=float)
        tv = None if truth is None else pd.Series(truth).reindex(e.index).to_numpy(dtype=float)
        fig = band_plot(x, e["estimate"], e["ci_lower"], e["ci_upper"], lower2=e["band_lower"],
                        upper2=e["band_upper"], truth=tv, ax=ax, xlabel="Years since designation",
                        ylabel=f"Effect on {self.spec['yname']}", vertical_line=-0.5,
                        estimate_label="book: TWFE event study",
                        band_label="95% pointwise CI", band2_label="95% sup-t band")
        ax = fig.axes[0] if ax is None else ax
        if overlay is not None:
            o = overlay.reindex(e.index).dropna(subset=["estimate"])
            xo = o.index.to_numpy(dtype=float) + 0.18
            ax.errorbar(xo, o["estimate"], yerr=np.vstack([o["estimate"] - o["ci_lower"],
                                                           o["ci_upper"] - o["estimate"]]),
                        fmt="^", ms=5, color=PALETTE["highlight"], elinewidth=1.1, capsize=0,
                        label=overlay_label, zorder=3.5)
        test = None
        if show_test:  # as the legend's title: a box of its own would cover the legend
            pt = self.pretrend_test
            q, d2 = pt["df"]
            ptext = "p < 0.001" if pt["p"] < 0.001 else f"p = {pt['p']:.3f}"
            test = f"pre-trend test: F({q}, {d2:g}) = {pt['statistic']:.2f}, {ptext}"
        ax.set_xticks(x)
        lab = {int(v): f"{int(v)}" for v in x}
        if self.spec["bin_endpoints"]:
            lo, hi = int(x.min()), int(x.max())
            lab[lo], lab[hi] = f"≤{lo}", f"≥{hi}"
        ax.set_xticklabels([lab[int(v)] for v in x])
        _legend(ax, title=test)
        return fig


def event_study(
    data: pd.DataFrame,
    *,
    yname: str,
    idname: str,
    tname: str,
    gname: str,
    controls: Sequence[str] = (),
    window: tuple[int, int] = (-5, 5),
    ref: int = -1,
    bin_endpoints: bool = True,
    vcov: dict[str, str] | str,
    level: float = 0.95,
    band_draws: int = 100_000,
    seed: int = 0,
    weights: str | None = None,
) -> EventStudyResult:
    r"""Dynamic TWFE event study around adoption (the paper's Fig. 1, section 4.2).

    The model as implemented:

    .. math::

        y_{it} = \sum_{e=\underline e,\, e\ne r}^{\overline e}
                 \beta_e\,1\{K_{it} = e\} + X_{it}'\gamma + \mu_i + \nu_t + \varepsilon_{it},
        \qquad K_{it} = t - G_i ,

    with :math:`G_i` the adoption year (``gname``; missing for never-treated
    units, whose dummies are all zero: they are the comparison group),
    reference period :math:`r` (``ref``, default -1) and window
    :math:`[\underline e, \overline e]` (default -5..5). With
    ``bin_endpoints=True`` the end dummies pool every earlier or later event
    time (:math:`1\{K_{it} \le \underline e\}`, :math:`1\{K_{it} \ge \overline
    e\}`), so no treated row falls silently into the reference; with
    ``False`` treated rows outside the window are dropped and counted. City
    and year effects are absorbed (:func:`lib.methods.panel.fe_ols`, equal to
    linearmodels ``PanelOLS`` to 1e-10); CRV1 covariance as in :func:`twfe`
    (``K`` counts the slopes and the year effects, reghdfe's convention).

    **Pre-trend test.** Wald test of :math:`H_0:\beta_e = 0` for every
    :math:`e < 0, e \ne r` with the cluster-robust covariance, reported as
    :math:`F = \hat\beta_{pre}'\hat V_{pre}^{-1}\hat\beta_{pre}/q` on
    :math:`(q, G-1)` degrees of freedom (Stata ``test`` after ``reghdfe``).

    **Sup-t band** (Montiel Olea and Plagborg-Møller 2019): the band
    :math:`\hat\beta_e \pm c\,\widehat{se}_e` with :math:`c` the ``level``
    quantile of :math:`\max_e |Z_e|`, :math:`Z` multivariate :math:`t_{G-1}`
    (not the normal of Montiel Olea and Plagborg-Møller: with :math:`G` clusters
    the pointwise intervals use :math:`t_{G-1}`, and the band follows them, so it
    is slightly wider than theirs) with the estimated correlation of :math:`\hat\beta`, simulated with
    ``band_draws`` seeded draws; it covers the whole path with probability
    ``level`` (the pointwise intervals cover each coefficient).

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel.
    yname : str
        Outcome.
    idname, tname : str
        Unit and period columns.
    gname : str
        Adoption year, constant within unit; missing (NaN) for never-treated.
    controls : sequence of str
    window : (int, int)
        First and last event time shown.
    ref : int
        Omitted (reference) event time.
    bin_endpoints : bool
        Bin the end points (default) or trim the window.
    vcov : {"CRV1": column} or "hetero" or "iid"
    level : float
        Coverage of the pointwise intervals and of the band.
    band_draws, seed : int
        Draws and seed of the sup-t critical value.
    weights : str, optional
        Column of positive analytic weights (weighted least squares, as in :func:`twfe`;
        e.g. population weights for state panels).

    Returns
    -------
    EventStudyResult

    Raises
    ------
    KeyError
        A named column is missing.
    ValueError
        ``gname`` not numeric or varying within a unit; no never-treated
        units; ``ref`` outside the window; duplicate (unit, period) rows.

    Notes
    -----
    Under staggered adoption with effects that differ across cohorts the
    :math:`\beta_e` mix cohorts' effects at other event times (Sun and
    Abraham 2021); ``lib.methods.staggered.sun_abraham`` gives the
    interaction-weighted alternative. Pre-tests have low power and
    conditioning on passing them distorts inference (Roth 2022).

    Examples
    --------
    >>> es = event_study(panel, yname="Inno", controls=CONTROLS,
    ...                  vcov={"CRV1": "city_id"})                # doctest: +SKIP
    >>> es.pretrend_test["p"]                                     # doctest: +SKIP
    """
    from scipy import stats

    controls = list(controls)
    kind, ccol = _parse_vcov(vcov)
    window = (int(window[0]), int(window[1]))
    ref = int(ref)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    frame, drop_reasons, n_dropped = _event_frame(
        data, yname=yname, idname=idname, tname=tname, gname=gname, controls=controls,
        ccol=ccol, window=window, ref=ref, bin_endpoints=bin_endpoints, fn="event_study",
        weights=weights)
    frame = frame.sort_values([idname, tname])
    w = None
    if weights:
        w = frame[weights].to_numpy(dtype=float)
        if not (np.isfinite(w).all() and (w > 0).all()):
            bad = list(frame.index[~(np.isfinite(w) & (w > 0))][:5])
            raise ValueError(f"event_study: weights {weights!r} must be positive and finite; rows "
                             f"{bad} are not")
    et = frame["_event_time"].to_numpy(dtype=float)
    periods = [e for e in range(window[0], window[1] + 1)]
    present = [e for e in periods if e != ref and np.any(et == e)]
    missing = [e for e in periods if e != ref and e not in present]
    if not any(e < 0 for e in present) or not any(e >= 0 for e in present):
        raise ValueError(f"event_study: the data have no treated rows at pre- or post-adoption "
                         f"event times inside window={window}")
    if not np.any(et == ref):
        raise ValueError(f"event_study: no treated rows at the reference period {ref}")
    names = [_event_label(e) for e in present]
    D = (et[:, None] == np.asarray(present, dtype=float)[None, :]).astype(float)
    X = np.column_stack([D, frame[controls].to_numpy(dtype=float)]) if controls else D
    for j, c in enumerate(controls):
        if frame[c].nunique() < 2:
            raise ValueError(f"event_study: control {c!r} is constant in the {len(frame)} rows")
    y = frame[yname].to_numpy(dtype=float)
    unit, time = frame[idname].to_numpy(), frame[tname].to_numpy()
    cl = frame[ccol].to_numpy() if kind == "CRV1" else None
    fit = panel.fe_ols(y, X, unit, time, cl, vcov=kind, weights=w, names=names + controls)
    regressors = names + controls
    params = pd.Series(fit.params, index=regressors, name="estimate")
    cov = pd.DataFrame(fit.cov, index=regressors, columns=regressors)
    se = pd.Series(np.sqrt(np.diag(fit.cov)), index=regressors, name="std_error")
    N = fit.nobs
    G = fit.n_clusters
    vtext = (f"CRV1 by {ccol} ({G} clusters)" if kind == "CRV1" else
             "HC1 (heteroskedasticity-robust)" if kind == "hetero" else "iid")
    spec = dict(estimator="event_study", yname=yname, idname=idname, tname=tname, gname=gname,
                controls=tuple(controls), window=window, ref=ref, bin_endpoints=bin_endpoints,
                vcov=dict(vcov) if isinstance(vcov, dict) else vcov, level=level,
                band_draws=band_draws, seed=seed, weights=weights)
    reg = RegressionResult(
        params=params, std_errors=se, cov=cov, nobs=int(N), dof_resid=fit.dof_resid,
        r2=float(fit.r2_within), r2_kind="within",
        fixed_effects=(idname.removesuffix("_id"), tname.removesuffix("_id")),
        controls=bool(controls), vcov=vtext, n_dropped=int(n_dropped), drop_reasons=drop_reasons,
        spec=spec, extra={"n_clusters": G, "dof_k": fit.dof_k, "missing_event_times": missing,
                          "backend": "lib.methods.panel.fe_ols"})

    # pre-trend test: all leads except the reference
    pre = [n for n, e in zip(names, present) if e < 0]
    b, V = params[pre].to_numpy(), cov.loc[pre, pre].to_numpy()
    wald = float(b @ np.linalg.solve(V, b))
    q = len(pre)
    d2 = float(fit.dof_resid)
    F = wald / q
    pretrend = {"statistic": F, "df": (q, d2), "p": float(stats.f.sf(F, q, d2)),
                "kind": f"Wald test that the {q} pre-period coefficients are 0, F({q}, {d2:g})",
                "wald": wald, "p_chi2": float(stats.chi2.sf(wald, q)), "terms": pre}

    # pointwise and sup-t critical values
    dof = fit.dof_resid
    alpha = 1 - level
    c_pt = float(stats.t.ppf(1 - alpha / 2, dof))
    ev = cov.loc[names, names].to_numpy()
    sd = np.sqrt(np.diag(ev))
    c_sup = _sup_t_critical(ev / np.outer(sd, sd), level, float(dof), int(band_draws), int(seed))
    est = pd.DataFrame(index=pd.Index([e for e in periods if e == ref or e in present],
                                      name="event_time"))
    est["estimate"] = 0.0
    est["std_error"] = np.nan
    for n, e in zip(names, present):
        est.loc[e, "estimate"] = params[n]
        est.loc[e, "std_error"] = se[n]
    est["t"] = est["estimate"] / est["std_error"]
    est["p"] = 2 * stats.t.sf(est["t"].abs(), dof)
    s0 = est["std_error"].fillna(0.0)
    est["ci_lower"], est["ci_upper"] = est["estimate"] - c_pt * s0, est["estimate"] + c_pt * s0
    est["band_lower"], est["band_upper"] = est["estimate"] - c_sup * s0, est["estimate"] + c_sup * s0
    counts = pd.Series(et).value_counts()
    est["n_treated"] = [int(counts.get(float(e), 0)) for e in est.index]
    est["binned"] = [bool(bin_endpoints and e in window) for e in est.index]
    sample = pd.DataFrame({"unit": unit, "period": time,
                           "adoption_year": frame["_g"].to_numpy(dtype=float),
                           "event_time": et})
    return EventStudyResult(estimates=est, pretrend_test=pretrend, regression=reg, nobs=int(N),
                            sup_t_critical=c_sup, pointwise_critical=c_pt, sample=sample,
                            spec=spec)


# ==================================================================== placebo
def placebo_assignments(adoption: pd.Series, n_draws: int, *, seed: int) -> np.ndarray:
    """Random pseudo-treatments: ``(n_draws, n_units)`` adoption years, NaN = untreated.

    Each draw picks as many units as ``adoption`` has treated ones, uniformly
    without replacement, and gives them the real adoption years in a random
    order (the real batch sizes are kept). ``adoption`` is indexed by unit
    (the column order of the result); NaN marks never-treated units.
    """
    g = pd.to_numeric(adoption, errors="coerce").to_numpy(dtype=float)
    years = g[np.isfinite(g)]
    n_units, k = g.size, years.size
    if k == 0 or k == n_units:
        raise ValueError(f"placebo_assignments: {k} of {n_units} units are treated; a placebo "
                         "needs both treated and untreated units")
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    rng = np.random.default_rng(seed)
    # a uniform permutation of the real vector (years and NaNs) is a uniform k-subset of
    # units with the real years in uniform random order: exactly the placebo design
    out = rng.permuted(np.broadcast_to(g, (n_draws, n_units)), axis=1)
    return out


def ri_pvalue(placebo: np.ndarray, actual: float) -> float:
    """Randomization-inference p-value ``(1 + #{|placebo| >= |actual|}) / (B + 1)``.

    The observed assignment is one of the ``B + 1`` equally likely draws under
    the sharp null, so the p-value is never below ``1 / (B + 1)``
    (Young 2019). NaN draws count as not as large.
    """
    placebo = np.asarray(placebo, dtype=float)
    k = int(np.sum(np.abs(placebo) >= abs(float(actual))))
    return float((1 + k) / (placebo.size + 1))


@dataclass(frozen=True)
class PlaceboResult:
    """Randomization-inference placebo test of the TWFE DID.

    Attributes
    ----------
    coefficients, std_errors, tstats, pvalues : numpy.ndarray
        One value per draw: the pseudo-treatment's coefficient, its CRV1
        s.e., t and two-sided p (``t`` with ``G-1`` df).
    actual : RegressionResult
        The estimate with the real assignment (:func:`twfe`).
    ri_pvalue : float
        ``(1 + #{|placebo coefficient| >= |actual|}) / (B + 1)``: the observed
        assignment counts as one of the ``B + 1`` draws, so the p-value is at
        least ``1 / (B + 1)`` and exact under the sharp null (Young 2019).
    ri_pvalue_t : float
        The same with ``|t|`` (studentised randomization inference).
    assignments : numpy.ndarray
        The ``(n_draws, n_units)`` adoption years used (NaN = untreated).
    units : numpy.ndarray
        Unit ids: the column order of ``assignments``.
    nobs : int
    spec : dict
    """

    coefficients: np.ndarray
    std_errors: np.ndarray
    tstats: np.ndarray
    pvalues: np.ndarray
    actual: RegressionResult
    ri_pvalue: float
    ri_pvalue_t: float
    assignments: np.ndarray = field(repr=False)
    units: np.ndarray = field(repr=False)
    nobs: int = 0
    spec: dict = field(default_factory=dict)

    @property
    def n_draws(self) -> int:
        return int(self.coefficients.size)

    @property
    def actual_estimate(self) -> float:
        return float(self.actual.params[self.spec["dname"]])

    def tidy(self) -> pd.DataFrame:
        """One row per draw: coefficient, std_error, t, p."""
        out = pd.DataFrame({"coefficient": self.coefficients, "std_error": self.std_errors,
                            "t": self.tstats, "p": self.pvalues})
        out.index.name = "draw"
        return out

    def summary_frame(self) -> pd.DataFrame:
        """Summary of the placebo distribution beside the actual estimate."""
        c = self.coefficients
        rows = {
            "actual estimate": self.actual_estimate,
            "placebo mean": float(c.mean()),
            "placebo s.d.": float(c.std(ddof=1)) if c.size > 1 else np.nan,
            "placebo 2.5% quantile": float(np.quantile(c, 0.025)),
            "placebo 97.5% quantile": float(np.quantile(c, 0.975)),
            "share of placebo p < 0.05": float((self.pvalues < 0.05).mean()),
            "RI p-value (|coefficient|)": self.ri_pvalue,
            "RI p-value (|t|)": self.ri_pvalue_t,
            "draws": float(self.n_draws),
        }
        return pd.DataFrame({"value": rows}).rename_axis("quantity")

    def table(self, title: str | None = "Placebo test: randomization inference"):
        from lib.present import tables

        return tables.frame_table(self.summary_frame(), title=title, notes=[
            f"{self.n_draws:,} random pseudo-treatments (the real number of pilot cities and "
            f"their real adoption years, reassigned); {self.actual.vcov}; N = {self.nobs:,}."])

    def plot(self, ax: Any = None, *, truth: float | None = None, p_line: float = 0.10) -> Any:
        """Kernel density of the placebo coefficients (left axis) and their p-values (right).

        The actual estimate is a vertical line; ``truth`` (optional) a dotted
        one; the randomization-inference p-value is printed.
        """
        from scipy.stats import gaussian_kde

        from lib.present.figures import MARKERS, PALETTE, new_axes

        fig, ax = new_axes(ax)
        c = self.coefficients
        actual = self.actual_estimate
        lo = min(c.min(), actual, truth if truth is not None else actual)
        hi = max(c.max(), actual, truth if truth is not None else actual)
        pad = 0.08 * (hi - lo)
        grid = np.linspace(lo - pad, hi + pad, 400)
        dens = gaussian_kde(c)(grid)
        ax.plot(grid, dens, color=PALETTE["placebo"], lw=1.8,
                label="placebo coefficients (kernel density)")
        # headroom above the curves for the legend
        ax.set_ylim(0, 1.55 * dens.max())
        ax.set_xlabel(f"Coefficient on the pseudo-treatment ({self.spec['dname']})")
        ax.set_ylabel("Density")
        ax.axvline(actual, color=PALETTE["book"], lw=1.6,
                   label=f"book: actual estimate ({actual:.4f})")
        if truth is not None:
            ax.axvline(truth, color=PALETTE["truth"], lw=1.2, ls=":", label=f"truth ({truth:.4f})")
        ax2 = ax.twinx()
        ax2.scatter(c, self.pvalues, s=8, marker=MARKERS["book"], facecolors="none",
                    edgecolors=PALETTE["reference"], linewidths=0.6, alpha=0.7,
                    label="placebo p-values (right axis)")
        ax2.axhline(p_line, color=PALETTE["reference"], lw=0.9, ls="--")
        ax2.set_ylim(0, 1.55)
        ax2.set_yticks(np.linspace(0, 1, 6))
        ax2.set_ylabel("p-value")
        ax2.grid(False)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        # the RI p-value goes in the legend title: a free-floating box would collide with the
        # actual-estimate line, which can sit anywhere on the axis
        side = "upper left" if actual > np.median(c) else "upper right"  # away from the line
        ax.legend(h1 + h2, l1 + l2, loc=side, fontsize=8, title_fontsize=9,
                  title=self.ri_text(), framealpha=0.95)
        return fig

    @property
    def n_as_large(self) -> int:
        """Number of placebo draws with ``|coefficient| >= |actual|``."""
        return int(round(self.ri_pvalue * (self.n_draws + 1))) - 1

    def ri_text(self) -> str:
        """``"RI p-value = 0.013 (12 of 1,000 draws as large)"``."""
        k = self.n_as_large
        return f"RI p-value = {self.ri_pvalue:.3f} ({k:,} of {self.n_draws:,} draws as large)"


def _twfe_engine(data: pd.DataFrame, *, yname: str, dname: str, idname: str, tname: str,
                 controls: Sequence[str], vcov) -> tuple[RegressionResult, pd.DataFrame]:
    """:func:`twfe` on the :mod:`lib.methods.panel` engine (same sample, K and s.e. to 1e-10).

    Returns the result and the estimation frame sorted by unit and period;
    linearmodels would cost more than all the placebo draws together.
    """
    kind, ccol = _parse_vcov(vcov)
    needed = [yname, dname, *controls, idname, tname] + ([ccol] if ccol else [])
    frame, drop_reasons = estimation_frame(data, needed, idname=idname, tname=tname, fn="placebo_test")
    regressors = [dname, *controls]
    for c in regressors:
        if frame[c].nunique() < 2:
            raise ValueError(f"placebo_test: regressor {c!r} is constant in the estimation "
                             f"sample ({len(frame)} rows)")
    frame = frame.sort_values([idname, tname])
    cl = frame[ccol].to_numpy() if kind == "CRV1" else None
    fit = panel.fe_ols(frame[yname].to_numpy(dtype=float), frame[regressors].to_numpy(dtype=float),
                       frame[idname].to_numpy(), frame[tname].to_numpy(), cl, vcov=kind)
    vtext = (f"CRV1 by {ccol} ({fit.n_clusters} clusters)" if kind == "CRV1" else
             "HC1 (heteroskedasticity-robust)" if kind == "hetero" else "iid")
    spec = dict(estimator="twfe", yname=yname, dname=dname, idname=idname, tname=tname,
                controls=tuple(controls), vcov=dict(vcov) if isinstance(vcov, dict) else vcov,
                sample=None, k_fixef="nonnested", drop_singletons=True)
    res = RegressionResult(
        params=pd.Series(fit.params, index=regressors, name="estimate"),
        std_errors=pd.Series(fit.std_errors, index=regressors, name="std_error"),
        cov=pd.DataFrame(fit.cov, index=regressors, columns=regressors),
        nobs=int(fit.nobs), dof_resid=fit.dof_resid, r2=float(fit.r2_within), r2_kind="within",
        fixed_effects=(idname.removesuffix("_id"), tname.removesuffix("_id")),
        controls=bool(controls), vcov=vtext, n_dropped=int(len(data) - len(frame)),
        drop_reasons=drop_reasons, spec=spec,
        extra={"n_clusters": fit.n_clusters, "dof_k": int(fit.dof_k),
               "entities": int(frame[idname].nunique()), "periods": int(frame[tname].nunique()),
               "backend": "lib.methods.panel.fe_ols"})
    return res, frame


def _orth_basis(Z: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of ``Z`` (rank-revealing, via SVD)."""
    if Z.shape[1] == 0:
        return Z
    U, sv, _ = np.linalg.svd(Z, full_matrices=False)
    keep = sv > sv.max() * max(Z.shape) * np.finfo(float).eps * 10
    return U[:, keep]


# Cells (rows x draws) of one block of placebo_fwl's pseudo-treatments: 2 MB of doubles an array.
PLACEBO_BLOCK_CELLS = 1 << 18


def placebo_fwl(y, assignments, controls, unit_codes, time, cluster=None, *,
                vcov: Literal["CRV1", "hetero", "iid"] = "CRV1", dof_k: int | None = None):
    r"""All placebo regressions of :func:`placebo_test` in one Frisch-Waugh-Lovell pass.

    For pseudo-treatments :math:`D_{\cdot b} = 1\{t \ge \tilde G_{b, i}\}`,

    .. math::

        \hat\beta_b = \frac{\tilde D_b'\tilde y}{\tilde D_b'\tilde D_b},\qquad
        \tilde a = M_u a - Q Q' M_u a,

    where :math:`M_u` removes unit means and :math:`Q` is an orthonormal basis
    of the unit-demeaned year dummies and controls (so :math:`\tilde a` is
    :math:`a` residualised on both effects and the controls). :math:`y` and
    the controls are treated once; the :math:`B` pseudo-treatments together
    cost two matrix products with the :math:`n \times (T - 1 + p)` basis (per block of
    draws: :data:`PLACEBO_BLOCK_CELLS`).
    CRV1 variance, as in :func:`lib.methods.panel.fe_ols_treatments`:

    .. math::

        \hat V_b = \frac{G}{G-1}\frac{N-1}{N-K}
        \frac{\sum_g\big(\sum_{i \in g}\tilde D_{ib}\hat u_{ib}\big)^2}{(\tilde D_b'\tilde D_b)^2},
        \qquad \hat u_b = \tilde y - \hat\beta_b\tilde D_b .

    Parameters
    ----------
    y : array, shape (n,)
    assignments : array, shape (B, n_units)
        Adoption years per draw and unit (NaN = untreated).
    controls : array, shape (n, p) or None
    unit_codes : int array, shape (n,)
        Column of ``assignments`` of each row (``0..n_units-1``).
    time : array, shape (n,)
        Period of each row (numeric, comparable with the adoption years).
    cluster : array, shape (n,), optional
    vcov : {"CRV1", "hetero", "iid"}
    dof_k : int, optional
        ``K`` of the small-sample factor (default :func:`lib.methods.panel.fe_dof_k`
        with ``1 + p`` slopes, reghdfe's convention).

    Returns
    -------
    lib.methods.panel.TreatmentsFit
        ``coef`` and ``std_error`` per draw.
    """
    from scipy import sparse

    yv = np.asarray(y, dtype=float).reshape(-1)
    n = yv.size
    A = np.asarray(assignments, dtype=float)
    uc = np.asarray(unit_codes, dtype=np.intp)
    tv = np.asarray(time, dtype=float)
    Wm = np.zeros((n, 0)) if controls is None else np.asarray(controls, dtype=float).reshape(n, -1)
    p = Wm.shape[1]
    if vcov == "CRV1" and cluster is None:
        raise ValueError("placebo_fwl: vcov='CRV1' needs cluster labels")
    # rows ordered by (unit, period): contiguous units, sorted periods within each
    order = np.lexsort((tv, uc))
    uc, tv, yv, Wm = uc[order], tv[order], yv[order], Wm[order]
    starts = np.flatnonzero(np.r_[True, uc[1:] != uc[:-1]])
    counts = np.diff(np.r_[starts, n])

    def unit_demean(M: np.ndarray) -> np.ndarray:
        return M - np.repeat(np.add.reduceat(M, starts, axis=0) / counts[:, None], counts, axis=0)

    tcode, tlev = panel.codes(tv)
    Tm = np.zeros((n, tlev))
    Tm[np.arange(n), tcode] = 1.0
    QT = _orth_basis(unit_demean(Tm[:, 1:]))
    yw = unit_demean(np.column_stack([yv, Wm]))
    yw -= QT @ (QT.T @ yw)
    QW = _orth_basis(yw[:, 1:])
    Q = np.column_stack([QT, QW])
    yt = yw[:, 0] - QW @ (QW.T @ yw[:, 0])
    # Pseudo-treatments, unit-demeaned in one pass: unit u's mean of 1{t >= g} is the share
    # of its observed periods at or after g, read from a (unit, period level) table of those
    # counts at the first level >= g (NaN, never treated, sorts past the last level: 0)
    # instead of a reduction over the n x B matrix.
    AT = np.ascontiguousarray(A.T)
    if uc.min() < 0 or uc.max() >= AT.shape[0]:
        raise ValueError(f"placebo_fwl: unit codes must lie in 0..{AT.shape[0] - 1} (one "
                         f"column of assignments per unit); got {uc.min()}..{uc.max()}")
    levels = np.unique(tv)
    width = levels.size + 1
    unit_row = np.repeat(np.arange(starts.size), counts)
    at_level = np.bincount(unit_row * width + np.searchsorted(levels, tv),
                           minlength=starts.size * width).reshape(starts.size, width)
    at_or_after = np.cumsum(at_level[:, ::-1], axis=1)[:, ::-1]
    first = np.searchsorted(levels, AT[uc[starts]])          # (units, B)
    share = np.take_along_axis(at_or_after, first, axis=1) / counts[:, None]
    if dof_k is None:
        dof_k = panel.fe_dof_k(1 + p, uc, tv, None if cluster is None or vcov != "CRV1"
                               else np.asarray(cluster)[order])
    if vcov == "CRV1":
        cc, G = panel.codes(np.asarray(cluster)[order])
        # a sparse indicator product beats np.add.reduceat on a wide matrix by ~10x
        C = sparse.csr_matrix((np.ones(n), (cc, np.arange(n))), shape=(G, n))
        dof_resid = G - 1
    else:
        G, dof_resid = None, n - dof_k
    B = AT.shape[1]
    beta, dd, var = np.empty(B), np.empty(B), np.empty(B)
    # The draws in blocks of about PLACEBO_BLOCK_CELLS cells: every pass below is memory-bound,
    # and a block's few n x block arrays stay in the last-level cache where the whole n x B
    # matrix (26 MB for the book's 1,000 draws) does not (46 -> 36 ms for those draws).
    step = max(1, min(B, PLACEBO_BLOCK_CELLS // max(n, 1)))
    absorbed = []
    for j0 in range(0, B, step):
        j = slice(j0, min(j0 + step, B))
        # NaN >= t is False, so untreated units get zeros
        D = np.subtract(tv[:, None] >= AT[uc, j], np.repeat(share[:, j], counts, axis=0))
        D -= Q @ (Q.T @ D)
        dd[j] = np.einsum("ij,ij->j", D, D)
        if np.any(dd[j] <= 1e-12 * n):   # named after the loop, all blocks' together
            absorbed.extend((j0 + np.flatnonzero(dd[j] <= 1e-12 * n)).tolist())
            continue
        beta[j] = (yt @ D) / dd[j]
        if vcov == "iid":
            continue
        # scores d_i * u_i with u = yt - beta * d
        DU = D * yt[:, None]
        D *= D
        D *= beta[None, j]
        DU -= D
        if vcov == "CRV1":
            S = np.asarray(C @ DU)
            var[j] = np.einsum("gj,gj->j", S, S)
        else:
            var[j] = np.einsum("ij,ij->j", DU, DU)
    if absorbed:
        raise ValueError(f"placebo_fwl: the pseudo-treatments of draws {absorbed[:10]} are "
                         "absorbed by the fixed effects and controls (no within variation)")
    if vcov == "CRV1":
        var *= G / (G - 1) * (n - 1) / (n - dof_k) / dd**2
    elif vcov == "hetero":
        var *= n / (n - dof_k) / dd**2
    else:
        ssr = (yt @ yt) - beta**2 * dd
        var = ssr / (n - dof_k) / dd
    return panel.TreatmentsFit(beta, np.sqrt(var), n, int(dof_k), G, dof_resid)


def placebo_test(
    data: pd.DataFrame,
    *,
    yname: str,
    dname: str,
    idname: str,
    tname: str,
    gname: str,
    controls: Sequence[str] = (),
    n_draws: int = 1000,
    seed: int = 20241123,
    assignments=None,
    vcov: dict[str, str] | str,
) -> PlaceboResult:
    r"""Random pseudo-treatment placebo test (the paper's Fig. 2, section 4.3.1).

    Draw :math:`b = 1, \dots, B` (``n_draws``) assigns the real number of
    pilot units at random and gives them the real adoption years in random
    order (:func:`placebo_assignments`); the pseudo-treatment is
    :math:`\tilde D^{(b)}_{it} = 1\{t \ge \tilde G^{(b)}_i\}` and the baseline
    TWFE regression (:func:`twfe`, eq. 7) is re-estimated with it:

    .. math::

        y_{it} = \beta^{(b)} \tilde D^{(b)}_{it} + X_{it}'\gamma^{(b)} + \mu_i + \nu_t
                 + \varepsilon_{it}.

    All draws are computed in one pass by Frisch-Waugh-Lovell
    (:func:`lib.methods.panel.fe_ols_treatments`): with :math:`M` the annihilator of
    the two-way effects and the controls, :math:`\hat\beta^{(b)} =
    (M\tilde D^{(b)})'My / \|M\tilde D^{(b)}\|^2`; :math:`y` and :math:`X` are
    demeaned once, the :math:`B` pseudo-treatments together. The CRV1 s.e. of
    each draw uses the same small-sample factor as :func:`twfe` (equal to
    per-draw linearmodels fits to 1e-10; ``tests/test_placebo.py``).

    The randomization-inference p-value (Fisher's sharp null of no effect
    for any unit, with the real timing reassigned at random) is

    .. math::

        p_{RI} = \frac{1 + \sum_b 1\{|\hat\beta^{(b)}| \ge |\hat\beta|\}}{B + 1}

    (the observed assignment counts as one of the :math:`B + 1` draws, so
    :math:`p_{RI} \ge 1/(B+1)`; :func:`ri_pvalue`).

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel.
    yname, dname : str
        Outcome and real treatment dummy (for the actual estimate).
    idname, tname : str
    gname : str
        Adoption year per unit (NaN = never treated): the real timing whose
        years are reassigned.
    controls : sequence of str
    n_draws : int
        Number of random draws (ignored when ``assignments`` is given).
    seed : int
        Seed of ``numpy.random.default_rng``.
    assignments : array or DataFrame, optional
        A reader-supplied ``(n_draws, n_units)`` matrix of adoption years
        (NaN = untreated), e.g. another program's permutations. A DataFrame
        names its columns by unit id; an array's columns are the sorted unit
        ids of the estimation sample (``result.units``).
    vcov : {"CRV1": column} or "hetero" or "iid"

    Returns
    -------
    PlaceboResult

    Raises
    ------
    KeyError
        A named column is missing, or ``assignments`` lacks a unit of the sample.
    ValueError
        ``gname`` varies within a unit; ``assignments`` has the wrong shape;
        a pseudo-treatment is absorbed by the fixed effects.

    Notes
    -----
    What the test can show: whether an estimate as large as the actual one
    is unusual when the same timing is given to random cities -- evidence
    against the sharp null. It is not a test of parallel trends: a
    differential trend of the real pilots is not reproduced by random
    pilots, so it shows up as a "significant" actual estimate.

    Examples
    --------
    >>> pl = placebo_test(panel, yname="Inno", controls=CONTROLS, n_draws=1000,
    ...                   seed=1, vcov={"CRV1": "city_id"})       # doctest: +SKIP
    >>> pl.ri_pvalue                                              # doctest: +SKIP
    """
    controls = list(controls)
    kind, ccol = _parse_vcov(vcov)
    needed = [yname, dname, *controls, idname, tname] + ([ccol] if ccol else [])
    _check_columns(data, [*needed, gname], "placebo_test")
    g_all = pd.to_numeric(data[gname], errors="coerce")
    g_unit = g_all.groupby(data[idname]).agg(["min", "max"])
    varies = ~((g_unit["min"] == g_unit["max"]) | (g_unit["min"].isna() & g_unit["max"].isna()))
    if varies.any():
        raise ValueError(f"placebo_test: {gname!r} varies within {int(varies.sum())} units "
                         f"(e.g. {idname} {list(varies[varies].index[:5])}); it must be constant.")
    actual, frame = _twfe_engine(data, yname=yname, dname=dname, idname=idname, tname=tname,
                                 controls=controls, vcov=vcov)
    units = np.sort(frame[idname].unique())
    adoption = g_unit["min"].reindex(units)
    # pilots whose adoption falls after the sample never switch on: not real pilots here
    adoption = adoption.where(adoption <= frame[tname].max())
    if assignments is None:
        A = placebo_assignments(adoption, int(n_draws), seed=seed)
        source = f"random, seed {seed}"
    else:
        if isinstance(assignments, pd.DataFrame):
            miss = [u for u in units if u not in assignments.columns]
            if miss:
                raise KeyError(f"placebo_test: assignments has no column for {len(miss)} units "
                               f"of the sample, e.g. {miss[:5]}")
            A = assignments[list(units)].to_numpy(dtype=float)
        else:
            A = np.asarray(assignments, dtype=float)
            if A.ndim != 2 or A.shape[1] != units.size:
                raise ValueError(f"placebo_test: assignments must be (n_draws, {units.size}) "
                                 f"(one column per unit of the estimation sample, sorted by "
                                 f"{idname}); got shape {A.shape}")
        source = "reader-supplied"
    ucode = np.searchsorted(units, frame[idname].to_numpy())
    W = frame[controls].to_numpy(dtype=float) if controls else None
    cl = frame[ccol].to_numpy() if kind == "CRV1" else None
    fit = placebo_fwl(frame[yname].to_numpy(dtype=float), A, W, ucode,
                      frame[tname].to_numpy(), cl, vcov=kind, dof_k=actual.extra["dof_k"])
    tst = fit.coef / fit.std_error
    from scipy import stats

    pv = 2 * stats.t.sf(np.abs(tst), fit.dof_resid)
    b0 = float(actual.params[dname])
    t0 = float(actual.tstats[dname])
    spec = dict(estimator="placebo_test", yname=yname, dname=dname, idname=idname, tname=tname,
                gname=gname, controls=tuple(controls), n_draws=int(A.shape[0]), seed=seed,
                assignments=source, vcov=dict(vcov) if isinstance(vcov, dict) else vcov,
                n_treated_units=int(np.isfinite(adoption.to_numpy()).sum()))
    return PlaceboResult(
        coefficients=fit.coef, std_errors=fit.std_error, tstats=tst, pvalues=pv, actual=actual,
        ri_pvalue=ri_pvalue(fit.coef, b0),
        ri_pvalue_t=ri_pvalue(tst, t0),
        assignments=A, units=units, nobs=int(fit.nobs), spec=spec)
