r"""Composite indices used by the paper's mechanism chapter.

Only the producer-service agglomeration index of the paper's eq. (11) lives
here for now (:func:`producer_service_agglomeration`); the entropy-weight
index will join it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["producer_service_agglomeration"]


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
