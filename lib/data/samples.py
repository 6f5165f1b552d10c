"""Named alternative samples, defined once for every chapter.

A chapter's ``sample`` parameter is one of the names in :data:`SAMPLES`;
:func:`apply_sample` applies it and says how many rows and units it kept, so
robustness runs (``python -m lib.run CHAPTER --grid sample=all,east,...``) are
comparable across chapters. ``python -m lib.run --list`` prints
:func:`describe_samples`.

Every sample keeps or drops whole units or whole years; none re-codes the
treatment. A sample that needs a column the data lacks (for example ``region``
in a reader's own panel) raises :class:`~lib.data.DataContractError` naming
that column, as does a sample that leaves no rows.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from lib.data import CITY_PANEL, DataContractError, Panel, PanelSpec

__all__ = ["SAMPLES", "PROVINCIAL_SAMPLES", "Sample", "apply_sample", "describe_samples"]


@dataclass(frozen=True)
class Sample:
    """A named sample rule.

    Attributes
    ----------
    name : str
        The value of a chapter's ``sample`` parameter.
    description : str
        One sentence for tables, the data chapter and ``--list``.
    function : callable
        ``function(data, spec) -> DataFrame``: the rows kept (canonical names).
    """

    name: str
    description: str
    function: Callable[[pd.DataFrame, PanelSpec], pd.DataFrame]


def _source(data: pd.DataFrame) -> str:
    return (getattr(data, "attrs", {}) or {}).get("source", "<data>")


def _need(data: pd.DataFrame, column: str | None, sample: str, why: str) -> str:
    if column is None or column not in data.columns:
        hint = difflib.get_close_matches(str(column), [str(c) for c in data.columns], n=3, cutoff=0.6)
        raise DataContractError(
            f"{_source(data)}: sample '{sample}' needs column '{column}' ({why}), which the data lacks"
            + (f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ".")
            + f" Fix: add the column to your file and map it in the column file "
              f"(`columns: {{your_name: {column}}}`), or choose another sample.",
            file=_source(data), column=str(column))
    return column


def _keep_units(data: pd.DataFrame, unit: str, units) -> pd.DataFrame:
    return data.loc[data[unit].isin(set(units))]


def _region(value: str) -> Callable[[pd.DataFrame, PanelSpec], pd.DataFrame]:
    name = value.lower()

    def rule(data: pd.DataFrame, spec: PanelSpec) -> pd.DataFrame:
        col = _need(data, "region", name, "the NBS region: East/Central/West/Northeast")
        return data.loc[data[col].astype("str").str.strip().str.casefold() == name]

    return rule


def _all(data, spec):
    return data


def _no_municipalities(data, spec):
    col = _need(data, "is_municipality", "no_municipalities", "True for Beijing, Tianjin, Shanghai, Chongqing")
    return data.loc[~data[col].astype(bool)]


def _adoption(data, spec, sample) -> pd.Series:
    """Adoption year per row: the adoption column, else the first treated year."""
    if spec.adoption and spec.adoption in data.columns:
        return data[spec.adoption]
    unit = _need(data, spec.unit, sample, "the unit identifier")
    time = _need(data, spec.time, sample, "the period")
    treat = _need(data, spec.treatment, sample, "the adoption year or the treatment dummy")
    first = data.loc[data[treat] == 1].groupby(unit)[time].min()
    return data[unit].map(first)


def _excluding_2020_batch(data, spec):
    unit = _need(data, spec.unit, "excluding_2020_batch", "the unit identifier")
    adopt = _adoption(data, spec, "excluding_2020_batch")
    drop = set(data.loc[adopt == 2020, unit])
    return data.loc[~data[unit].isin(drop)]


def _balanced(data, spec):
    unit = _need(data, spec.unit, "balanced", "the unit identifier")
    time = _need(data, spec.time, "balanced", "the period")
    y = _need(data, spec.outcome, "balanced", "the outcome")
    ok = data.loc[data[y].notna()]
    n_periods = data[time].nunique()
    per_unit = ok.groupby(unit)[time].nunique()
    return _keep_units(data, unit, per_unit.index[per_unit == n_periods])


def _years(first: int, last: int) -> Callable[[pd.DataFrame, PanelSpec], pd.DataFrame]:
    name = f"years_{first}_{last}"

    def rule(data: pd.DataFrame, spec: PanelSpec) -> pd.DataFrame:
        time = _need(data, spec.time, name, "the period")
        return data.loc[data[time].between(first, last)]

    return rule


def _pilots_only(data, spec):
    unit = _need(data, spec.unit, "pilots_only", "the unit identifier")
    adopt = _adoption(data, spec, "pilots_only")
    return _keep_units(data, unit, data.loc[adopt.notna(), unit])


#: The named samples, in the order the book lists them.
SAMPLES: dict[str, Sample] = {s.name: s for s in [
    Sample("all", "All units and years (the paper's 280 cities, 2010-2021, on the default data).", _all),
    Sample("no_municipalities",
           "Drops the four municipalities (Beijing, Tianjin, Shanghai, Chongqing; is_municipality), "
           "which are province-level units.", _no_municipalities),
    Sample("east", "Eastern region only (region == 'East').", _region("East")),
    Sample("central", "Central region only (region == 'Central').", _region("Central")),
    Sample("west", "Western region only (region == 'West').", _region("West")),
    Sample("northeast", "Northeast region only (region == 'Northeast').", _region("Northeast")),
    Sample("excluding_2020_batch",
           "Drops every unit adopting in 2020 (batch 5 on the default data, approved April 2020), all its "
           "years: they are neither treated nor controls, so the COVID year cannot drive the estimate.",
           _excluding_2020_batch),
    Sample("balanced", "Units observed, with a non-missing outcome, in every year of the data.", _balanced),
    Sample("years_2012_2021", "Years 2012-2021 only (drops 2010-2011).", _years(2012, 2021)),
    Sample("pilots_only",
           "Ever-treated units only (adoption year in the window): identification comes from staggered "
           "timing among pilots, with not-yet-treated pilots as controls.", _pilots_only),
]}


#: The named samples of the companion paper's provincial panel (same rules, its own years).
PROVINCIAL_SAMPLES: dict[str, Sample] = {s.name: s for s in [
    Sample("all", "All 31 provinces, 2012-2022.", _all),
    Sample("no_municipalities", "Without Beijing, Tianjin, Shanghai and Chongqing (is_municipality).",
           _no_municipalities),
    Sample("years_2012_2019", "2012-2019 (before COVID-19).", _years(2012, 2019)),
    Sample("years_2015_2022", "2015-2022.", _years(2015, 2022)),
    Sample("east", "Eastern provinces only (region == 'East').", _region("East")),
]}


def apply_sample(data: pd.DataFrame | Panel, name: str,
                 spec: PanelSpec | None = None, *,
                 samples: dict[str, Sample] | None = None) -> tuple[pd.DataFrame, dict]:
    """Apply a named sample.

    Parameters
    ----------
    data : DataFrame or Panel
        Canonical panel (from :func:`lib.data.load_panel`).
    name : str
        A key of ``samples``.
    spec : PanelSpec, optional
        Column roles; default the panel's own spec, else :data:`lib.data.CITY_PANEL`.
    samples : dict, optional
        The registry: :data:`SAMPLES` (the city panel, default) or
        :data:`PROVINCIAL_SAMPLES`.

    Returns
    -------
    frame : DataFrame
        The rows kept (index reset).
    info : dict
        ``name``, ``description``, ``rows_before``, ``rows_after``,
        ``units_before``, ``units_after``.

    Raises
    ------
    ValueError
        Unknown sample name (the message lists the valid ones).
    DataContractError
        A needed column is absent, or the sample is empty.

    Examples
    --------
    >>> frame, info = apply_sample(load_panel(), "east")   # doctest: +SKIP
    """
    if isinstance(data, Panel):
        spec = data.spec if spec is None else spec
        data = data.data
    spec = CITY_PANEL if spec is None else spec
    samples = SAMPLES if samples is None else samples
    if name not in samples:
        hint = difflib.get_close_matches(str(name), list(samples), n=1)
        raise ValueError(f"unknown sample {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                         + f"; valid samples: {', '.join(samples)}")
    sample = samples[name]
    unit = _need(data, spec.unit, name, "the unit identifier")
    out = sample.function(data, spec).reset_index(drop=True)
    out.attrs = dict(data.attrs)
    info = {
        "name": name,
        "description": sample.description,
        "rows_before": len(data),
        "rows_after": len(out),
        "units_before": int(data[unit].nunique()),
        "units_after": int(out[unit].nunique()),
    }
    if out.empty:
        col = {"east": "region", "central": "region", "west": "region", "northeast": "region",
               "no_municipalities": "is_municipality", "years_2012_2021": spec.time,
               "years_2012_2019": spec.time, "years_2015_2022": spec.time,
               "pilots_only": spec.adoption, "excluding_2020_batch": spec.adoption,
               "balanced": spec.outcome}.get(name, spec.unit)
        present = ""
        if col in data.columns:
            vals = pd.unique(data[col].dropna())[:8]
            present = f" Values of '{col}' in the data: {', '.join(map(str, vals))}."
        raise DataContractError(
            f"{_source(data)}: sample '{name}' ({sample.description}) leaves no rows of {len(data)} "
            f"(column '{col}').{present} Fix: check the coding of '{col}', or choose another sample.",
            file=_source(data), column=col, n_rows=0)
    return out, info


def describe_samples(samples: dict[str, Sample] | None = None) -> pd.DataFrame:
    """The named samples as a frame (name, description), for the book and ``--list``."""
    samples = SAMPLES if samples is None else samples
    return pd.DataFrame([(s.name, s.description) for s in samples.values()], columns=["name", "description"])
