r"""Difference-in-differences estimators (the paper's section 3.3 and 3.1.3).

* :func:`twfe` -- the staggered two-way fixed-effects DID of eq. (7),
  estimated with linearmodels ``PanelOLS`` (Table 4);
* :func:`selection_logit` -- the pooled panel logit (or probit) of pilot
  designation on the city antecedents (section 3.1.3).

Both return :class:`lib.results.RegressionResult`. The numerics that later
methods reuse (within transformation, CRV1, a vectorised FE engine) live in
:mod:`lib.panel`; ``METHODS.md`` is the registry of conventions and
tolerances.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from lib import panel
from lib.results import RegressionResult

__all__ = ["twfe", "selection_logit", "VALID_VCOV"]

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
    idname: str = "city_id",
    tname: str = "year",
    controls: Sequence[str] = (),
    vcov: dict[str, str] | str = {"CRV1": "city_id"},  # noqa: B006 (read-only)
    sample=None,
    k_fixef: Literal["nonnested", "full", "none"] = "nonnested",
    drop_singletons: bool = True,
) -> RegressionResult:
    r"""Staggered two-way fixed-effects DID (the paper's eq. 7, Table 4).

    The model as implemented:

    .. math::

        Inno_{it} = \alpha_1\,CBEC_{it} + X_{it}'\alpha_2 + \mu_i + \nu_t + \varepsilon_{it},

    with :math:`CBEC_{it} = Treat_i \times Post_{it}` switching on in city
    :math:`i`'s pilot year, city effects :math:`\mu_i` and year effects
    :math:`\nu_t` absorbed by the two-way within transformation (the paper's
    :math:`\alpha_0` is not separately identified), estimated by
    ``linearmodels.PanelOLS(entity_effects=True, time_effects=True)``.

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
    ratio of the two variances is :math:`(N-k-E-T+1)/(N-k-T)`, about 0.91
    (s.e. 4.6 % smaller under ``"nonnested"``) for the paper's
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
        Fixed-effect parameters counted in ``K``; see :func:`lib.panel.fe_dof_k`.
    drop_singletons : bool
        Drop units (or years) with a single complete observation, iteratively,
        as reghdfe and pyfixest do; they carry no within variation but would
        inflate ``N``.

    Returns
    -------
    RegressionResult
        ``params`` / ``std_errors`` / ``cov`` for ``dname`` then ``controls``;
        ``r2`` is the within R² :math:`1-\sum\hat\varepsilon^2/\sum\ddot y^2`
        (two-way demeaned, as reghdfe's "Within R-sq." and pyfixest's
        ``r2_within``; linearmodels' ``rsquared``); ``extra`` holds
        ``n_clusters``, ``entities``, ``periods``, ``dof_k``,
        ``r2_overall`` (linearmodels ``rsquared_overall``), ``r2_inclusive``
        (R² with the effects, Stata's "R-squared", comparable to the paper's
        Table 4 row), ``r2_within_entity`` (linearmodels ``rsquared_within``,
        which removes the entity effect only) and ``n_excluded_by_sample``.

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
    heterogeneity-robust estimators are in :mod:`lib.staggered`.

    Examples
    --------
    >>> res = twfe(panel, yname="Inno", dname="CBEC", controls=CONTROLS,
    ...            vcov={"CRV1": "city_id"})                      # doctest: +SKIP
    >>> res.coef("CBEC")                                          # doctest: +SKIP
    """
    from linearmodels import PanelOLS
    from linearmodels.panel.utility import AbsorbingEffectError

    controls = list(controls)
    kind, ccol = _parse_vcov(vcov)
    if k_fixef not in ("nonnested", "full", "none"):
        raise ValueError(f"k_fixef must be 'nonnested', 'full' or 'none', got {k_fixef!r}")
    needed = [yname, dname, *controls, idname, tname] + ([ccol] if ccol else [])
    _check_columns(data, needed, "twfe")
    if dname in controls or yname in [dname, *controls]:
        raise ValueError("twfe: yname, dname and controls must be distinct columns")

    sub, n_excl = _apply_sample(data, sample)
    frame, drop_reasons = _model_frame(sub, needed)
    n_singleton = 0
    if drop_singletons:
        frame, n_singleton = _drop_singletons(frame, idname, tname)
        if n_singleton:
            drop_reasons[f"singleton {idname} or {tname}"] = n_singleton
    n_dropped = len(sub) - len(frame)
    if frame.empty:
        raise ValueError(f"twfe: no complete rows left; dropped {drop_reasons}")
    dup = frame.duplicated([idname, tname])
    if dup.any():
        raise ValueError(
            f"twfe: {int(dup.sum())} duplicate ({idname}, {tname}) rows; "
            "the panel must have one row per city and year.")
    regressors = [dname, *controls]
    for c in regressors:
        if frame[c].nunique() < 2:
            raise ValueError(f"twfe: regressor {c!r} is constant in the estimation sample "
                             f"({len(frame)} rows); drop it or change the sample.")

    frame = frame.sort_values([idname, tname])
    pdata = frame.set_index([idname, tname])
    y = pdata[yname].astype(float)
    X = pdata[regressors].astype(float)
    N, k = X.shape
    E = pdata.index.get_level_values(0).nunique()
    T = pdata.index.get_level_values(1).nunique()

    model = PanelOLS(y, X, entity_effects=True, time_effects=True)
    fit_kw: dict[str, Any] = dict(debiased=True, auto_df=False, count_effects=True)
    if kind == "CRV1":
        fit_kw.update(cov_type="clustered", group_debias=True)
        if ccol == idname:
            fit_kw["cluster_entity"] = True
        elif ccol == tname:
            fit_kw["cluster_time"] = True
        else:
            fit_kw["clusters"] = pdata[[ccol]].apply(lambda s: pd.factorize(s)[0])
    elif kind == "hetero":
        fit_kw["cov_type"] = "robust"
    else:
        fit_kw["cov_type"] = "unadjusted"
    try:
        res = model.fit(**fit_kw)
    except AbsorbingEffectError as err:
        raise ValueError(
            f"twfe: {dname!r} or a control is absorbed by the city and year effects "
            f"(no within variation): {err}") from err

    # linearmodels (count_effects=True) uses K_lm = k + E + (T - 1); rescale to our K.
    k_lm = k + E + T - 1
    cluster_vals = frame[ccol].to_numpy() if kind == "CRV1" else None
    ids = pdata.index.get_level_values(0).to_numpy()
    yrs = pdata.index.get_level_values(1).to_numpy()
    dof_k = panel.fe_dof_k(k, ids, yrs, cluster_vals,
                           k_fixef=k_fixef if kind == "CRV1" else ("none" if k_fixef == "none" else "full"))
    factor = (N - k_lm) / (N - dof_k)
    cov = res.cov * factor
    se = pd.Series(np.sqrt(np.diag(cov)), index=regressors, name="std_error")

    if kind == "CRV1":
        G = int(pd.Series(cluster_vals).nunique())
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
                drop_singletons=drop_singletons)
    extra = {
        "n_clusters": G,
        "entities": int(E),
        "periods": int(T),
        "dof_k": int(dof_k),
        "ssc_factor": (G / (G - 1) if G else 1.0) * ((N - 1) if kind == "CRV1" else N) / (N - dof_k),
        "r2_overall": float(res.rsquared_overall),
        "r2_inclusive": float(res.rsquared_inclusive),
        "r2_within_entity": float(res.rsquared_within),
        "n_excluded_by_sample": int(n_excl),
        "backend": "linearmodels.PanelOLS",
    }
    return RegressionResult(
        params=res.params.rename("estimate").reindex(regressors),
        std_errors=se,
        cov=cov.loc[regressors, regressors],
        nobs=int(N),
        dof_resid=dof_resid,
        r2=float(res.rsquared),
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
    treated: str = "treated",
    covariates: Sequence[str],
    idname: str = "city_id",
    tname: str = "year",
    period: Any = None,
    kind: Literal["logit", "probit"] = "logit",
    vcov: dict[str, str] | str = {"CRV1": "city_id"},  # noqa: B006 (read-only)
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
    idname, tname : str
        City and year identifiers.
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
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

    covariates = list(covariates)
    if not covariates:
        raise ValueError("selection_logit: give at least one covariate")
    if kind not in ("logit", "probit"):
        raise ValueError(f"kind must be 'logit' or 'probit', got {kind!r}")
    vkind, ccol = _parse_vcov(vcov)
    needed = [treated, *covariates, idname, tname] + ([ccol] if ccol else [])
    _check_columns(data, needed, "selection_logit")

    sub = data
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
    Xc = sm.add_constant(X, has_constant="add")
    Model = sm.Logit if kind == "logit" else sm.Probit
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
