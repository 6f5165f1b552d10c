r"""Composite indices built from several indicators.

* :func:`producer_service_agglomeration`: the main paper's eq. (11), a location
  quotient of producer-service employment (the mechanisms chapter's ``Spec``);
* :func:`min_max_standardise`, :func:`entropy_weights`, :func:`entropy_index`:
  the companion paper's entropy-weight digital-trade index.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["producer_service_agglomeration", "min_max_standardise", "entropy_weights", "entropy_index",
           "EntropyIndex"]


def producer_service_agglomeration(
    employment: pd.DataFrame,
    total: pd.DataFrame,
    *,
    unit: str = "city_id",
    time: str = "year",
    sector: str = "sector",
    value: str = "employment",
    total_value: str = "total_employment",
    sectors: Sequence[str] | None = None,
    name: str = "Spec",
) -> pd.Series:
    r"""Producer-service agglomeration index (location quotient), eq. (11).

    Parameters
    ----------
    employment : pandas.DataFrame
        Long table, one row per unit, time and sector, with columns ``unit``,
        ``time``, ``sector`` and ``value`` (employment in the sector).
    total : pandas.DataFrame
        One row per unit and time with columns ``unit``, ``time`` and
        ``total_value`` (employment across all industries, :math:`S_{it}`).
        Extra columns are ignored, so the city panel itself can be passed.
    unit, time, sector, value, total_value : str, keyword-only
        Column names.
    sectors : sequence of str, optional
        The producer-service sectors :math:`j = 1..J` to sum; default all
        sectors present in ``employment``.
    name : str, default ``"Spec"``
        Name of the returned Series.

    Returns
    -------
    pandas.Series
        The index, indexed by ``(unit, time)``, sorted. Only unit-years present
        in *both* tables are scored, and the national benchmark of a year sums
        over exactly those units.

    Notes
    -----
    With :math:`S_{ijt}` the employment of city :math:`i` in producer-service
    sector :math:`j` in year :math:`t` and :math:`S_{it}` its total
    employment,

    .. math::

        \mathrm{spec}_{it} = \frac{\sum_{j=1}^{J} S_{ijt} \big/
        \sum_{i=1}^{N}\sum_{j=1}^{J} S_{ijt}}{S_{it} \big/ \sum_{i=1}^{N} S_{it}},

    i.e. the city's share of the sample's producer-service employment divided
    by its share of the sample's total employment (a location quotient; the
    employment-weighted mean of the index is 1 in every year). Sums over
    :math:`i` run within year :math:`t` over the units scored that year.

    Raises
    ------
    ValueError
        If a required column is absent, or employment or totals contain
        missing or negative values (the message counts the rows), or a total is
        zero.

    Examples
    --------
    >>> emp = pd.DataFrame({"city_id": [1, 1, 2], "year": 2020,
    ...                     "sector": ["fin", "it", "fin"],
    ...                     "employment": [2.0, 2.0, 1.0]})
    >>> tot = pd.DataFrame({"city_id": [1, 2], "year": 2020,
    ...                     "total_employment": [10.0, 10.0]})
    >>> producer_service_agglomeration(emp, tot).round(4).tolist()
    [1.6, 0.4]
    """
    for frame, cols, label in ((employment, (unit, time, sector, value), "employment"),
                               (total, (unit, time, total_value), "total")):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"`{label}` lacks column(s) {missing}; pass the column "
                             "names with unit=, time=, sector=, value=, total_value=.")
    emp = employment[[unit, time, sector, value]]
    if sectors is not None:
        emp = emp[emp[sector].isin(list(sectors))]
    tot = total[[unit, time, total_value]]
    for frame, col in ((emp, value), (tot, total_value)):
        bad = frame[col].isna() | (frame[col] < 0)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} rows of `{col}` are missing or negative; "
                             "drop those unit-years (the index is not defined for them).")
    if (tot[total_value] == 0).any():
        raise ValueError(f"{int((tot[total_value] == 0).sum())} rows of `{total_value}` are "
                         "zero; a location quotient needs positive total employment.")
    if tot.duplicated([unit, time]).any():
        raise ValueError(f"`total` has {int(tot.duplicated([unit, time]).sum())} duplicated "
                         f"({unit}, {time}) rows; pass one row per unit-year.")
    ps = emp.groupby([unit, time], sort=True)[value].sum().rename("_ps")
    df = tot.set_index([unit, time]).join(ps, how="inner").sort_index()
    yr = df.index.get_level_values(time)
    ps_share = df["_ps"] / df.groupby(yr)["_ps"].transform("sum")
    tot_share = df[total_value] / df.groupby(yr)[total_value].transform("sum")
    out = (ps_share / tot_share).astype(float)
    out.name = name
    return out


# --------------------------------------------------------------------------- entropy weights

from dataclasses import dataclass, field  # noqa: E402  (appended section)
from typing import Mapping  # noqa: E402


def min_max_standardise(values: pd.DataFrame, directions: Mapping[str, int], *,
                        by: pd.Series | np.ndarray | None = None) -> pd.DataFrame:
    r"""Min-max standardisation with positive and negative indicators.

    .. math::

        x'_{ij} = \frac{x_{ij} - \min_i x_{ij}}{\max_i x_{ij} - \min_i x_{ij}}\ \ (+),\qquad
        x'_{ij} = \frac{\max_i x_{ij} - x_{ij}}{\max_i x_{ij} - \min_i x_{ij}}\ \ (-).

    A constant indicator (max = min) becomes 0 everywhere: it carries no
    information, and its entropy weight is then 0 (see :func:`entropy_weights`).

    Parameters
    ----------
    values : DataFrame
        Rows are observations (province-years), columns indicators.
    directions : mapping
        ``+1`` (more is better) or ``-1`` (more is worse) per column of ``values``.
    by : array_like, optional
        Group labels (e.g. years): min and max are then taken within each group.

    Raises
    ------
    ValueError
        A column has missing values or no direction, or a direction is not ±1.
    """
    missing = [c for c in values.columns if c not in directions]
    if missing:
        raise ValueError(f"min_max_standardise: no direction (+1/-1) given for {missing}")
    bad = {c: d for c, d in directions.items() if c in values.columns and d not in (1, -1)}
    if bad:
        raise ValueError(f"min_max_standardise: directions must be +1 or -1, got {bad}")
    na = values.isna()
    if na.any().any():
        col = na.any().idxmax()
        rows = list(values.index[na[col]][:5])
        raise ValueError(f"min_max_standardise: column {col!r} has {int(na[col].sum())} missing "
                         f"values (rows {rows}); impute or drop them first")
    x = values.astype(float)
    if by is None:
        lo, hi = x.min(), x.max()
    else:
        g = x.groupby(np.asarray(by))
        lo, hi = g.transform("min"), g.transform("max")
    rng = (hi - lo)
    pos = (x - lo) / rng
    neg = (hi - x) / rng
    sign = pd.Series(directions).reindex(x.columns)
    out = pos.where(np.broadcast_to(sign.to_numpy() > 0, x.shape), neg)
    # a constant indicator gives 0/0: it carries no information, so 0
    return out.where(np.isfinite(out.to_numpy()), 0.0)


def entropy_weights(standardised: pd.DataFrame) -> pd.Series:
    r"""Entropy weights of standardised indicators (Shannon 1948; the entropy method).

    .. math::

        p_{ij} = \frac{x'_{ij}}{\sum_i x'_{ij}},\quad
        e_j = -\frac{1}{\ln n}\sum_{i=1}^{n} p_{ij}\ln p_{ij}\ \ (0\ln 0 = 0),\quad
        w_j = \frac{1-e_j}{\sum_k (1-e_k)} .

    An indicator that is constant (all :math:`x'_{ij}` equal, including all
    zero) has :math:`e_j = 1` and weight 0. Scaling an indicator by a positive
    constant leaves :math:`p_{ij}` and so its weight unchanged.

    Parameters
    ----------
    standardised : DataFrame
        Non-negative standardised indicators, ``n >= 2`` rows.

    Returns
    -------
    Series
        Weights summing to 1, indexed by indicator; ``entropy`` and
        ``divergence`` (1 - e) are in ``.attrs``.
    """
    x = standardised.to_numpy(float)
    n = x.shape[0]
    if n < 2:
        raise ValueError("entropy_weights: need at least two observations")
    if (x < 0).any():
        raise ValueError("entropy_weights: standardised indicators must be non-negative")
    col = x.sum(axis=0)
    p = np.divide(x, col, out=np.full_like(x, 1.0 / n), where=col > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    e = -plogp.sum(axis=0) / np.log(n)
    d = np.clip(1.0 - e, 0.0, None)
    if d.sum() <= 0:
        raise ValueError("entropy_weights: every indicator is constant; no weights can be formed")
    w = pd.Series(d / d.sum(), index=standardised.columns, name="weight")
    w.attrs["entropy"] = pd.Series(e, index=standardised.columns)
    w.attrs["divergence"] = pd.Series(d, index=standardised.columns)
    return w


@dataclass(frozen=True)
class EntropyIndex:
    """An entropy-weight composite index and how it was built.

    Attributes
    ----------
    index : Series
        The composite, one value per row of the input.
    weights : DataFrame
        One row per indicator: ``dimension``, ``direction``, ``entropy``,
        ``weight_within`` (within its dimension; two-level only) and ``weight``
        (overall; sums to 1). With ``pooled=False`` the weights are averages
        over the periods.
    dimension_weights : Series
        Weight of each dimension (sum of its indicators' overall weights).
    pooled : bool
        Weights computed on all rows at once (True) or per period.
    two_level : bool
        Indicators weighted within dimensions, then dimensions weighted.
    """

    index: pd.Series
    weights: pd.DataFrame
    dimension_weights: pd.Series
    pooled: bool
    two_level: bool
    standardised: pd.DataFrame = field(repr=False)

    def table(self, *, title: str | None = None, notes=None, labels: dict[str, str] | None = None):
        """The weights as a :func:`lib.present.tables.frame_table`; rows named by ``labels``
        (indicator -> words; the column name where none is given), the name kept in a column."""
        from lib.present.tables import frame_table

        cols = ["dimension", "direction", "entropy", "weight"] + (
            ["weight_within"] if self.two_level else [])
        df = self.weights[cols].copy()
        df.insert(0, "variable", df.index.astype(str))
        df.index = pd.Index([(labels or {}).get(str(k), str(k)) for k in df.index], name="indicator")
        return frame_table(df, title=title, notes=notes)


def _weights_once(std: pd.DataFrame, dims: pd.Series, two_level: bool) -> tuple[pd.Series, pd.Series, pd.Series]:
    w = entropy_weights(std)
    ent = w.attrs["entropy"]
    w.attrs = {}  # Series in attrs break pd.concat of per-period weights
    if not two_level:
        return w, ent, pd.Series(np.nan, index=w.index)
    within = pd.Series(0.0, index=std.columns)
    sub_index = {}
    for dim, cols in dims.groupby(dims).groups.items():
        cols = list(cols)
        wd = entropy_weights(std[cols]) if std[cols].to_numpy().std(axis=0).max() > 0 else \
            pd.Series(1.0 / len(cols), index=cols)
        within[cols] = wd
        sub_index[dim] = std[cols].to_numpy() @ wd.to_numpy()
    sub = pd.DataFrame(sub_index, index=std.index)
    # the dimension scores lie in [0, 1] already; re-standardise so that each
    # dimension's entropy is judged on the same footing as a single indicator
    sub_std = min_max_standardise(sub, {c: 1 for c in sub.columns})
    wdim = entropy_weights(sub_std)
    overall = within * dims.map(wdim)
    overall.attrs = {}
    return overall / overall.sum(), ent, within


def entropy_index(values: pd.DataFrame, directions: Mapping[str, int], *,
                  dimensions: Mapping[str, str] | None = None, period: pd.Series | np.ndarray | None = None,
                  pooled: bool = True, two_level: bool = False) -> EntropyIndex:
    r"""Entropy-weight composite index (the companion paper's DT index).

    Steps: min-max standardisation with indicator directions
    (:func:`min_max_standardise`), entropy weights (:func:`entropy_weights`),
    index :math:`DT_i = \sum_j w_j x'_{ij}`.

    ``pooled=True`` (the paper's choice) standardises and weights over all
    province-years at once, so the index is comparable across years and can
    trend. ``pooled=False`` standardises and weights each ``period``
    separately: each year's ranking is then judged by that year's dispersion,
    but levels are not comparable over time (every year's index spans the same
    [0, 1] range), which removes the common trend a panel regression uses.

    ``two_level=True`` weights indicators within each dimension, then the
    dimension scores, so that a dimension with many indicators does not get
    weight merely for its count.

    Parameters
    ----------
    values : DataFrame
        Indicator columns (raw units).
    directions : mapping
        ``+1``/``-1`` per indicator.
    dimensions : mapping, optional
        Dimension of each indicator (required for ``two_level``).
    period : array_like, optional
        Period of each row (required for ``pooled=False``).

    Returns
    -------
    EntropyIndex
    """
    cols = list(values.columns)
    dims = pd.Series({c: (dimensions or {}).get(c, "all") for c in cols})
    if two_level and dimensions is None:
        raise ValueError("entropy_index: two_level=True needs `dimensions`")
    if pooled:
        std = min_max_standardise(values, directions)
        w, ent, within = _weights_once(std, dims, two_level)
        index = pd.Series(std.to_numpy() @ w.to_numpy(), index=values.index, name="index")
    else:
        if period is None:
            raise ValueError("entropy_index: pooled=False needs `period`")
        period = np.asarray(period)
        std = min_max_standardise(values, directions, by=period)
        index = pd.Series(np.nan, index=values.index, name="index")
        ws, es, wis = [], [], []
        for p in pd.unique(period):
            m = period == p
            wp, ep, wip = _weights_once(std.loc[m], dims, two_level)
            index.loc[m] = std.loc[m].to_numpy() @ wp.to_numpy()
            ws.append(wp), es.append(ep), wis.append(wip)
        w, ent, within = (pd.concat(s, axis=1).mean(axis=1) for s in (ws, es, wis))
    weights = pd.DataFrame({"dimension": dims, "direction": pd.Series(directions).reindex(cols),
                            "entropy": ent, "weight_within": within, "weight": w})
    return EntropyIndex(index=index, weights=weights,
                        dimension_weights=weights.groupby("dimension", sort=False)["weight"].sum(),
                        pooled=pooled, two_level=two_level, standardised=std)
