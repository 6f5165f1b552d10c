r"""The book's groupings of cities for the heterogeneity analysis (the paper's Tables 8 and 9).

Each rule is fixed at a base year before any pilot, so that the grouping is not
itself an outcome of the policy. The city generator (:mod:`lib.data.synthetic`)
builds its ``industry`` and ``city_size`` columns with the same threshold and base
year, and the heterogeneity chapter checks that these rules reproduce them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["BASE_YEAR", "MEGACITY_THRESHOLD", "classify_industry", "classify_city_size"]

#: Year in which the time-invariant groupings are measured (before the first pilot).
BASE_YEAR = 2010
#: Urban resident population (10,000 persons) at or above which a city is a
#: megacity (特大城市 and above): 5 million, the 2014 State Council standard.
MEGACITY_THRESHOLD = 500.0


def classify_industry(frame: pd.DataFrame, *, idname: str, tname: str,
                      secondary: str = "secondary_share", tertiary: str = "tertiary_share",
                      base_year: int = BASE_YEAR) -> pd.Series:
    r"""Industrial structure of each city: ``"tertiary"`` or ``"secondary"`` dominated.

    A city is tertiary-dominated when its tertiary value-added share exceeds
    its secondary share in ``base_year`` (2010, before any pilot), so that the
    grouping is not itself an outcome of the policy:

    .. math:: \text{industry}_i = \text{tertiary} \iff s^{III}_{i,2010} > s^{II}_{i,2010}.

    Returns
    -------
    pandas.Series
        Indexed by ``idname``; cities without a base-year row raise.
    """
    base = _base_rows(frame, [secondary, tertiary], idname, tname, base_year, "classify_industry")
    out = pd.Series(np.where(base[tertiary] > base[secondary], "tertiary", "secondary"),
                    index=base.index, name="industry")
    return out


def classify_city_size(frame: pd.DataFrame, *, idname: str, tname: str,
                       urban_pop: str = "urban_pop", base_year: int = BASE_YEAR,
                       threshold: float = MEGACITY_THRESHOLD) -> pd.Series:
    r"""City size: ``"megacity"`` or ``"large_medium"``.

    The State Council's 2014 standard classifies cities by urban resident
    population; "megacity" here means 5 million or more (the standard's
    特大城市 and 超大城市 classes), measured in ``base_year``:

    .. math:: \text{size}_i = \text{megacity} \iff P^{urban}_{i,2010} \ge 500 \text{ (10,000 persons)}.

    Returns
    -------
    pandas.Series
        Indexed by ``idname``.
    """
    base = _base_rows(frame, [urban_pop], idname, tname, base_year, "classify_city_size")
    return pd.Series(np.where(base[urban_pop] >= threshold, "megacity", "large_medium"),
                     index=base.index, name="city_size")


def _base_rows(frame, cols, idname, tname, base_year, fn) -> pd.DataFrame:
    missing_cols = [c for c in (idname, tname, *cols) if c not in frame.columns]
    if missing_cols:
        raise KeyError(f"{fn}: column(s) {missing_cols} not in data ({frame.shape[1]} columns: "
                       f"{list(frame.columns)[:20]}); name them in the call or in the column file")
    base = frame.loc[frame[tname] == base_year, [idname, *cols]].set_index(idname)
    missing = sorted(set(frame[idname]) - set(base.index))
    if missing:
        raise ValueError(f"{fn}: {len(missing)} cities have no {tname} == {base_year} row "
                         f"(e.g. {missing[:5]}); the grouping is fixed at the base year.")
    bad = base[cols].isna().any(axis=1)
    if bad.any():
        raise ValueError(f"{fn}: {int(bad.sum())} cities miss {cols} in {base_year} "
                         f"(e.g. {list(base.index[bad][:5])}).")
    return base
