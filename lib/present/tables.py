"""One presentation path for every table in the book.

Every table a chapter shows is a :class:`Table`: a frame of display strings
(index = row labels) with a title and notes. The book renders it as HTML
(``_repr_html_``); :meth:`Table.save` writes ``<name>.csv`` and ``<name>.tex``
to ``lib.outputs_dir() / "tables"`` and adds download links under the table.

Builders
--------
regression_table
    Economics convention (one column per model, coefficient with stars, t or
    s.e. in parentheses below, Controls / FE / N / R² rows), after
    linearmodels' ``compare`` and pyfixest's ``etable``.
comparison_table
    The results pages' "paper | book | truth" table with printed differences.
descriptive_table
    Summary statistics in the style of the paper's Table 3.
frame_table
    Any other frame (balance tables, printed tables ...).

Numbers are formatted by :func:`format_number` and :func:`format_stat` only.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy import stats as _stats

from lib.present.numbers import _is_missing, format_number
from lib.present.provenance import FROM_CHAPTER

#: What :func:`regression_table` reads of each model. A ``lib.methods.RegressionResult``
#: has all of it; the formatter reads results by these attributes and imports no estimator.
RESULT_FIELDS = ("params", "std_errors", "tstats", "pvalues", "nobs", "r2", "r2_kind", "vcov",
                 "fixed_effects", "controls")


def significance_stars(p: float, thresholds: tuple[float, ...] = (0.10, 0.05, 0.01)) -> str:
    """``*``, ``**``, ``***`` for p below each of ``thresholds`` (loosest first)."""
    if p is None or not np.isfinite(p):
        return ""
    return "*" * sum(p < t for t in thresholds)

__all__ = [
    "Table",
    "regression_table",
    "comparison_table",
    "comparison_row",
    "descriptive_table",
    "frame_table",
    "format_number",
    "format_stat",
    "format_pvalue",
    "star_legend",
    "COMPARISON_NOTE",
]

#: The sentence every paper | book | truth table carries.
COMPARISON_NOTE = ("book = this book's estimate on the data the page was built with (by default the "
                   "semi-synthetic panel); truth = the effect built into the semi-synthetic panel "
                   "(empty on a reader's own data); paper = the printed number.")

#: Where the book serves ``outputs/`` from, relative to a chapter page
#: (chapters live one folder below the book root; ``html_static_path`` copies
#: ``outputs/`` into ``_static/``).
STATIC_PREFIX = "../_static/"

MINUS = "\u2212"  # used in column headers ("Book − truth")


# --------------------------------------------------------------------------- formatting
_NUMERIC_CELL = re.compile(r"^[\s(\[+\-\u2212]*[0-9.,]+(e[+\-]?[0-9]+)?[)\]*%]*\s*$|^$")


def _is_text(value: Any) -> bool:
    """True for a cell that is words, not a (formatted) number: it is left-aligned."""
    return not _NUMERIC_CELL.match(str(value))


_STAT_DIGITS = {"t": 2, "z": 2, "p": 3}


def format_stat(value: Any, kind: str = "t", digits: int | None = None) -> str:
    """Format a statistic in parentheses, e.g. ``format_stat(7.8123, "t") -> "(7.81)"``.

    Parameters
    ----------
    value : float
        The statistic; NaN renders as ``""``.
    kind : {"t", "z", "se", "p"}
        t and z get 2 decimals, p 3, s.e. ``digits`` (default 4).
    digits : int, optional
        Override the decimals.
    """
    if _is_missing(value):
        return ""
    if kind not in ("t", "z", "se", "p"):
        raise ValueError(f"kind must be 't', 'z', 'se' or 'p', got {kind!r}")
    d = digits if digits is not None else _STAT_DIGITS.get(kind, 4)
    return f"({format_number(float(value), d, thousands=False)})"


def format_pvalue(p: Any, digits: int = 3) -> str:
    """``0.0004 -> "<0.001"``, ``0.0432 -> "0.043"``, NaN -> ``""``."""
    if _is_missing(p):
        return ""
    floor = 10 ** (-digits)
    return f"<{floor:.{digits}f}" if float(p) < floor else f"{float(p):.{digits}f}"


def _threshold(t: float) -> str:
    return f"{t:.2f}" if round(t, 2) == t else f"{t:g}"


def star_legend(stars: Sequence[float] = (0.10, 0.05, 0.01)) -> str:
    """``"* p<0.10, ** p<0.05, *** p<0.01"`` for the given thresholds (loosest first)."""
    return ", ".join(f"{'*' * (i + 1)} p<{_threshold(t)}" for i, t in enumerate(stars))


def _printed(x: Any) -> str:
    """A printed number as printed: shortest representation, no padding."""
    if _is_missing(x):
        return ""
    if isinstance(x, str):
        return x
    v = float(x)
    s = np.format_float_positional(v, trim="-")
    return "0" if s in ("-0", "0") else s


# --------------------------------------------------------------------------- Table
@dataclass
class Table:
    """A table ready to show and to save.

    Parameters
    ----------
    frame : pandas.DataFrame
        Display strings; the index holds the row labels (``frame.index.name``
        is the header of the label column).
    title : str, optional
        Caption (HTML ``<caption>``, LaTeX ``\\caption``).
    notes : list of str
        Notes printed under the table (star legend first where relevant).
    name : str, optional
        File stem; set by :meth:`save`.
    rules : tuple of int
        Row positions before which a horizontal rule is drawn (e.g. between
        coefficients and the Controls / FE / N block).
    row_classes : list of str, optional
        One CSS class per row (``"coef"``, ``"stat"``, ``"summary"`` ...).
    data : pandas.DataFrame, optional
        The numbers behind the display strings (for glue and checks).
    kind : str
        ``"regression"``, ``"comparison"``, ``"descriptive"`` or ``"frame"``
        (a CSS class ``book-table-<kind>``).
    details : pandas.DataFrame, optional
        More columns of the same rows (display strings), shown in the page as a second,
        collapsed table under the first so that the first fits the text column
        (``details_title`` says what they are); the CSV and LaTeX files hold both.
    """

    frame: pd.DataFrame
    title: str | None = None
    notes: list[str] = field(default_factory=list)
    name: str | None = None
    rules: tuple[int, ...] = ()
    row_classes: list[str] | None = None
    data: pd.DataFrame | None = None
    kind: str = "frame"
    paths: dict[str, Path] = field(default_factory=dict, repr=False)
    details: pd.DataFrame | None = None
    details_title: str = "More columns"

    def __post_init__(self) -> None:
        if isinstance(self.notes, str):
            self.notes = [self.notes]
        self.notes = [n for n in (self.notes or []) if n]
        self.frame = self.frame.astype(object).where(self.frame.notna(), "").astype(str)
        if self.details is not None:
            d = self.details.astype(object).where(self.details.notna(), "").astype(str)
            self.details = d if d.shape[1] else None

    @property
    def full_frame(self) -> pd.DataFrame:
        """The displayed columns and the collapsed ones, side by side (what the files hold)."""
        if self.details is None:
            return self.frame
        return pd.concat([self.frame, self.details.set_axis(self.frame.index)], axis=1)

    # ------------------------------------------------------------------ files
    def numbers(self) -> pd.DataFrame:
        """The numbers behind the table, as its CSV holds them: :attr:`data` where the builder
        kept it (numbers, not display strings; a regression table's long frame), else the
        displayed cells. The row labels are a column (``label``) when they are not already
        the frame's first column."""
        if self.data is None:
            out = self.full_frame.copy()
            out.index.name = self.frame.index.name or "label"
            return out.reset_index()
        out = self.data.copy()
        if isinstance(out.index, pd.RangeIndex):
            return out.reset_index(drop=True)
        names = [n if n is not None else ("label" if i == 0 else f"label_{i}")
                 for i, n in enumerate(out.index.names)]
        out.index.names = names
        return out.reset_index()

    def to_csv(self, path: str | Path, source: Any = None) -> Path:
        """Write :meth:`numbers` as UTF-8 CSV; return the path.

        ``source`` (a :class:`lib.present.provenance.DataSource`, a string, or ``None``) fills a
        last column ``data`` saying what the book's numbers were computed on, so that a
        downloaded file says it, too. Read it back with ``pd.read_csv(path)``.
        """
        from lib.present import provenance

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        out = self.numbers()
        described = provenance.resolve(source)
        if described is not None:
            out["data"] = described.text
        out.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        return path

    def to_latex(self, path: str | Path | None = None) -> str:
        """Booktabs LaTeX (``table`` + ``threeparttable``); write to ``path`` if given.

        Needs ``\\usepackage{booktabs,threeparttable}`` in the preamble. Written
        by hand (no jinja2/Styler): cells are escaped, stars become superscripts,
        a leading minus becomes ``$-$``.
        """
        frame = self.full_frame
        ncol = frame.shape[1]
        lines = ["% Generated by lib.present.tables; needs \\usepackage{booktabs,threeparttable}",
                 "\\begin{table}[htbp]", "\\centering"]
        if self.title:
            lines.append(f"\\caption{{{_latex_escape(self.title)}}}")
        if self.name:
            lines.append(f"\\label{{tab:{self.name}}}")
        lines += ["\\begin{threeparttable}", f"\\begin{{tabular}}{{l{'c' * ncol}}}", "\\toprule"]
        header = [_latex_escape(str(frame.index.name or ""))]
        header += [_latex_escape(str(c)) for c in frame.columns]
        lines.append(" & ".join(header) + " \\\\")
        lines.append("\\midrule")
        for i, (label, row) in enumerate(frame.iterrows()):
            if i in self.rules and i > 0:
                lines.append("\\midrule")
            cells = [_latex_escape(str(label))] + [_latex_cell(v) for v in row]
            lines.append(" & ".join(cells) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}"]
        if self.notes:
            lines += ["\\begin{tablenotes}[flushleft]", "\\footnotesize",
                      "\\item " + _latex_escape("Notes: " + " ".join(_sentence(n) for n in self.notes)),
                      "\\end{tablenotes}"]
        lines += ["\\end{threeparttable}", "\\end{table}"]
        text = "\n".join(lines) + "\n"
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return text

    def save(self, name: str | None = None, directory: str | Path | None = None, *,
             source: Any = FROM_CHAPTER) -> "Table":
        """Write ``<directory>/<name>.csv`` and ``.tex``; remember the name; return ``self``.

        ``directory`` defaults to ``lib.outputs_dir() / "tables"`` (created if
        needed). ``source`` says in the CSV's ``data`` column what the numbers were computed on:
        by default what the chapter's data loader declared (:mod:`lib.present.provenance`; on
        the default panel, that it is semi-synthetic); a string for real facts or printed
        numbers; ``None`` for nothing. Returning ``self`` lets a chapter cell end in
        ``regression_table(...).save("table4")`` and show the table with its download links.
        """
        from lib import output_folder

        name = name or self.name
        directory = output_folder(name, "tables", directory, example="save('table4_baseline')")
        self.name = name
        self.paths = {"csv": self.to_csv(directory / f"{name}.csv", source),
                      "tex": directory / f"{name}.tex"}
        self.to_latex(self.paths["tex"])
        return self

    # ------------------------------------------------------------------ display
    def download_links(self) -> dict[str, str]:
        """Relative URLs of the saved files as seen from a chapter page ({} before save).

        A file saved under ``<ROOT>/outputs/`` is linked at the same relative
        place under ``../_static/``; anything else (a run-specific folder, a
        test's tmp dir) is linked as ``../_static/tables/<file>``.
        """
        if not self.paths:
            return {}
        from lib import BOOK_OUTPUTS

        out = {}
        for kind, path in self.paths.items():
            try:
                rel = Path(path).resolve().relative_to(BOOK_OUTPUTS.resolve()).as_posix()
            except ValueError:
                rel = f"tables/{Path(path).name}"
            out[kind] = STATIC_PREFIX + rel
        return out

    def _html_table(self, frame: pd.DataFrame, caption: str | None) -> list[str]:
        esc = html.escape
        parts = [f'<table class="book-table book-table-{esc(self.kind)}">']
        if caption:
            parts.append(f"<caption>{esc(caption)}</caption>")
        head = [f'<th scope="col">{esc(str(frame.index.name or ""))}</th>']
        head += [f'<th scope="col">{esc(str(c))}</th>' for c in frame.columns]
        parts.append("<thead><tr>" + "".join(head) + "</tr></thead>")
        parts.append("<tbody>")
        classes = self.row_classes or [""] * len(frame)
        for i, (label, row) in enumerate(frame.iterrows()):
            cls = [classes[i]] if classes[i] else []
            if i in self.rules and i > 0:
                cls.append("book-table-rule")
            attr = f' class="{" ".join(cls)}"' if cls else ""
            cells = [f'<th scope="row">{esc(str(label))}</th>']
            cells += [f'<td class="text">{esc(str(v))}</td>' if _is_text(v) else f"<td>{esc(str(v))}</td>"
                      for v in row]
            parts.append(f"<tr{attr}>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
        return parts

    def to_html(self) -> str:
        """A ``<table class="book-table ...">`` with caption, the collapsed ``details`` table (if
        any) under it, and the notes."""
        esc = html.escape
        parts = ['<div class="book-table-wrapper">', *self._html_table(self.frame, self.title)]
        if self.details is not None:
            parts += [f'<details class="book-table-details"><summary>{esc(self.details_title)}</summary>',
                      *self._html_table(self.details.set_axis(self.frame.index), None), "</details>"]
        if self.notes:
            parts.append('<p class="book-table-notes">Notes: '
                         + esc(" ".join(_sentence(n) for n in self.notes)) + "</p>")
        parts.append("</div>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        out = self.to_html()
        links = self.download_links()
        if links:
            out += ('\n<p class="book-table-downloads">Download: '
                    f'<a href="{html.escape(links["csv"])}">CSV</a> · '
                    f'<a href="{html.escape(links["tex"])}">LaTeX</a></p>')
        return out

    def __repr__(self) -> str:
        parts = [self.title] if self.title else []
        parts.append(self.frame.to_string())
        if self.notes:
            parts.append("Notes: " + " ".join(_sentence(n) for n in self.notes))
        return "\n".join(parts)

    __str__ = __repr__


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    MINUS: "$-$", "²": "$^2$", "×": r"$\times$", "·": r"$\cdot$", "≤": r"$\leq$",
    "≥": r"$\geq$", "–": "--", "—": "---", "α": r"$\alpha$", "β": r"$\beta$",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))


def _latex_escape(text: str) -> str:
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group(0)], text)


def _latex_cell(value: str) -> str:
    m = re.match(r"^(.*?)(\*+)$", value)
    body, stars = (m.group(1), m.group(2)) if m else (value, "")
    body = _latex_escape(body)
    body = re.sub(r"(^|[\s(\[])-(?=\d)", r"\1$-$", body)
    return body + (f"$^{{{stars}}}$" if stars else "")


# --------------------------------------------------------------------------- regression_table
def _fe_label(name: str) -> str:
    return f"{name[:1].upper()}{name[1:]} FE"


def _row_values(spec: Any, models: list[str], what: str) -> list[Any]:
    if isinstance(spec, Mapping):
        unknown = set(spec) - set(models)
        if unknown:
            raise KeyError(f"{what}: models {sorted(unknown)} are not columns of this table; "
                           f"columns are {models}")
        return [spec.get(m) for m in models]
    values = list(spec)
    if len(values) != len(models):
        raise ValueError(f"{what}: {len(values)} values for {len(models)} models; "
                         f"pass one value per model or a dict keyed by model name")
    return values


def regression_table(
    results: Mapping[str, Any],
    *,
    keep: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    stat: str = "t",
    stars: Sequence[float] | None = (0.10, 0.05, 0.01),
    digits: int = 4,
    stats: Sequence[str] = ("N", "R2"),
    fe_rows: Mapping[str, str] | Sequence[str] | bool | None = None,
    controls_row: bool = True,
    extra_rows: Mapping[str, Mapping[str, Any] | Sequence[Any]] | None = None,
    notes: str | Sequence[str] | None = None,
    title: str | None = None,
) -> Table:
    """Regression table in the economics convention, one column per model.

    Parameters
    ----------
    results : dict of str to RegressionResult
        Column header -> fitted model, e.g. ``{"(1)": r1, "(2)": r2}``.
    keep : list of str, optional
        Terms to show, in this order (default: every term, in order of first
        appearance). A term absent from every model raises ``KeyError``.
    labels : dict, optional
        Term -> row label (e.g. ``{"CBEC": "CBEC pilot × post"}``).
    stat : {"t", "se"}
        Statistic in parentheses under each coefficient (t shows "z" wording
        when every model uses normal inference).
    stars : tuple of float or None
        p-value thresholds, loosest first; ``None`` or ``()`` for no stars.
    digits : int
        Decimals of coefficients, standard errors and R².
    stats : tuple of str
        Summary rows: ``"N"`` (thousands separator), ``"R2"`` (labelled with
        its kind, e.g. "R² (within)"), ``"dropped"`` (``n_dropped``) or any
        key of ``result.extra`` (e.g. ``"n_clusters"``).
    fe_rows : dict, list, bool or None
        ``None``: one "<Name> FE" Yes/No row per effect absorbed in any model;
        a list restricts/orders them; a dict maps effect -> row label;
        ``False`` drops FE rows.
    controls_row : bool
        Add a "Controls" Yes/No row from ``result.controls`` (omitted when no
        model says).
    extra_rows : dict, optional
        Row label -> values (dict keyed by model, or a list in model order),
        appended after the summary rows.
    notes : str or list of str, optional
        Extra notes after the star/statistic/inference legend.
    title : str, optional
        Caption.

    Returns
    -------
    Table
        ``.data`` holds the long frame (model, term, estimate, std_error, t, p, stars, nobs,
        r2, r2_kind, vcov), which is what its CSV holds.

    Notes
    -----
    The first note reads "* p<0.10, ** p<0.05, *** p<0.01; t-statistics in
    parentheses; inference: <result.vcov>". p-values are the results' own
    (t with ``dof_resid`` or normal).

    Examples
    --------
    >>> regression_table({"(1)": r1, "(2)": r2}, keep=["CBEC"],
    ...                  title="Table 4. Baseline").save("table4")  # doctest: +SKIP
    """
    if not results:
        raise ValueError("regression_table needs at least one result, e.g. {'(1)': res}")
    if stat not in ("t", "se"):
        raise ValueError(f"stat must be 't' or 'se', got {stat!r}")
    models = [str(m) for m in results]
    res = list(results.values())
    for m, r in zip(models, res):
        lacking = [a for a in RESULT_FIELDS if not hasattr(r, a)]
        if lacking:
            raise TypeError(f"model {m!r} is a {type(r).__name__}, not a regression result "
                            f"(it lacks {', '.join(lacking)}); pass lib.methods.RegressionResult objects")
    labels = dict(labels or {})
    thresholds = tuple(stars or ())

    all_terms: list[str] = []
    for r in res:
        all_terms += [t for t in r.params.index if t not in all_terms]
    if keep is None:
        terms = all_terms
    else:
        terms = list(keep)
        missing = [t for t in terms if t not in all_terms]
        if missing:
            raise KeyError(f"keep: terms {missing} are in none of the {len(res)} models; "
                           f"terms available: {all_terms}")

    rows: list[tuple[str, list[str], str]] = []
    long = []
    for term in terms:
        coef_cells, stat_cells = [], []
        for m, r in zip(models, res):
            if term not in r.params.index:
                coef_cells.append("")
                stat_cells.append("")
                continue
            b, se = float(r.params[term]), float(r.std_errors[term])
            t, p = float(r.tstats[term]), float(r.pvalues[term])
            long.append({"model": m, "term": term, "estimate": b, "std_error": se, "t": t, "p": p,
                         "stars": significance_stars(p, thresholds), "nobs": int(r.nobs),
                         "r2": float(r.r2), "r2_kind": r.r2_kind, "vcov": r.vcov})
            coef_cells.append(format_number(b, digits, thousands=False)
                              + significance_stars(p, thresholds))
            stat_cells.append(format_stat(t, "t") if stat == "t" else format_stat(se, "se", digits))
        rows.append((labels.get(term, term), coef_cells, "coef"))
        rows.append(("", stat_cells, "stat"))
    n_coef_rows = len(rows)

    if controls_row and any(r.controls is not None for r in res):
        rows.append(("Controls", [format_number(r.controls) for r in res], "summary"))

    if fe_rows is not False:
        present: list[str] = []
        for r in res:
            present += [fe for fe in r.fixed_effects if fe not in present]
        if fe_rows is None or fe_rows is True:
            fe_map = {fe: _fe_label(fe) for fe in present}
        elif isinstance(fe_rows, Mapping):
            fe_map = dict(fe_rows)
        else:
            fe_map = {fe: _fe_label(fe) for fe in fe_rows}
        for fe, label in fe_map.items():
            rows.append((label, ["Yes" if fe in r.fixed_effects else "No" for r in res], "summary"))

    for s in stats:
        key = s.lower().replace("²", "2")
        if key in ("n", "nobs"):
            rows.append(("N", [format_number(int(r.nobs)) for r in res], "summary"))
        elif key in ("r2", "r2 within", "r2_within"):
            kinds = {r.r2_kind for r in res}
            if len(kinds) == 1:
                rows.append((f"R² ({kinds.pop()})", [format_number(r.r2, digits) for r in res],
                             "summary"))
            else:
                rows.append(("R²", [(format_number(r.r2, digits) + f" ({r.r2_kind})")
                                    if np.isfinite(r.r2) else "" for r in res], "summary"))
        elif key in ("dropped", "n_dropped"):
            rows.append(("N dropped", [format_number(int(r.n_dropped)) for r in res], "summary"))
        else:
            if not any(s in r.extra for r in res):
                raise KeyError(f"stats: {s!r} is not a built-in stat ('N', 'R2', 'dropped') and "
                               f"no model has it in .extra; pass it via extra_rows instead")
            rows.append((s, [format_number(r.extra.get(s), digits) for r in res], "summary"))

    for label, spec in (extra_rows or {}).items():
        values = _row_values(spec, models, f"extra_rows[{label!r}]")
        rows.append((label, [format_number(v, digits) for v in values], "summary"))

    frame = pd.DataFrame([cells for _, cells, _ in rows], columns=models,
                         index=pd.Index([label for label, _, _ in rows], name=""))

    all_z = all(r.dof_resid is None for r in res)
    stat_words = ("z-statistics" if all_z else "t-statistics") if stat == "t" else "standard errors"
    legend = [star_legend(thresholds)] if thresholds else []
    legend.append(f"{stat_words} in parentheses")
    vcovs = [r.vcov for r in res]
    if any(vcovs):
        if len(set(vcovs)) == 1:
            legend.append(f"inference: {vcovs[0]}")
        else:
            legend.append("inference: " + "; ".join(f"{m} {v or 'n/a'}" for m, v in zip(models, vcovs)))
    all_notes = ["; ".join(legend)] + _as_list(notes)

    return Table(frame=frame, title=title, notes=all_notes,
                 rules=(n_coef_rows,) if n_coef_rows < len(rows) else (),
                 row_classes=[c for _, _, c in rows], data=pd.DataFrame(long),
                 kind="regression")


def _as_list(notes: str | Sequence[str] | None) -> list[str]:
    if notes is None:
        return []
    if isinstance(notes, str):
        return [notes]
    return list(notes)


# --------------------------------------------------------------------------- comparison_table
def comparison_row(quantity: str, result: Any = None, term: str | None = None,
                   *, paper: Mapping[str, Any] | float | None = None, truth: float | None = None,
                   book: float | None = None, book_se: float | None = None,
                   book_p: float | None = None) -> dict[str, Any]:
    """One row for :func:`comparison_table`.

    Parameters
    ----------
    quantity : str
        Row label, e.g. ``"Table 4 (2): CBEC"``.
    result, term : RegressionResult and str, optional
        Fill ``book``, ``book_se``, ``book_p`` and ``book_n`` from ``result.coef(term)``.
    paper : dict or float, optional
        A float, or the dict of :func:`lib.data.published.published_estimate`
        (printed estimate string, stars, statistic and N are carried over).
    truth : float, optional
        The effect built into the panel.
    book, book_se, book_p : float, optional
        Explicit book numbers (for estimators that do not return a result).
    """
    row: dict[str, Any] = {"quantity": quantity, "truth": truth}
    if result is not None:
        if term is None:
            raise ValueError(f"comparison_row({quantity!r}): pass term= with result=")
        c = result.coef(term)
        row.update(book=c["estimate"], book_se=c["std_error"], book_p=c["p"], book_n=c["nobs"])
    if book is not None:
        row["book"] = book
    if book_se is not None:
        row["book_se"] = book_se
    if book_p is not None:
        row["book_p"] = book_p
    if isinstance(paper, Mapping):
        row["paper"] = paper.get("estimate")
        row["paper_printed"] = paper.get("estimate_printed")
        printed_stars = paper.get("stars") or ""
        kind, value = paper.get("stat_kind") or "", paper.get("stat_printed") or paper.get("stat")
        row["paper_stat"] = _paper_stat(value, kind)
        if printed_stars and set(printed_stars) != {"*"}:  # e.g. "p<0.01" printed in the text
            row["paper_stat"] = "; ".join(x for x in (row["paper_stat"], printed_stars) if x)
            printed_stars = ""
        row["paper_stars"] = printed_stars
        if paper.get("star_convention"):
            row["paper_star_convention"] = paper["star_convention"]
        if paper.get("n") is not None:
            row["paper_n"] = paper.get("n")
    else:
        row["paper"] = paper
    return row


_KIND_WORDS = {"se": "s.e.", "t": "t", "z": "z", "p": "p"}


def _paper_stat(value: Any, kind: str) -> str:
    if _is_missing(value) or value == "":
        return ""
    word = _KIND_WORDS.get(kind, kind)
    return f"{word} = {_printed(value)}" if word else _printed(value)


def comparison_table(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, *, title: str | None = None,
                     notes: str | Sequence[str] | None = None, digits: int = 4,
                     stars: Sequence[float] | None = (0.10, 0.05, 0.01),
                     panel_note: str = COMPARISON_NOTE) -> Table:
    """The results pages' "paper | book | truth" table.

    Parameters
    ----------
    rows : list of dict or DataFrame
        One per quantity, with keys ``quantity``, ``paper`` (printed estimate,
        may be NaN), ``paper_stat`` (e.g. ``"t = 7.81"``), ``book``,
        ``book_se``, optional ``book_p``, ``truth`` (may be NaN); optional
        ``paper_printed`` (display string), ``paper_stars``, ``paper_n``,
        ``book_n``. :func:`comparison_row` builds them.
    title, notes : optional
        Caption and extra notes.
    digits : int
        Decimals of book, s.e., truth and differences. The paper column is
        shown as printed.
    stars : tuple of float or None
        Thresholds for the stars on the book estimate (from ``book_p``; where
        ``book_p`` is missing, from a normal approximation to book / book_se,
        and the note says so).
    panel_note : str
        What book / truth / paper mean (default :data:`COMPARISON_NOTE`);
        change it only when the book runs on other data.

    Returns
    -------
    Table
        Columns Paper, Paper stat, Book, Book s.e., Truth, Book − truth,
        Book − paper (plus Paper N / Book N when given), without the paper columns
        when no row has a paper value and without the truth columns when no row has
        a truth; ``.data`` holds the numbers, including ``book_minus_truth`` and
        ``book_minus_paper``.
    """
    df = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows.copy()
    if df.empty:
        raise ValueError("comparison_table needs at least one row")
    if "quantity" not in df.columns:
        if df.index.name == "quantity" or not isinstance(df.index, pd.RangeIndex):
            df = df.reset_index().rename(columns={df.index.name or "index": "quantity"})
        else:
            raise KeyError(f"comparison_table: rows need a 'quantity' column; got {list(df.columns)}")
    if "book" not in df.columns:
        raise KeyError(f"comparison_table: rows need a 'book' column; got {list(df.columns)}")
    for col in ("paper", "book_se", "book_p", "truth", "book_n", "paper_n"):
        if col not in df.columns:
            df[col] = np.nan
        df[col] = pd.to_numeric(df[col], errors="coerce")
    for col in ("paper_stat", "paper_printed", "paper_stars"):
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].where(df[col].notna(), "").astype(str)
    df["book"] = pd.to_numeric(df["book"], errors="coerce")
    thresholds = tuple(stars or ())

    approx = df["book_p"].isna() & df["book_se"].notna() & df["book"].notna()
    p = df["book_p"].copy()
    p[approx] = 2 * _stats.norm.sf((df.loc[approx, "book"] / df.loc[approx, "book_se"]).abs())
    df["book_minus_truth"] = df["book"] - df["truth"]
    df["book_minus_paper"] = df["book"] - df["paper"]

    out = pd.DataFrame(index=pd.Index(df["quantity"].astype(str), name=""))
    out["Paper"] = [(pr if pr else _printed(v)) + (st if not _is_missing(v) or pr else "")
                    for v, pr, st in zip(df["paper"], df["paper_printed"], df["paper_stars"])]
    out["Paper stat"] = df["paper_stat"].to_numpy()
    show_n = df["paper_n"].notna().any() or df["book_n"].notna().any()
    if show_n:
        out["Paper N"] = [format_number(int(v)) if pd.notna(v) else "" for v in df["paper_n"]]
    out["Book"] = [format_number(b, digits, thousands=False)
                   + (significance_stars(pp, thresholds) if pd.notna(b) else "")
                   for b, pp in zip(df["book"], p)]
    out["Book s.e."] = [format_number(v, digits, thousands=False) for v in df["book_se"]]
    if show_n:
        out["Book N"] = [format_number(int(v)) if pd.notna(v) else "" for v in df["book_n"]]
    out["Truth"] = [format_number(v, digits, thousands=False) for v in df["truth"]]
    out[f"Book {MINUS} truth"] = [format_number(v, digits, sign=True, thousands=False)
                                  for v in df["book_minus_truth"]]
    out[f"Book {MINUS} paper"] = [format_number(v, digits, sign=True, thousands=False)
                                  for v in df["book_minus_paper"]]

    # a column with nothing in it says nothing: on a reader's panel there is no paper and no truth
    has_paper = df["paper"].notna().any() or (df["paper_printed"] != "").any() or (df["paper_stat"] != "").any()
    if not has_paper:
        out = out.drop(columns=["Paper", "Paper stat", f"Book {MINUS} paper"]
                       + (["Paper N"] if "Paper N" in out and not df["paper_n"].notna().any() else []))
    if not df["truth"].notna().any():
        out = out.drop(columns=["Truth", f"Book {MINUS} truth"])
    legend = panel_note
    if panel_note == COMPARISON_NOTE and not (has_paper or df["truth"].notna().any()):
        # only the book's column is left: say what it is, not what the dropped columns were
        legend = "book = this book's estimate on the data the page was built with."
    if thresholds:
        legend_stars = f"Stars on book: {star_legend(thresholds)}"
        if approx.any():
            legend_stars += " (normal approximation to book / s.e. where no p-value was supplied)"
        conventions = sorted({c for c in df.get("paper_star_convention", pd.Series(dtype=str))
                              if isinstance(c, str) and c})
        if has_paper:
            legend_stars += "; paper stars as printed" + (
                f" (paper's convention: {'; '.join(conventions)})" if conventions else "")
    all_notes = [legend] + ([legend_stars] if thresholds else []) + _as_list(notes)
    data = df.set_index("quantity")[["paper", "paper_stars", "paper_stat", "paper_n", "book", "book_se",
                                     "book_p", "book_n", "truth", "book_minus_truth",
                                     "book_minus_paper"]].copy()
    data["book_p"] = p.to_numpy()
    data.insert(data.columns.get_loc("book_p") + 1, "book_stars",
                [significance_stars(pp, thresholds) if pd.notna(b) else "" for b, pp in zip(df["book"], p)])
    # what the page does not show (no paper, no truth on a reader's panel) the file does not hold
    if not has_paper:
        data = data.drop(columns=["paper", "paper_stars", "paper_stat", "paper_n", "book_minus_paper"])
    for empty, group in ((df["truth"].isna().all(), ["truth", "book_minus_truth"]),
                         (df["book_n"].isna().all(), ["book_n"])):
        if empty:
            data = data.drop(columns=group)
    # what a reader compares first stays in view; the printed statistic, the Ns and book - paper
    # are one click away, so that the table fits the text column
    main = [c for c in ("Paper", "Book", "Book s.e.", "Truth", f"Book {MINUS} truth") if c in out]
    rest = [c for c in out.columns if c not in main]
    what = [w for c, w in (("Paper stat", "the paper's statistic"), ("Paper N", "Ns"),
                           (f"Book {MINUS} paper", f"book {MINUS} paper")) if c in rest]
    if "Paper N" not in rest and "Book N" in rest:
        what.append("N")
    return Table(frame=out[main], title=title, notes=all_notes, data=data, kind="comparison",
                 details=out[rest] if rest else None,
                 details_title=("More columns: " + ", ".join(what)) if what else "More columns")


# --------------------------------------------------------------------------- descriptive / frame
_DESCRIPTIVE = {
    "N": ("N", lambda s: int(s.notna().sum())),
    "mean": ("Mean", lambda s: s.mean()),
    "sd": ("S.D.", lambda s: s.std(ddof=1)),
    "min": ("Min", lambda s: s.min()),
    "p25": ("P25", lambda s: s.quantile(0.25)),
    "median": ("Median", lambda s: s.median()),
    "p75": ("P75", lambda s: s.quantile(0.75)),
    "max": ("Max", lambda s: s.max()),
}


def descriptive_table(df: pd.DataFrame, variables: Sequence[str], labels: Mapping[str, str] | None = None,
                      stats: Sequence[str] = ("N", "mean", "sd", "min", "median", "max"), *,
                      digits: int = 4, title: str | None = None,
                      notes: str | Sequence[str] | None = None) -> Table:
    """Summary statistics, one row per variable (the paper's Table 3 layout).

    Parameters
    ----------
    df : DataFrame
        The panel.
    variables : list of str
        Columns to describe, in order; a missing column raises ``KeyError``.
    labels : dict, optional
        Column -> row label.
    stats : tuple of str
        Any of ``N, mean, sd, min, p25, median, p75, max``. ``sd`` uses
        ``ddof=1``; N counts non-missing values.
    digits : int
        Decimals.
    """
    missing = [v for v in variables if v not in df.columns]
    if missing:
        raise KeyError(f"descriptive_table: columns {missing} not in the frame "
                       f"({len(df.columns)} columns: {list(df.columns)})")
    bad = [s for s in stats if s not in _DESCRIPTIVE]
    if bad:
        raise ValueError(f"descriptive_table: unknown stats {bad}; choose from {list(_DESCRIPTIVE)}")
    labels = dict(labels or {})
    data = pd.DataFrame({s: [_DESCRIPTIVE[s][1](pd.to_numeric(df[v], errors="coerce"))
                             for v in variables] for s in stats},
                        index=pd.Index(list(variables), name="variable"))
    frame = pd.DataFrame({_DESCRIPTIVE[s][0]: [format_number(x, digits) for x in data[s]]
                          for s in stats},
                         index=pd.Index([labels.get(v, v) for v in variables], name="Variable"))
    return Table(frame=frame, title=title, notes=_as_list(notes), data=data, kind="descriptive")


def sample_table(results: Mapping[str, Any], *, title: str | None = None,
                 notes: str | Sequence[str] | None = None) -> Table:
    """What each model used and dropped: N, rows dropped, why, clusters.

    Nothing is dropped silently: this table sits under every regression
    table whose models lost rows to missing values or singletons.
    """
    frame = pd.DataFrame({
        "N": {k: r.nobs for k, r in results.items()},
        "rows dropped": {k: r.n_dropped for k, r in results.items()},
        "why": {k: ", ".join(f"{c}: {n:,}" for c, n in r.drop_reasons.items()) or "none"
                for k, r in results.items()},
        "clusters": {k: r.extra.get("n_clusters", np.nan) for k, r in results.items()},
    })
    frame.index.name = "model"
    return frame_table(frame, title=title, notes=notes)


#: Headers for the column names the book's frames use (``header_label``); any other name has
#: its underscores turned into spaces, so that a header can wrap.
HEADER_LABELS: dict[str, str] = {
    "event_time": "event time", "estimate": "estimate", "std_error": "s.e.", "se": "s.e.",
    "ci_lower": "95% CI lower", "ci_upper": "95% CI upper", "band_lower": "band lower",
    "band_upper": "band upper", "n_treated": "treated N", "nobs": "N", "pseudo_r2": "pseudo-R²",
    "lr_chi2": "LR χ²", "lr_p": "LR p", "mean_abs_bias": "mean |bias| %",
    "median_abs_bias": "median |bias| %", "rubin_B": "Rubin's B", "rubin_R": "Rubin's R",
    "twfe_weight": "TWFE weight", "p_value": "p", "t_stat": "t",
}


def header_label(name: Any) -> str:
    """A column or index name as a table header: :data:`HEADER_LABELS`, else underscores as spaces."""
    name = str(name)
    return HEADER_LABELS.get(name, name.replace("_", " "))


def frame_table(df: pd.DataFrame, title: str | None = None, notes: str | Sequence[str] | None = None,
                float_format: str | Callable[[float], str] | Mapping[str, Any] | None = None, *,
                digits: int = 4, index: bool = True, name: str | None = None,
                collapse: Sequence[str] = (), collapse_title: str | None = None,
                numbers: pd.DataFrame | None = None) -> Table:
    """Any frame as a book :class:`Table` (balance tables, printed tables ...).

    Parameters
    ----------
    df : DataFrame
        Numbers, strings or both; NaN renders empty, integers get thousands
        separators.
    title, notes : optional
        Caption and notes.
    float_format : str, callable or dict, optional
        ``"{:.3f}"``-style string or callable for all float cells, or a dict
        column -> format; default :func:`format_number` with ``digits``.
    digits : int
        Decimals for the default float format.
    index : bool
        Keep the index as row labels (else rows are unlabelled).
    name : str, optional
        File stem to use on :meth:`Table.save`.
    collapse : sequence of str
        Columns shown in a collapsed second table under the first (``collapse_title`` names
        them), so that the first fits the text column; the files hold all columns.
    numbers : DataFrame, optional
        What the CSV holds when ``df`` has cells that are text made of numbers (an
        "estimate (s.e.)" cell): the same rows with the numbers in columns of their own.
        Default ``df`` itself.

    Headers are :func:`header_label` of the column names (snake_case becomes words that wrap).
    """
    def formatter(col: Any) -> Callable[[Any], str]:
        spec = float_format.get(col) if isinstance(float_format, Mapping) else float_format
        if spec is None:
            return lambda x: format_number(x, digits)
        f = spec.format if isinstance(spec, str) else spec

        def fmt(x: Any) -> str:
            if _is_missing(x):
                return ""
            if isinstance(x, (float, np.floating)):
                return f(x)
            return format_number(x, digits)
        return fmt

    out = pd.DataFrame({c: [formatter(c)(x) for x in df[c].tolist()] for c in df.columns},
                       index=df.index if index else pd.Index([""] * len(df)))
    out.columns = [header_label(c) for c in df.columns]
    if index and isinstance(df.index, pd.MultiIndex):
        out.index = pd.Index([", ".join(format_number(v, digits) for v in tup) for tup in df.index])
        out.index.name = ", ".join(header_label(n) for n in df.index.names if n is not None)
    else:
        out.index = out.index.map(lambda x: format_number(x, digits))
        out.index.name = header_label(df.index.name) if index and df.index.name is not None else ""
    collapse = [header_label(c) for c in collapse]
    missing = [c for c in collapse if c not in out.columns]
    if missing:
        raise KeyError(f"frame_table: columns to collapse {missing} are not in the table")
    main = [c for c in out.columns if c not in collapse]
    return Table(frame=out[main], title=title, notes=_as_list(notes), name=name,
                 data=(df if numbers is None else numbers).copy(),
                 kind="frame", details=out[collapse] if collapse else None,
                 details_title=collapse_title or ("More columns: " + ", ".join(collapse)))
