"""A Sphinx extension of the book: the "results at a glance" page, written from the results files.

The page (``chapters/results.md``) holds one directive, ``{results-at-a-glance}``. Its table is
filled in when pages are written, after every chapter has executed and saved
``outputs/results/CHAPTER.json`` (:func:`lib.book.save_results`), so it always shows the numbers
of this build; the page is re-read on every build for that reason. The table sorts and filters
in the browser with DataTables from ``itables``' bundle, copied into the site: nothing is fetched
at view time.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

#: The page that carries the directive.
PAGE = "chapters/results"
#: Where the site serves the results files and the table's script from, relative to a chapter.
RESULTS_URL = "../_static/results"
ITABLES_URL = "../_static/itables"


class _Placeholder(nodes.General, nodes.Element):
    """Where the table goes; replaced when the page is written."""


class ResultsDirective(SphinxDirective):
    has_content = False

    def run(self):
        return [_Placeholder()]


def _title(srcdir: Path, chapter: str) -> str:
    """The chapter's first heading, from its MyST source or (in a reader's book) its notebook."""
    md, nb = srcdir / "chapters" / f"{chapter}.md", srcdir / "chapters" / f"{chapter}.ipynb"
    if md.exists():
        text = md.read_text(encoding="utf-8")
    elif nb.exists():
        cells = json.loads(nb.read_text(encoding="utf-8")).get("cells", [])
        text = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                         for c in cells if c.get("cell_type") == "markdown")
    else:
        return chapter
    m = re.search(r"^#+ ([^\n]+)", text, re.M)
    return m.group(1).strip() if m else chapter


def short_titles(srcdir: Path, chapters: list[str]) -> dict[str, str]:
    """Each chapter's title up to its colon ("Baseline", "Event study"), short enough for a cell;
    the part after the colon where two chapters share the first part."""
    full = {c: _title(srcdir, c) for c in chapters}
    head = {c: re.split(r"[:(]", t)[0].strip() for c, t in full.items()}
    shared = {h for h in head.values() if list(head.values()).count(h) > 1}
    short = {c: (re.split(r"[:(]", full[c], maxsplit=1)[-1].strip(" )") if head[c] in shared else head[c])
             for c in chapters}
    return {c: t[:1].upper() + t[1:] for c, t in short.items()}


#: Record-name suffixes and what they mean in a reader's words (the record names are the
#: chapters' keys: ``table4_col2``, ``table11_b_Diginf``, ``table7_East_as_printed``).
_SUFFIXES = (
    (r"^col(\d+)$", r"column \1"),
    (r"^b_(.+)$", r"\1 → outcome (b path)"),
    (r"^a_(.+)$", r"treatment → \1 (a path)"),
    (r"^direct_(.+)$", r"direct effect of \1 (c′)"),
    (r"^sobel_z$", "Sobel z"),
    (r"^(.+)_as_printed$", r"\1, interaction as printed"),
    (r"^(.+)_subsample$", r"\1 subsample"),
    (r"^(.+)_interacted$", r"\1, fully interacted"),
    (r"^actual_estimate$", "actual estimate"),
)


def quantity_label(name: str, term: str | None = None) -> str:
    """What a recorded estimate is, in words: the record name without its table or figure
    (which has its own column), its key spelled out, and the coefficient's term where the
    words do not already name it."""
    rest = re.sub(r"(?i)^(table|fig)\s?\d+[\s_]*", "", str(name)).strip()
    for pattern, words in _SUFFIXES:
        if re.match(pattern, rest):
            rest = re.sub(pattern, words, rest)
            break
    rest = rest.replace("_", " ").strip() or str(name)
    bare = str(term).split("×")[0] if term else ""
    if term and str(term) not in rest and bare.replace("_", " ") not in rest:
        rest = f"{rest}: {term}"
    elif term and "×" in str(term) and "interaction" in rest:
        rest = f"{rest} ({term})"
    return rest[:1].upper() + rest[1:]


def _quantity(entry: dict[str, Any]) -> str:
    return quantity_label(entry["name"], entry.get("term"))


def _paper_item(entry: dict[str, Any]) -> str:
    """The printed table or figure the estimate belongs to; the companion paper's are marked."""
    from lib.book.run import PROVINCIAL_CHAPTER_PREFIX

    m = re.search(r"(?i)\b(table|fig)\s?(\d+)", str(entry["name"]).replace("_", " "))
    if not m:
        return ""
    item = f"{'Table' if m.group(1).lower() == 'table' else 'Fig.'} {m.group(2)}"
    companion = str(entry.get("chapter", "")).startswith(PROVINCIAL_CHAPTER_PREFIX)
    return f"companion {item}" if companion else item


def results_rows(results_dir: Path) -> tuple[list[dict[str, Any]], bool]:
    """One row per recorded estimate that has a printed number (every estimate when none has,
    as on a reader's panel); and whether any row has a truth. Each row carries ``synthetic``,
    whether its chapter's data were semi-synthetic (the results file's ``data``)."""
    from lib.book.run import toc_chapters

    order = {c: i for i, c in enumerate(toc_chapters())}
    rows = []
    for path in sorted(results_dir.glob("*.json"), key=lambda p: (order.get(p.stem, 99), p.stem)):
        payload = json.loads(path.read_text(encoding="utf-8"))
        for e in payload.get("estimates", []):
            rows.append({"chapter": payload["chapter"], **e,
                         "synthetic": bool(payload.get("data", {}).get("synthetic", True))})
    printed = [r for r in rows if r.get("paper") is not None]
    rows = printed or rows
    return rows, any(r.get("truth") is not None for r in rows)


def _cell(value: Any, *, sign: bool = False) -> tuple[str, str]:
    """(display, sort key) of a number cell."""
    from lib.present.numbers import format_number

    if value is None:
        return "", ""
    return format_number(float(value), 4, sign=sign, thousands=False), repr(float(value))


def results_html(srcdir: Path) -> str:
    """The table (and its script) as HTML."""
    rows, has_truth = results_rows(srcdir / "outputs" / "results")
    if not rows:
        return "<p>No chapter has saved results yet.</p>"
    head = ["Chapter", "Item", "Quantity", "Paper", "Book", "Book s.e.", "N"]
    if has_truth:
        head += ["Truth", "Book − truth"]
    if any(r["synthetic"] for r in rows):
        notice = ("On these data the <em>book</em> and <em>truth</em> columns are estimates and effects on "
                  "a <b>semi-synthetic</b> panel: real units and policy dates, simulated outcomes with a "
                  "known true effect. They are not findings about China. The <em>paper</em> column is "
                  "the number as printed, errors included.")
    else:
        notice = ("These estimates are on the reader's own data: no true effect is known for them, and "
                  "the paper's printed numbers appear only where the column file says the panel is the "
                  "paper's own.")
        if has_truth:
            notice += (" The rows with a <em>truth</em> are the chapters' teaching simulations, on "
                       "panels the book generates, not on your data.")
    out = [f'<div class="admonition warning"><p class="admonition-title">What these numbers are</p>'
           f"<p>{notice}</p></div>",
           f'<link rel="stylesheet" href="{ITABLES_URL}/dt_bundle.css">',
           '<div class="book-table-wrapper results-at-a-glance">',
           '<table class="book-table book-table-comparison book-sortable" id="results-at-a-glance">',
           "<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    titles = short_titles(srcdir, list(dict.fromkeys(r["chapter"] for r in rows)))
    for r in rows:
        ch = r["chapter"]
        cells = [f'<td><a href="{html.escape(ch)}.html">{html.escape(titles[ch])}</a> '
                 f'<a class="results-json" href="{RESULTS_URL}/{html.escape(ch)}.json">(JSON)</a></td>',
                 f"<td>{html.escape(_paper_item(r))}</td>", f"<td>{html.escape(_quantity(r))}</td>"]
        numbers = [r.get("paper"), r.get("estimate"), r.get("std_error")]
        if has_truth:
            truth = r.get("truth")
            gap = None if truth is None or r.get("estimate") is None else r["estimate"] - truth
        for v in numbers:
            shown, key = _cell(v)
            cells.append(f'<td data-order="{key}">{shown}</td>')
        n = r.get("nobs")
        cells.append(f'<td data-order="{n if n is not None else ""}">{"" if n is None else f"{int(n):,}"}</td>')
        if has_truth:
            for v, sign in ((truth, False), (gap, True)):
                shown, key = _cell(v, sign=sign)
                cells.append(f'<td data-order="{key}">{shown}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    # DataTables (itables' offline bundle, served with the site): sort and filter in the page
    out.append(f'<script type="module">import {{ ITable }} from "{ITABLES_URL}/dt_bundle.js";'
               'document.querySelectorAll("table.book-sortable").forEach(t => new ITable(t, '
               '{paging: false, order: [], autoWidth: false}));</script>')
    return "\n".join(out)


def fill_results(app, doctree, docname) -> None:
    for node in list(doctree.findall(_Placeholder)):
        node.replace_self(nodes.raw("", results_html(Path(app.srcdir)), format="html"))


def reread_results_page(app, env, added, changed, removed) -> list[str]:
    """The page shows every chapter's numbers: write it again on every build."""
    return [PAGE] if PAGE in env.found_docs else []


def copy_datatables(app, exception) -> None:
    """itables' DataTables bundle into ``_static/itables/`` (only what the page loads)."""
    if exception is not None or app.builder.format != "html":
        return
    from importlib.util import find_spec

    # found, not imported: importing itables imports pandas and its sample data (0.3 s a build)
    source = Path(find_spec("itables").origin).parent / "html"
    target = Path(app.outdir) / "_static" / "itables"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("dt_bundle.js", "dt_bundle.css"):
        shutil.copyfile(source / name, target / name)


def setup(app):
    app.add_node(_Placeholder)
    app.add_directive("results-at-a-glance", ResultsDirective)
    app.connect("doctree-resolved", fill_results)
    app.connect("env-get-outdated", reread_results_page)
    app.connect("build-finished", copy_datatables)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
