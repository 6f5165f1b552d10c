"""The two papers' printed numbers, exactly as printed.

Read from ``data/raw/paper/*.csv`` (see the README there for provenance and
the known errors in the printed numbers). These values are what the book
compares against ("paper" columns); they are never used as results.

Numeric columns are parsed to floats, and the printed strings are kept beside
them (``estimate_printed``, ``stat_printed``) so trailing zeros survive.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib import DATA

__all__ = [
    "PAPER_DIR",
    "PRINTED_SOURCE",
    "STAR_CONVENTION",
    "NOTES_CONVENTION",
    "MATCHING_VARIABLES",
    "GLOBAL_TRADE_LABELS",
    "MATCHING_LABELS",
    "MEDIATION_TABLES",
    "published_estimates",
    "published_estimate",
    "published_descriptives",
    "printed_rows",
    "published_balance",
    "policy_themes",
    "global_digital_trade",
    "percentage_reading",
]

#: Where the transcriptions live.
PAPER_DIR = DATA / "raw" / "paper"
#: What a table or figure of printed numbers was made from (its CSV's ``data`` column, its note).
PRINTED_SOURCE = "the paper's printed numbers, transcribed (data/raw/paper/); nothing computed"

#: The papers' own star conventions, as stated in their table notes.
STAR_CONVENTION = {
    "cbec": "* p<0.05, ** p<0.01, *** p<0.001",
    "fdi": "p-value bounds as printed in the text",
}

#: What each paper's table notes state, as the paper-audit appendix reads them: the significance
#: levels of the stars (None: no levels stated) and what the parentheses hold ("se", "t"; None:
#: not stated). The main paper's notes: "***, **, and * indicate significant at the 0.1%, 1% and
#: 5% levels, respectively, with standard errors in parentheses"; the companion's have none.
NOTES_CONVENTION: dict[str, dict[str, Any]] = {
    "cbec": {"stars": (0.05, 0.01, 0.001), "parentheses": "se"},
    "fdi": {"stars": None, "parentheses": None},
}

#: Table 5's eight matching variables, as the panel names them.
MATCHING_VARIABLES: tuple[str, ...] = ("lnpop", "lnaca", "lngdp", "Infra", "lngov", "Urban",
                                       "Incoms", "lninter")
#: Their labels as printed in Table 5.
MATCHING_LABELS: dict[str, str] = {
    "lnpop": "Population (logged)", "lnaca": "Full-time teachers (logged)",
    "lngdp": "Regional GDP (logged)", "Infra": "Per-capita road area",
    "lngov": "Fiscal expenditure (logged)", "Urban": "Urbanization rate",
    "Incoms": "Retail sales (logged)", "lninter": "Internet users (logged)",
}
#: The table and column that print each mediator's eq. (10) (Tables 11-13).
MEDIATION_TABLES: dict[str, tuple[int, int]] = {"Diginf": (11, 1), "Spec": (12, 2), "Envir": (13, 3)}

_PAPERS = ("cbec", "fdi")


@lru_cache(maxsize=None)
def _read(name: str, path: Path | None = None) -> pd.DataFrame:
    path = path or PAPER_DIR / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; it is shipped with the repository "
                                f"(see data/raw/paper/README.md)")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.replace("", np.nan), errors="raise").astype(float)


def _int(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.replace("", np.nan), errors="raise").astype("Int64")


def _check_paper(paper: str) -> None:
    if paper not in _PAPERS:
        raise KeyError(f"paper must be one of {list(_PAPERS)}, got {paper!r}")


def published_estimates(paper: str = "cbec", table: int | str | None = None) -> pd.DataFrame:
    """Printed coefficients of one paper, optionally of one table.

    Parameters
    ----------
    paper : {"cbec", "fdi"}
        ``"cbec"``: Lyu, Li & Wang; ``"fdi"``: Truong
    table : int or str, optional
        Table number as printed (``4``, ``"6"``) or ``"text"``.

    Returns
    -------
    DataFrame
        Columns ``paper, table, column, term`` (strings), ``estimate, stat``
        (float), ``stat_kind`` (``t``, ``se``, ``z`` or ``""``), ``stars``
        (as printed), ``n``, ``n_treated``, ``n_control`` (Int64; the last two where a table
        prints them), ``r2`` (float), ``note``,
        ``estimate_printed``, ``stat_printed``.
    """
    _check_paper(paper)
    raw = _read("published_estimates")
    df = raw[raw["paper"] == paper].copy()
    if table is not None:
        df = df[df["table"] == str(table)]
        if df.empty:
            tables = sorted(set(raw.loc[raw["paper"] == paper, "table"]))
            raise KeyError(f"paper {paper!r} has no printed table {table!r}; tables: {tables}")
    df["estimate_printed"] = df["estimate"]
    df["stat_printed"] = df["stat"]
    df["estimate"] = _num(df["estimate"])
    df["stat"] = _num(df["stat"])
    df["n"] = _int(df["n"])
    for col in ("n_treated", "n_control"):
        df[col] = _int(df[col])
    df["r2"] = _num(df["r2"])
    return df.reset_index(drop=True)


def _plain(v: Any) -> Any:
    if v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def published_estimate(paper: str, table: int | str, column: int | str, term: str) -> dict[str, Any]:
    """One printed coefficient.

    Parameters
    ----------
    paper : {"cbec", "fdi"}
    table, column : int or str
        As printed, e.g. ``4, 2`` or ``6, "kernel"``.
    term : str
        As printed, e.g. ``"CBEC"``, ``"East*CBEC"``, ``"SobelZ"``.

    Returns
    -------
    dict
        ``estimate, stat, stat_kind, stars, n, n_treated, n_control, r2, note`` (missing -> ``None``
        or ``""``), plus ``estimate_printed, stat_printed, star_convention``
        and the key. Feed it to :func:`lib.present.tables.comparison_row` as ``paper=``.

    Raises
    ------
    KeyError
        Listing the rows available for that paper and table.

    Examples
    --------
    >>> published_estimate("cbec", 4, 2, "CBEC")["estimate"]
    0.0157
    """
    df = published_estimates(paper)
    hit = df[(df["table"] == str(table)) & (df["column"] == str(column)) & (df["term"] == term)]
    if hit.empty:
        pool = df[df["table"] == str(table)] if (df["table"] == str(table)).any() else df
        avail = [f"(table={t}, column={c}, term={m})"
                 for t, c, m in pool[["table", "column", "term"]].itertuples(index=False)]
        raise KeyError(f"no printed estimate for paper={paper!r}, table={table!r}, column={column!r}, "
                       f"term={term!r}; {len(avail)} rows available: {', '.join(avail)}")
    row = hit.iloc[0]
    out = {k: _plain(row[k]) for k in ("paper", "table", "column", "term", "estimate", "stat",
                                        "stat_kind", "stars", "n", "n_treated", "n_control", "r2",
                                        "note", "estimate_printed", "stat_printed")}
    out["star_convention"] = STAR_CONVENTION[paper]
    return out


def printed_rows(name: str, paper: str) -> pd.DataFrame:
    """One paper's rows of a transcription (``"published_estimates"``,
    ``"published_descriptives"``), every cell the string as printed: what an audit of the
    printed numbers reads (``"0.6350"`` keeps its four decimals)."""
    _check_paper(paper)
    raw = _read(name)
    return raw[raw["paper"] == paper].reset_index(drop=True).copy()


def published_descriptives(paper: str = "cbec") -> pd.DataFrame:
    """Printed descriptive statistics (Table 3 for ``"cbec"``), indexed by variable.

    Columns ``n`` (Int64), ``mean, sd, min, median, max`` (float), ``note``.
    """
    _check_paper(paper)
    raw = _read("published_descriptives")
    df = raw[raw["paper"] == paper].drop(columns="paper").copy()
    df["n"] = _int(df["n"])
    for c in ("mean", "sd", "min", "median", "max"):
        df[c] = _num(df[c])
    return df.set_index("variable")


def published_balance(paper: str = "cbec") -> pd.DataFrame:
    """Printed PSM balance test (Table 5): one row per variable and sample.

    Columns ``variable, label, sample`` (``unmatched``/``matched``),
    ``treated_mean, control_mean, t, p, std_bias, bias_reduction_pct``.
    """
    _check_paper(paper)
    raw = _read("published_balance")
    df = raw[raw["paper"] == paper].drop(columns="paper").copy()
    for c in ("treated_mean", "control_mean", "t", "p", "std_bias", "bias_reduction_pct"):
        df[c] = _num(df[c])
    return df.reset_index(drop=True)


def policy_themes() -> pd.DataFrame:
    """The CBEC paper's three policy-text themes: ``theme, keywords, frequency_pct``."""
    df = _read("policy_themes").copy()
    df["frequency_pct"] = _num(df["frequency_pct"])
    return df


#: Headers of :func:`global_digital_trade`'s columns for a table.
GLOBAL_TRADE_LABELS = {
    "goods_export_tn_usd": "goods exports (tn USD)", "goods_export_growth_pct": "goods growth %",
    "service_export_tn_usd": "services exports (tn USD)", "service_export_growth_pct": "services growth %",
    "digital_delivery_export_tn_usd": "digitally delivered (tn USD)",
    "digital_delivery_growth_pct": "digitally delivered growth %",
}


def global_digital_trade() -> pd.DataFrame:
    """The FDI paper's Table 1: global exports 2019-2023 (trillion USD, growth %), indexed by year."""
    df = _read("global_digital_trade").copy()
    df["year"] = df["year"].astype(int)
    for c in df.columns.drop("year"):
        df[c] = _num(df[c])
    return df.set_index("year")


def percentage_reading() -> dict[str, Any]:
    r"""The main paper's reading of its index-unit ATTs as percentages, from its printed numbers.

    The abstract states an effect of "0.69%-1.52%" and §4.3.2 "0.69%-1.02%": the 5:1
    nearest-neighbour and kernel ATTs of Table 6 (0.0069, 0.0102) and Table 4's column (3)
    (0.0152), each multiplied by 100. They are changes of the index, whose printed mean is in
    Table 3, so as a share of the mean they are :math:`100\,\text{ATT}/\bar Y` %. Returns the printed numbers, the percentages as the paper writes them and those shares.
    """
    nn = published_estimate("cbec", 6, "nn5", "ATT")["estimate"]
    kernel = published_estimate("cbec", 6, "kernel", "ATT")["estimate"]
    col3 = published_estimate("cbec", 4, 3, "CBEC")["estimate"]
    mean = float(published_descriptives("cbec").loc["Inno", "mean"])
    return {"pct_nn_att": nn, "pct_kernel_att": kernel, "pct_t4_col3": col3, "pct_mean_inno": mean,
            "pct_abstract_range": f"{nn * 100:.2f}%-{col3 * 100:.2f}%",
            "pct_text_range": f"{nn * 100:.2f}%-{kernel * 100:.2f}%",
            "pct_nn_share": 100 * nn / mean, "pct_kernel_share": 100 * kernel / mean}
