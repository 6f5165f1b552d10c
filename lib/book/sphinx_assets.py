"""A Sphinx extension of the book: each page's scripts once, and each chapter's notebook.

Sphinx 7.4 lists a script added with ``app.add_js_file`` after the builder is initialised
(``sphinx_thebe``'s configuration and ``sphinx_togglebutton``'s selector) twice on every page,
so the browser stops at ``const THEBE_JS_URL`` declared twice (``tests/test_browser.py``). The
duplicate entries are dropped when a page is rendered, keeping the first of each.

On a page whose numbers are computed on simulated data (its chapter's results file says so),
every paragraph that states such a number without saying so gets the data's qualifier (e.g.
"semi-synthetic data"), linked to the introduction's explanation: no sentence with an estimate
reads as a finding about real cities. Boxes of the paper's printed numbers (class
``printed-numbers``) are left alone.

The theme's download menu offers a chapter's executed ``.ipynb`` only when launch buttons
are configured, which the offline book has none of; the notebook is offered here instead.

pybtex finds each style plugin by scanning every installed package's entry points, 83 scans
in one build (1.3 s of a 5-s render); :func:`scan_entry_points_once` has it read them once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from docutils import nodes


def _key(script: Any) -> tuple:
    attrs = getattr(script, "attributes", {}) or {}
    # the copies differ only in how they say "no file": None or ""
    return (str(getattr(script, "filename", script) or ""),
            tuple(sorted((k, str(v)) for k, v in attrs.items())))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for s in scripts:
        k = _key(s)
        if k not in seen:
            seen.add(k)
            kept.append(s)
    # in place: the list is the builder's, and handlers after this one (MathJax on the pages
    # with mathematics) add their scripts to it
    scripts[:] = kept


def offer_executed_notebook(app, pagename, templatename, context, doctree) -> None:
    """Copy the page's executed notebook beside its source, for the theme's download menu.

    The notebook is the one MyST-NB executed for this build (outputs included), so a
    reader who opens it in Jupyter from the repository's ``chapters/`` folder sees the
    page's numbers and can change the ``parameters`` cell and run it again.
    """
    import nbformat

    source = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not source.exists():
        return
    # MyST-NB writes the notebook there as read; with cached execution its outputs are in the
    # cache (a notebook executed before the build, as a reader's book has, holds its own)
    nb = nbformat.read(source, as_version=4)
    cache = Path(app.outdir).parent / ".jupyter_cache"
    if cache.exists() and not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        from jupyter_cache import get_cache

        try:
            _, nb = get_cache(cache).merge_match_into_notebook(nb)
        except KeyError:   # not executed through the cache (a page without code)
            pass
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


#: A number with decimals: an estimate, a share, a statistic (counts and years have none).
_DECIMAL = re.compile(r"\d\.\d")
#: Where the introduction explains the semi-synthetic data.
_EXPLAINED = "intro.html#what-the-data-are-semi-synthetic-with-a-known-truth"


def _qualifier(app, docname: str) -> str:
    path = Path(app.srcdir) / "outputs" / "results" / f"{Path(docname).name}.json"
    if not path.exists():
        return ""
    data = json.loads(path.read_text(encoding="utf-8")).get("data") or {}
    return data.get("qualifier", "") if data.get("synthetic") else ""


#: The class of a box whose numbers are the paper's printed ones (``:class: printed-numbers``).
PRINTED_CLASS = "printed-numbers"


def _in_printed_box(node) -> bool:
    while isinstance(node, nodes.Element):
        if PRINTED_CLASS in node.get("classes", []):
            return True
        node = node.parent
    return False


def qualify_computed_numbers(app, doctree, docname) -> None:
    """Add the data's qualifier to each paragraph with a computed decimal number that does not
    already say the data are synthetic."""
    qualifier = _qualifier(app, docname)
    if not qualifier:
        return
    for para in list(doctree.findall(nodes.paragraph)):
        if _in_printed_box(para):
            continue
        glued = [n for n in para.findall(nodes.inline) if "pasted-text" in n.get("classes", [])]
        if not any(_DECIMAL.search(n.astext()) for n in glued) or "synthetic" in para.astext():
            continue
        link = nodes.reference("", qualifier, refuri=_EXPLAINED)   # every chapter is in chapters/
        para += nodes.inline("", "", nodes.Text(" ("), link, nodes.Text(")"), classes=["data-qualifier"])


def scan_entry_points_once() -> None:
    """Have pybtex look its plugins up in one reading of the installed entry points.

    ``pybtex.plugin`` calls ``importlib_metadata.entry_points(group=..., name=...)`` for every
    plugin it loads, and each call reads the metadata of every installed distribution.
    Nothing installs a package during a build, so one reading answers all of them; the
    answers are the same :class:`EntryPoints` selections.
    """
    import pybtex.plugin

    if getattr(pybtex.plugin.entry_points, "_read_once", False):
        return
    every = pybtex.plugin.entry_points()   # with no selection: all groups, read once

    def entry_points(**selection):
        return every.select(**selection) if selection else every

    entry_points._read_once = True
    pybtex.plugin.entry_points = entry_points


def setup(app):
    scan_entry_points_once()
    # early: html-page-context stops at the first handler that returns a template name
    app.connect("html-page-context", drop_duplicate_scripts, priority=100)
    # before the theme's download menu (priority 501) reads ipynb_source
    app.connect("html-page-context", offer_executed_notebook, priority=400)
    app.connect("doctree-resolved", qualify_computed_numbers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
