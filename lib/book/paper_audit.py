"""What the paper-audit appendix cites: both papers' printed tables audited, or a reader's.

:func:`audit_papers` runs :mod:`lib.methods.paper_audit` on the two papers' transcriptions
(each with the conventions its notes state, :data:`lib.data.published.NOTES_CONVENTION`) or
on a reader's CSV; :func:`audit_values` turns the findings into the sentences and numbers the
page glues; :func:`summary_table` and :func:`findings_table` are its tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lib.book.chapter import Cited, and_list
from lib.methods import paper_audit as PA

__all__ = ["PaperAudits", "audit_papers", "audit_values", "reading", "summary_table",
           "findings_table", "parse_stars"]

#: The two papers, as the page names them.
PAPER_NAMES = {"cbec": "the main paper", "fdi": "the companion paper"}


@dataclass(frozen=True)
class PaperAudits:
    """One :class:`~lib.methods.paper_audit.Audit` per audited set of tables, by name."""

    audits: dict[str, PA.Audit]
    source: str
    reader: bool = False
    settings: dict[str, dict] = field(default_factory=dict)


def parse_stars(text: str) -> tuple[float, ...] | None:
    """``"0.05,0.01,0.001"`` as levels; empty for none. Anything else raises, naming the fix."""
    text = str(text or "").strip()
    if not text:
        return None
    try:
        levels = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"stars = {text!r}: give the significance levels the table's notes state, "
                         "separated by commas, loosest first (-p stars 0.10,0.05,0.01), or '' for none")
    if not all(0 < x < 1 for x in levels):
        raise ValueError(f"stars = {text!r}: every level must be between 0 and 1")
    return levels


def _n_max_of(descriptives: pd.DataFrame) -> int | None:
    """The stated sample's size: the largest N the paper's descriptive table prints."""
    n = pd.to_numeric(descriptives.get("n", pd.Series(dtype=str)).replace("", None), errors="coerce")
    return int(n.max()) if n.notna().any() else None


def audit_papers(estimates_path: str = "", descriptives_path: str = "", *, stars: str = "",
                 claimed_stat: str = "", n_max: int = 0, dof: float = 0) -> PaperAudits:
    """Audit both papers' printed tables (no path given) or a reader's table.

    For the papers the notes' conventions are used and N is held to the largest N their
    descriptive tables print; for a reader's CSV, ``stars`` (levels, ``""`` for none stated),
    ``claimed_stat`` (``"se"``, ``"t"`` or ``""``), ``n_max`` (0: unknown) and ``dof`` (0: normal
    reference) are the reader's.
    """
    from lib.data import published

    if claimed_stat not in ("", "se", "t"):
        raise ValueError(f"claimed_stat = {claimed_stat!r}: what the notes say the parenthesised "
                         "numbers are, 'se' or 't', or '' if they do not say")
    if not (estimates_path or descriptives_path):
        audits, settings = {}, {}
        for paper, name in PAPER_NAMES.items():
            conv = published.NOTES_CONVENTION[paper]
            desc = published.printed_rows("published_descriptives", paper)
            nmax = _n_max_of(desc)
            est = published.printed_rows("published_estimates", paper)
            audits[name] = (PA.audit_table(est, stars=conv["stars"], claimed_stat=conv["parentheses"],
                                           n_max=nmax, dof=dof or None)
                            + PA.audit_descriptives(desc.assign(table="descriptives"), n_max=nmax))
            settings[name] = {"stars": conv["stars"], "claimed_stat": conv["parentheses"], "n_max": nmax}
        return PaperAudits(audits, published.PRINTED_SOURCE, False, settings)

    levels = parse_stars(stars)
    audit = PA.Audit(pd.DataFrame(columns=["table", "column", "term", "check", "verdict", "evidence"]))
    files = []
    if estimates_path:
        audit = audit + PA.audit_table(PA.read_printed(estimates_path), stars=levels,
                                       claimed_stat=claimed_stat or None, n_max=n_max or None,
                                       dof=dof or None)
        files.append(Path(estimates_path).name)
    if descriptives_path:
        desc = PA.read_printed(descriptives_path, kind="descriptives")
        if "table" not in desc.columns:
            desc = desc.assign(table="descriptives")
        audit = audit + PA.audit_descriptives(desc, n_max=n_max or None)
        files.append(Path(descriptives_path).name)
    name = f"your table{'s' if len(files) > 1 else ''} ({', '.join(files)})"
    source = f"the reader's printed table{'s' if len(files) > 1 else ''} {', '.join(files)}; nothing computed"
    return PaperAudits({name: audit}, source, True,
                       {name: {"stars": levels, "claimed_stat": claimed_stat or None, "n_max": n_max or None}})


def _where(row: pd.Series) -> str:
    table, column, term = str(row["table"]), str(row["column"]), str(row["term"])
    if table == "descriptives":
        return f"the descriptive statistics' {term}"
    where = f"Table {table}" if table and table != "text" else "the text"
    if column:
        where += f" ({column})"
    if term and not term.startswith("("):
        where += f", {term}"
    return where


def reading(audit: PA.Audit, name: str) -> str:
    """The audit of one set of tables in sentences: each check that fails, in how many rows,
    with its first piece of evidence; then the checks that pass everywhere; then what could
    not be checked."""
    s = audit.summary
    if s.empty or s["checked"].sum() == 0:
        return (f"Nothing in {name} can be checked: the tables print no statistic, N or bounds "
                "that the identities need.")
    failing = s[s["inconsistent"] > 0]
    out = []
    for check, r in failing.iterrows():
        first = audit.inconsistencies[audit.inconsistencies["check"] == check].iloc[0]
        rows = "row" if r["checked"] == 1 else "rows"
        out.append(f"**{check}** fails in {r['inconsistent']} of {r['checked']} {rows} checked "
                   f"({_where(first)}: {first['evidence']})")
    passing = [c for c, r in s.iterrows() if r["checked"] > 0 and r["inconsistent"] == 0]
    listed = and_list([f"*{c}*" for c in passing])
    if out:
        text = f"In {name}, " + "; ".join(out) + "."
        if passing:
            text += f" {listed[:2].upper()}{listed[2:]} hold in every row checked."
    else:
        text = (f"In {name}, every check the printed numbers allow passes: {listed} "
                f"({int(s['checked'].sum())} rows checked).")
    unchecked = [c for c, r in s.iterrows() if r["checked"] == 0 and r["not checkable"] > 0]
    if unchecked:
        text += (f" Not checkable from what is printed: {and_list([f'*{c}*' for c in unchecked])} "
                 "(the findings table says why, row by row).")
    return text


def audit_values(audits: PaperAudits) -> Cited:
    """The page's glue: a reading per audited set (Markdown, for ``{glue:md}``), the counts, and
    one record per set."""
    from IPython.display import Markdown

    values, records = {}, {}
    for i, (name, audit) in enumerate(audits.audits.items()):
        s = audit.summary
        values[f"audit_reading_{i}"] = Markdown(reading(audit, name))
        values[f"audit_checked_{i}"] = int(s["checked"].sum()) if not s.empty else 0
        values[f"audit_inconsistent_{i}"] = int(s["inconsistent"].sum()) if not s.empty else 0
        records[f"printed-table inconsistencies, {name}"] = dict(
            estimate=float(values[f"audit_inconsistent_{i}"]), nobs=values[f"audit_checked_{i}"])
    values["audit_sets"] = and_list(list(audits.audits))
    return Cited(values, records)


def summary_table(audits: PaperAudits):
    """Checks × audited sets: rows checked and found inconsistent."""
    from lib.present import tables

    frames = []
    for name, audit in audits.audits.items():
        s = audit.summary[["checked", "inconsistent"]]
        s.columns = [f"{name}: checked", f"{name}: inconsistent"]
        frames.append(s)
    df = pd.concat(frames, axis=1).fillna(0).astype(int)
    order = [c for c in PA.CHECKS if c in df.index]
    df = df.loc[order]
    df.insert(0, "what it asks", [PA.CHECKS[c] for c in df.index])
    df.index.name = "check"
    return tables.frame_table(
        df, title="What was checked, and what failed",
        notes=["Counts of printed rows (or columns) each check could be applied to, and of those "
               "where no value within the printed numbers' rounding satisfies it.",
               "Checks that the printed numbers do not allow (no statistic, no bounds, no convention "
               "stated) are counted in the findings table as not checkable."],
        name="paper_audit_summary")


def _location(row: pd.Series) -> str:
    """Where a finding is printed, in one short cell: "Table 4 (2)", "descriptives"."""
    table, column = str(row["table"]), str(row["column"])
    if table == "descriptives":
        return "descriptives"
    where = f"Table {table}" if table and table != "text" else "text"
    return f"{where} ({column})" if column else where


def findings_table(audits: PaperAudits, *, only_inconsistent: bool = True):
    """Every finding (or every inconsistency) with its evidence; the CSV keeps table and column
    apart."""
    from lib.present import tables

    frames = []
    for name, audit in audits.audits.items():
        f = audit.inconsistencies if only_inconsistent else audit.findings
        frames.append(f.assign(tables_of=name))
    numbers = pd.concat(frames, ignore_index=True)
    numbers = numbers[["tables_of", "table", "column", "term", "check", "verdict", "evidence"]]
    if only_inconsistent:
        numbers = numbers.drop(columns="verdict")
    who = "paper" if not audits.reader else "file"
    numbers = numbers.rename(columns={"tables_of": who})
    # "where" labels the rows, so that no column of row numbers takes the width
    shown = numbers.drop(columns=["table", "column"])
    shown.index = pd.Index([_location(r) for _, r in numbers.iterrows()], name="where")
    if len(audits.audits) == 1:   # one paper or file: its name is in the title
        shown = shown.drop(columns=who)
    title = "Every inconsistency, with its evidence" if only_inconsistent else "Every check of every row"
    return tables.frame_table(shown, title=title, numbers=numbers,
                              name="paper_audit_inconsistencies" if only_inconsistent else "paper_audit_findings")
