r"""Auditing a printed regression table from its printed numbers alone.

A printed table over-determines itself. A coefficient :math:`b` and its standard error
:math:`s` fix :math:`t = b/s`; :math:`|t|` and the degrees of freedom fix the two-sided
p-value, and so the stars under the notes' thresholds; rows of one column share one N and
one R²; a variable in :math:`[a, c]` with mean :math:`m` has variance at most
:math:`(c - m)(m - a)` (Bhatia & Davis 2000); a 0/1 variable's s.d. is fixed by its mean,
and a mean of integers times N is an integer (the GRIM test, Brown & Heathers 2017).
:func:`audit_table` and :func:`audit_descriptives` apply these identities and list every row
that violates one, with its evidence.

Every check gives a printed number the benefit of its rounding: a number printed with
:math:`d` decimals stands for :math:`[x - \tfrac12 10^{-d},\ x + \tfrac12 10^{-d}]`, and a check
fails only if no values in those intervals satisfy it. A p-value is computed from the normal
distribution (large samples) and, when the smallest plausible residual degrees of freedom
``dof`` are given, from Student's t at ``dof``: stars agree if any reference in between
gives them.

Input (any paper's table as a CSV, read with :func:`read_printed`): one row per printed
coefficient with ``table, column, term, estimate`` and, where printed, ``stat`` and
``stat_kind`` (``t``, ``se``, ``z``; a z-statistic printed alone as the estimate, like a
Sobel z, has ``stat_kind = z`` and no ``stat``), ``stars`` (``***``, or a bound such as
``p<0.01``), ``p``, ``n``, ``r2``, ``r2_kind``, ``n_treated``, ``n_control``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = ["CHECKS", "Audit", "audit_table", "audit_descriptives", "bhatia_davis_bound", "read_printed",
           "printed_interval", "p_interval", "stars_interval"]

#: What each check asks, in a sentence (the audit page's legend).
CHECKS = {
    "stars": "Do the stars agree with the p-value the printed statistic gives?",
    "parentheses as stated": "Read as the notes say (s.e. or t), could the numbers in parentheses carry "
                        "the printed stars?",
    "printed p": "Does a printed p-value agree with the printed statistic?",
    "N within sample": "Is N at most the size of the stated sample?",
    "N of the parts": "Do the treated and control counts add up to N?",
    "one N per column": "Do all rows of one column print the same N?",
    "one R² per column": "Do all rows of one column print the same R²?",
    "R² in [0, 1]": "Is the R² a share?",
    "R² kind stated": "Does the table say which R² it prints (within, overall, adjusted)?",
    "order": "Do min ≤ median ≤ max and min ≤ mean ≤ max hold?",
    "Bhatia-Davis": "Is the s.d. possible for a variable between the printed min and max with "
                    "the printed mean?",
    "0/1 s.d.": "Is the s.d. of a 0/1 variable the one its mean implies?",
    "GRIM": "Is the mean of a 0/1 or count variable times N an integer?",
}

_ESTIMATE_COLUMNS = ("table", "column", "term", "estimate")
_DESCRIPTIVE_COLUMNS = ("variable", "n", "mean", "sd")
_COUNTS = ("n", "n_treated", "n_control")
_NUMERIC = ("estimate", "stat", "p", "n", "r2", "n_treated", "n_control", "mean", "sd", "min",
            "median", "max")


# ----------------------------------------------------------------- reading the numbers
def _decimals(text: str) -> int:
    t = str(text).strip().lower()
    if "e" in t:  # 1.2e-05: the mantissa's decimals shifted by the exponent
        mant, exp = t.split("e")
        return max(_decimals(mant) - int(exp), 0)
    return len(t.split(".")[1]) if "." in t else 0


def printed_interval(text, *, integers_exact: bool = False) -> tuple[float, float]:
    """The interval a printed number stands for: ``"0.0157"`` is [0.01565, 0.01575].

    With ``integers_exact`` a number printed without decimals is taken as exact, as the
    0 and 1 that bound a normalised index or a dummy are."""
    x = float(text)
    if integers_exact and _decimals(text) == 0 and "e" not in str(text).lower():
        return x, x
    half = 0.5 * 10.0 ** (-_decimals(text))
    return x - half, x + half


def _printed(row: pd.Series, col: str) -> str | None:
    """The printed string of a number (``col_printed`` if the frame kept it), or None."""
    for key in (f"{col}_printed", col):
        if key in row.index:
            v = row[key]
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                return None
            s = str(v).strip()
            if s in ("", "nan", "<NA>"):
                return None
            if not isinstance(v, str) and key == col:
                s = repr(float(v)) if not float(v).is_integer() else str(int(float(v)))
            return s
    return None


def read_printed(path: str | Path, *, kind: str = "estimates") -> pd.DataFrame:
    """A printed table saved as CSV, every cell kept as its printed string.

    ``kind="estimates"`` needs ``table, column, term, estimate``; ``kind="descriptives"`` needs
    ``variable, n, mean, sd`` (and ``min, median, max`` where printed). Numbers that are not
    numbers raise a ``ValueError`` naming the file, the column and the rows.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (a printed table as CSV; see "
                                f"lib.methods.paper_audit for its columns)")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = _ESTIMATE_COLUMNS if kind == "estimates" else _DESCRIPTIVE_COLUMNS
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; a printed {kind} table needs "
                         f"{list(need)} (found {list(df.columns)}). Rename the columns in the CSV.")
    for col in _NUMERIC:
        if col not in df.columns:
            continue
        cleaned = df[col].str.strip()
        if col in _COUNTS:  # an N as tables print it: "3,360"
            cleaned = cleaned.str.replace(r"(?<=\d),(?=\d{3}\b)", "", regex=True)
            df[col] = cleaned
        bad = [i for i, v in cleaned.items() if v and not _is_number(v)]
        if bad:
            rows = ", ".join(str(i + 2) for i in bad[:10])
            raise ValueError(f"{path}: column {col!r} holds text that is not a number in rows "
                             f"{rows} (file lines, header = 1): {list(cleaned[bad[:3]])}. Write the "
                             f"number as printed without stars or brackets (stars go in 'stars').")
    return df


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _num(row: pd.Series, col: str) -> float | None:
    s = _printed(row, col)
    return None if s is None else float(s)


# ----------------------------------------------------------------- p-values and stars
def p_interval(t_low: float, t_high: float, dof: float | None = None) -> tuple[float, float]:
    """Two-sided p-values over ``|t|`` in ``[t_low, t_high]``: the normal reference for the
    smallest p, Student's t at ``dof`` (if given) for the largest."""
    lo, hi = abs(t_low), abs(t_high)
    lo, hi = min(lo, hi), max(lo, hi)
    p_min = 2 * _st.norm.sf(hi)
    p_max = 2 * (_st.t.sf(lo, dof) if dof else _st.norm.sf(lo))
    return float(p_min), float(p_max)


def stars_interval(stars: str, thresholds: Sequence[float]) -> tuple[float, float] | None:
    """The p-values printed stars allow: ``"**"`` under (0.05, 0.01, 0.001) is [0.001, 0.01);
    a bound such as ``"p<0.01"`` is [0, 0.01). None for text that states no bound."""
    s = str(stars).strip().replace(" ", "")
    m = re.fullmatch(r"p([<>]=?)(0?\.\d+)", s)
    if m:
        bound = float(m.group(2))
        return (0.0, bound) if m.group(1).startswith("<") else (bound, 1.0)
    if s and set(s) != {"*"}:
        return None
    th = sorted(thresholds, reverse=True)  # loosest first
    k = len(s)
    if k > len(th):
        return None
    upper = 1.0 if k == 0 else th[k - 1]
    lower = th[k] if k < len(th) else 0.0
    return lower, upper


def _stars_for(p: float, thresholds: Sequence[float]) -> str:
    return "*" * sum(p < t for t in thresholds)


def _t_interval(row: pd.Series, reading: str) -> tuple[float, float] | None:
    """``|t|`` interval of a row, its statistic read as ``reading`` (``t``, ``se`` or ``z``)."""
    b, s = _printed(row, "estimate"), _printed(row, "stat")
    if reading == "z" and s is None:
        lo, hi = printed_interval(b)
        return _abs_interval(lo, hi)
    if s is None:
        return None
    if reading in ("t", "z"):
        return _abs_interval(*printed_interval(s))
    if reading == "se":
        blo, bhi = _abs_interval(*printed_interval(b))
        slo, shi = printed_interval(s)
        if shi <= 0:
            return None
        slo = max(slo, 1e-300)
        return blo / shi, bhi / slo
    return None


def _abs_interval(lo: float, hi: float) -> tuple[float, float]:
    if lo <= 0 <= hi:
        return 0.0, max(-lo, hi)
    return min(abs(lo), abs(hi)), max(abs(lo), abs(hi))


def _overlaps(allowed: tuple[float, float], p: tuple[float, float]) -> bool:
    """Whether the p-values ``p`` (closed) meet the stars' ``allowed`` range, open above:
    a p equal to a threshold does not earn its star (the notes' "p < 0.05")."""
    return p[0] < allowed[1] and allowed[0] <= p[1]


# ----------------------------------------------------------------- the result
@dataclass(frozen=True)
class Audit:
    """The findings of an audit: one row per check of one printed row.

    ``findings`` has ``table, column, term, check, verdict, evidence``; ``verdict`` is
    ``"consistent"``, ``"inconsistent"`` or ``"not checkable"`` (the numbers needed are not
    printed, or the notes state no convention).
    """

    findings: pd.DataFrame
    source: str = ""

    @property
    def inconsistencies(self) -> pd.DataFrame:
        return self.findings[self.findings["verdict"] == "inconsistent"].reset_index(drop=True)

    @property
    def summary(self) -> pd.DataFrame:
        """Rows checked and found inconsistent, by check (in :data:`CHECKS` order)."""
        f = self.findings
        out = pd.DataFrame({
            "checked": f[f["verdict"] != "not checkable"].groupby("check").size(),
            "inconsistent": f[f["verdict"] == "inconsistent"].groupby("check").size(),
            "not checkable": f[f["verdict"] == "not checkable"].groupby("check").size(),
        }).fillna(0).astype(int)
        order = [c for c in CHECKS if c in out.index] + [c for c in out.index if c not in CHECKS]
        return out.loc[order]

    def __add__(self, other: "Audit") -> "Audit":
        return Audit(pd.concat([self.findings, other.findings], ignore_index=True),
                     "; ".join(s for s in (self.source, other.source) if s))


def _finding(row, check, verdict, evidence, *, term_col="term"):
    return {"table": str(row.get("table", "")), "column": str(row.get("column", "")),
            "term": str(row.get(term_col, "")), "check": check, "verdict": verdict,
            "evidence": evidence}


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) < 1e-4:
        return f"{x:.1e}"
    return f"{x:.4f}" if abs(x) < 10 else f"{x:,.2f}"


def _fmt_p(p: float) -> str:
    return "0" if p == 0 else (f"{p:.1e}" if p < 1e-4 else f"{p:.4f}")


# ----------------------------------------------------------------- regression tables
def audit_table(rows: pd.DataFrame, *, stars: Sequence[float] | None = (0.05, 0.01, 0.001),
                claimed_stat: str | None = None, dof: float | None = None,
                n_max: int | None = None, nested: Mapping[tuple, tuple] | None = None,
                source: str = "") -> Audit:
    r"""Check a printed regression table for internal consistency.

    Parameters
    ----------
    rows : DataFrame
        One row per printed coefficient (:func:`read_printed`, or
        :func:`lib.data.published.published_estimates`): ``table, column, term, estimate``
        and what is printed of ``stat, stat_kind, stars, p, n, r2, r2_kind, n_treated,
        n_control``. Printed strings (``estimate_printed``) are used where present.
    stars : sequence of float or None
        The significance levels the notes state (any order); None where they state none:
        then only bounds such as ``p<0.01`` are checked.
    claimed_stat : {"se", "t", None}
        What the notes say the parenthesised numbers are; checked against the stars.
    dof : float, optional
        The smallest residual degrees of freedom the model could have (e.g. clusters − 1);
        p-values then range from the normal to Student's t at ``dof``.
    n_max : int, optional
        The size of the stated sample (e.g. units × years); N above it is flagged.
    nested : mapping, optional
        ``{(table, column): (table, column)}``: the first model holds every regressor of the
        second, on its sample. Where both print the same N, the first's R² cannot be smaller
        (OLS R² of either kind never falls when a regressor is added).

    Returns
    -------
    Audit
    """
    missing = [c for c in _ESTIMATE_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"audit_table: rows lack column(s) {missing}; needs {list(_ESTIMATE_COLUMNS)}")
    thresholds = tuple(stars) if stars else ()
    out: list[dict] = []
    for _, row in rows.iterrows():
        # what the parentheses hold: the transcriber's reading, else what the notes say
        kind = str(row.get("stat_kind", "") or "").strip().lower() or (claimed_stat or "")
        printed_stars = str(row.get("stars", "") or "").strip()
        t_iv = _t_interval(row, kind) if kind else None
        allowed = stars_interval(printed_stars, thresholds) if (thresholds or printed_stars) else None

        # stars against the statistic as transcribed
        if t_iv is None or allowed is None:
            why = ("no statistic printed" if t_iv is None else
                   "the notes state no significance levels and no p-value bound is printed")
            out.append(_finding(row, "stars", "not checkable", why))
        else:
            p_iv = p_interval(*t_iv, dof)
            ok = _overlaps(allowed, p_iv)
            shown = printed_stars or "no stars"
            out.append(_finding(row, "stars", "consistent" if ok else "inconsistent",
                                f"|t| in [{_fmt(t_iv[0])}, {_fmt(t_iv[1])}] gives p in "
                                f"[{_fmt_p(p_iv[0])}, {_fmt_p(p_iv[1])}]; {shown!r} needs p in "
                                f"[{_fmt_p(allowed[0])}, {_fmt_p(allowed[1])})"))

        # the notes' reading of the parentheses
        if (claimed_stat and kind in ("t", "se") and kind != claimed_stat
                and _printed(row, "stat") is not None and allowed):
            claimed_iv = _t_interval(row, claimed_stat)
            word = {"se": "a standard error", "t": "a t-statistic"}[claimed_stat]
            if claimed_iv is None:  # a negative or zero number in parentheses read as an s.e.
                out.append(_finding(row, "parentheses as stated", "inconsistent",
                                    f"({_printed(row, 'stat')}) cannot be {word}: it is not positive"))
            else:
                p_c = p_interval(*claimed_iv, dof)
                ok = _overlaps(allowed, p_c)
                out.append(_finding(
                    row, "parentheses as stated", "consistent" if ok else "inconsistent",
                    f"read as {word}, ({_printed(row, 'stat')}) gives |t| in "
                    f"[{_fmt(claimed_iv[0])}, {_fmt(claimed_iv[1])}] and p in "
                    f"[{_fmt_p(p_c[0])}, {_fmt_p(p_c[1])}], which "
                    f"{'allows' if ok else 'cannot carry'} {printed_stars or 'no stars'!r}"))

        # a printed p-value
        p_printed = _printed(row, "p")
        if p_printed is not None and t_iv is not None:
            p_iv = p_interval(*t_iv, dof)
            pp = printed_interval(p_printed)
            ok = pp[0] <= p_iv[1] and p_iv[0] <= pp[1]
            out.append(_finding(row, "printed p", "consistent" if ok else "inconsistent",
                                f"printed p = {p_printed}; the statistic gives p in "
                                f"[{_fmt_p(p_iv[0])}, {_fmt_p(p_iv[1])}]"))

        # N
        n = _num(row, "n")
        if n is not None and n_max:
            ok = n <= n_max
            out.append(_finding(row, "N within sample", "consistent" if ok else "inconsistent",
                                f"N = {n:,.0f} {'≤' if ok else '>'} {n_max:,} in the stated sample"))
        nt, nc = _num(row, "n_treated"), _num(row, "n_control")
        if n is not None and nt is not None and nc is not None:
            ok = nt + nc == n
            out.append(_finding(row, "N of the parts", "consistent" if ok else "inconsistent",
                                f"{nt:,.0f} treated + {nc:,.0f} control = {nt + nc:,.0f}; printed N = {n:,.0f}"))

        # R²
        r2 = _num(row, "r2")
        if r2 is not None:
            lo, hi = printed_interval(_printed(row, "r2"))
            ok = hi >= 0 and lo <= 1
            out.append(_finding(row, "R² in [0, 1]", "consistent" if ok else "inconsistent",
                                f"R² = {_printed(row, 'r2')}"))
            stated = str(row.get("r2_kind", "") or "").strip()
            out.append(_finding(row, "R² kind stated", "consistent" if stated else "not checkable",
                                f"R² is the {stated} R²" if stated else
                                "the table does not say which R² (within, overall, adjusted) it prints"))

    # one N and one R² per column
    for col, label in (("n", "one N per column"), ("r2", "one R² per column")):
        if col not in rows.columns:
            continue
        for (table, column), grp in rows.groupby(["table", "column"], sort=False):
            vals = {v for v in (_printed(r, col) for _, r in grp.iterrows()) if v is not None}
            if len(grp) < 2 or not vals:
                continue
            ok = len({float(v) for v in vals}) == 1
            out.append({"table": str(table), "column": str(column), "term": "(column)", "check": label,
                        "verdict": "consistent" if ok else "inconsistent",
                        "evidence": f"{len(grp)} rows print {', '.join(sorted(vals))}"})
    for big, small in (nested or {}).items():
        out.append(_nesting_finding(rows, tuple(map(str, big)), tuple(map(str, small))))
    return Audit(pd.DataFrame(out, columns=["table", "column", "term", "check", "verdict", "evidence"]),
                 source)


def _column_value(rows: pd.DataFrame, key: tuple[str, str], col: str) -> str | None:
    if col not in rows.columns:
        return None
    grp = rows[(rows["table"].astype(str) == key[0]) & (rows["column"].astype(str) == key[1])]
    vals = [v for v in (_printed(r, col) for _, r in grp.iterrows()) if v is not None]
    return vals[0] if vals else None


def _nesting_finding(rows: pd.DataFrame, big: tuple[str, str], small: tuple[str, str]) -> dict:
    check = "R² of a nesting model"
    base = {"table": big[0], "column": big[1], "term": f"(nests table {small[0]} column {small[1]})",
            "check": check}
    r2b, r2s = _column_value(rows, big, "r2"), _column_value(rows, small, "r2")
    nb, ns = _column_value(rows, big, "n"), _column_value(rows, small, "n")
    if r2b is None or r2s is None or nb is None or ns is None:
        return {**base, "verdict": "not checkable", "evidence": "an R² or N is not printed"}
    if float(nb) != float(ns):
        return {**base, "verdict": "not checkable",
                "evidence": f"the samples differ (N = {float(nb):,.0f} and {float(ns):,.0f})"}
    ok = printed_interval(r2b)[1] >= printed_interval(r2s)[0]
    return {**base, "verdict": "consistent" if ok else "inconsistent",
            "evidence": f"R² = {r2b} with the added regressor(s), {r2s} without, both on N = "
                        f"{float(nb):,.0f}" + ("" if ok else ": adding a regressor cannot lower R²")}


# ----------------------------------------------------------------- descriptive statistics
def bhatia_davis_bound(mean: float, lo: float, hi: float, n: float | None = None) -> float:
    r"""The largest s.d. a variable in ``[lo, hi]`` with mean ``mean`` can have (Bhatia & Davis
    2000): :math:`\sqrt{(b - m)(m - a)}`, times :math:`\sqrt{n/(n-1)}` for the sample s.d."""
    factor = n / (n - 1) if n and n > 1 else 1.0
    return math.sqrt(max((hi - mean) * (mean - lo), 0.0) * factor)


def _kind(row: pd.Series) -> str:
    """``binary`` for a 0/1 variable (min, median and max printed as 0 or 1 without
    decimals), else the ``kind`` column (``count``, ``binary``) if given, else ``continuous``."""
    given = str(row.get("kind", "") or "").strip().lower()
    if given:
        return given
    printed = [_printed(row, c) for c in ("min", "median", "max")]
    if all(p is not None for p in printed) and {p for p in printed} <= {"0", "1"} and printed[0] == "0" \
            and printed[2] == "1":
        return "binary"
    return "continuous"


def audit_descriptives(rows: pd.DataFrame, *, n_max: int | None = None, source: str = "") -> Audit:
    r"""Check printed descriptive statistics (one row per variable).

    Bhatia-Davis: :math:`s^2 \le \tfrac{n}{n-1}(c - m)(m - a)` for a variable in
    :math:`[a, c]`; a 0/1 variable has :math:`s^2 = m(1-m)` times 1 or :math:`n/(n-1)`; GRIM:
    :math:`m\,n` is an integer for a 0/1 or count variable. Columns ``variable, n, mean, sd``
    and, where printed, ``min, median, max, kind``.
    """
    missing = [c for c in _DESCRIPTIVE_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"audit_descriptives: rows lack column(s) {missing}; needs "
                         f"{list(_DESCRIPTIVE_COLUMNS)}")
    out: list[dict] = []

    def add(row, check, ok, evidence):
        verdict = "not checkable" if ok is None else ("consistent" if ok else "inconsistent")
        out.append({"table": str(row.get("table", "")), "column": "", "term": str(row["variable"]),
                    "check": check, "verdict": verdict, "evidence": evidence})

    for _, row in rows.iterrows():
        n, m_s, s_s = _num(row, "n"), _printed(row, "mean"), _printed(row, "sd")
        lo_s, md_s, hi_s = (_printed(row, c) for c in ("min", "median", "max"))
        if n is not None and n_max:
            add(row, "N within sample", n <= n_max, f"N = {n:,.0f} {'≤' if n <= n_max else '>'} {n_max:,}")
        if m_s is None or s_s is None:
            continue
        m_iv, s_iv = printed_interval(m_s), printed_interval(s_s)
        factor = n / (n - 1) if n and n > 1 else 1.0
        if lo_s is not None and hi_s is not None:
            a_iv, c_iv = (printed_interval(lo_s, integers_exact=True),
                          printed_interval(hi_s, integers_exact=True))
            ok = a_iv[0] <= m_iv[1] and m_iv[0] <= c_iv[1]
            if md_s is not None:
                md = printed_interval(md_s, integers_exact=True)
                ok = ok and a_iv[0] <= md[1] and md[0] <= c_iv[1]
            add(row, "order", ok, f"min {lo_s}, median {md_s or '—'}, mean {m_s}, max {hi_s}")
            # the bound is largest at the interval ends most favourable to the paper
            a, c = a_iv[0], c_iv[1]
            m_best = min(max((a + c) / 2, m_iv[0]), m_iv[1])
            bound = bhatia_davis_bound(m_best, a, c, n)
            ok = s_iv[0] <= bound
            add(row, "Bhatia-Davis", ok,
                f"a variable in [{lo_s}, {hi_s}] with mean {m_s} has s.d. at most {_fmt(bound)}; "
                f"printed {s_s}" + ("" if ok else f", {s_iv[0] / bound:.1f} times the bound"))
        kind = _kind(row)
        if kind == "binary":
            grid = np.linspace(m_iv[0], m_iv[1], 201)
            sds = np.concatenate([np.sqrt(grid * (1 - grid)), np.sqrt(grid * (1 - grid) * factor)])
            ok = bool(((sds >= s_iv[0]) & (sds <= s_iv[1])).any())
            add(row, "0/1 s.d.", ok,
                f"a 0/1 variable with mean {m_s} has s.d. in [{_fmt(sds.min())}, {_fmt(sds.max())}] "
                f"(denominator N or N − 1); printed {s_s}")
        if kind in ("binary", "count") and n:
            lo_k, hi_k = m_iv[0] * n, m_iv[1] * n
            k = math.ceil(lo_k - 1e-9)
            ok = k <= hi_k + 1e-9
            add(row, "GRIM", ok,
                f"mean × N in [{lo_k:,.2f}, {hi_k:,.2f}] "
                + (f"holds the integer {k:,}" if ok else "holds no integer"))
    return Audit(pd.DataFrame(out, columns=["table", "column", "term", "check", "verdict", "evidence"]),
                 source)
