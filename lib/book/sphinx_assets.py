"""A Sphinx extension of the book: each page's scripts once.

Sphinx 7.4 lists a script added with ``app.add_js_file`` after the builder is initialised
(``sphinx_thebe``'s configuration and ``sphinx_togglebutton``'s selector) twice on every page,
so the browser stops at ``const THEBE_JS_URL`` declared twice (``tests/test_browser.py``). The
duplicate entries are dropped when a page is rendered, keeping the first of each.
"""

from __future__ import annotations

from typing import Any


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


def setup(app):
    # early: html-page-context stops at the first handler that returns a template name
    app.connect("html-page-context", drop_duplicate_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
