"""Build the book: ``python -m lib.book.build [--strict]`` (what ``make book`` runs).

Why a wrapper around ``jupyter-book build``:

* **Cache invalidation.** Jupyter Book's execution cache (jupyter-cache) keys a
  notebook on its own code cells only, so a change in ``lib/`` or ``data/``
  would leave stale outputs in the book. We fold a content hash of everything
  the chapters depend on (``lib/``, ``data/``, the pinned requirements) into the
  build: when it changes, the cache is cleared and every chapter re-executes.
  A change confined to one chapter re-executes that chapter only (the cache
  does that by itself).
* **No-change rebuilds cost nothing.** A content hash of all book inputs is
  stored after each successful build; when nothing changed the build is skipped.
* **Strict mode** (``--strict``, used by the tests) rebuilds every page from the
  cache with warnings as errors (``-W -n --keep-going``), so a warning in any page
  fails, not only in pages that happened to be re-read.
* **Determinism.** Two builds must give the same page text, on any machine. A
  value that depends on the machine (a timing) is glued under a ``machine_`` key
  and shown only inside an element of class ``machine-dependent``;
  :func:`page_problems` and :func:`notebook_output_differences` hold the pages
  to that, and ``--check-determinism`` builds twice from scratch and compares.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

from lib import BOOK_OUTPUTS, ROOT

BUILD_DIR = ROOT / "_build"
CACHE_DIR = BUILD_DIR / ".jupyter_cache"
DEPS_STAMP = BUILD_DIR / ".deps.sha256"
INPUTS_STAMP = BUILD_DIR / ".inputs.sha256"

#: What every chapter depends on besides its own cells.
DEPENDENCY_PATHS = ("lib", "data", "requirements.txt", "requirements-lock.txt", "pyproject.toml")
#: Everything else the rendered book depends on.
BOOK_PATHS = ("chapters", "_config.yml", "_toc.yml", "references.bib", "bib", "_static")
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


def content_hash(paths: tuple[str, ...], root: Path = ROOT) -> str:
    """SHA-256 over the relative names and bytes of all files under ``paths``."""
    digest = hashlib.sha256()
    for rel in paths:
        base = root / rel
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if _SKIP_PARTS.intersection(path.parts) or path.suffix == ".pyc":
                continue
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def _read(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def _jupyter_book(*args: str, quiet: bool = False) -> int:
    """Run ``jupyter-book build ROOT --builder html ARGS`` from the environment's own bin
    (``quiet``: without its standard output)."""
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(ROOT), "--builder", "html",
           *args]
    print("$ " + " ".join(cmd), flush=True)
    # The book's tables and figures always go to outputs/ (served as _static), whatever
    # a caller's environment says; the kernels inherit this.
    env = dict(os.environ, CBEC_BOOK_OUTPUTS=str(BOOK_OUTPUTS))
    return subprocess.call(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL if quiet else None)


def build(strict: bool = False, force: bool = False) -> int:
    """Build ``_build/html``; return the process exit code."""
    started = time.perf_counter()
    deps = content_hash(DEPENDENCY_PATHS)
    inputs = hashlib.sha256((deps + content_hash(BOOK_PATHS)).encode()).hexdigest()
    index = BUILD_DIR / "html" / "index.html"

    if not (strict or force) and index.exists() and _read(INPUTS_STAMP) == inputs:
        print(f"Book is up to date (no input changed); nothing executed.\n"
              f"Open file://{index}")
        return 0

    rebuild_all = strict or force
    if _read(DEPS_STAMP) != deps:
        if CACHE_DIR.exists():
            print("lib/, data/ or requirements changed: clearing the execution cache "
                  "so every chapter re-executes.")
            shutil.rmtree(CACHE_DIR)
        rebuild_all = True

    # html_static_path lists outputs/; it must exist before Sphinx starts.
    for sub in ("tables", "figures", "results"):
        (BOOK_OUTPUTS / sub).mkdir(parents=True, exist_ok=True)

    code = _jupyter_book(*(["--all"] if rebuild_all else []),
                         *(["-W", "-n", "--keep-going"] if strict else []))
    if code != 0:
        reports = BUILD_DIR / "html" / "reports"
        print(f"\nBook build FAILED (exit {code}). Execution reports, if any: {reports}",
              file=sys.stderr)
        return code

    BUILD_DIR.mkdir(exist_ok=True)
    DEPS_STAMP.write_text(deps + "\n")
    INPUTS_STAMP.write_text(inputs + "\n")
    print(f"\nBuilt in {time.perf_counter() - started:.1f} s. Open file://{index}")
    return 0


# --------------------------------------------------------------------- determinism
#: Prefix of every glue key whose value depends on the machine (a timing; see
#: :func:`lib.book.glue_machine`). Such a value may appear only inside an element of
#: class ``machine-dependent`` (a ``:class: machine-dependent`` admonition), and the
#: output comparison ignores it: it is the only thing two builds may differ in.
MACHINE_KEY_PREFIX = "machine_"
#: Class of the only elements whose text may differ between two builds (timings).
MACHINE_DEPENDENT_CLASS = "machine-dependent"
#: A duration in prose ("0.13 seconds", "236 ms", "5 s"): allowed only inside a
#: machine-dependent element. "2×2s", "the 1990s" and "3 s.e." are no durations.
TIMING_PATTERN = re.compile(
    r"(?<![\w×.,])\d[\d,]*(?:\.\d+)?(?:\s*(?:ms|milliseconds?|secs?|seconds?|minutes?|min)|\s+s)"
    r"(?!\w|\.\w)")
_VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
              "source", "track", "wbr"}


class _PageText(HTMLParser):
    """The visible text of a page, without scripts, styles and machine-dependent elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._open: list[tuple[str, bool]] = []
        self._hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _VOID_TAGS:
            return
        classes = (dict(attrs).get("class") or "").split()
        hidden = tag in ("script", "style") or MACHINE_DEPENDENT_CLASS in classes
        self._open.append((tag, hidden))
        self._hidden += hidden

    def handle_endtag(self, tag):
        if tag in _VOID_TAGS:
            return
        while self._open:  # closes unclosed children too (HTML allows omitting some end tags)
            name, hidden = self._open.pop()
            self._hidden -= hidden
            if name == tag:
                break

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def page_text(html: str) -> str:
    """Whitespace-normalised visible text of ``html`` outside ``machine-dependent`` elements."""
    parser = _PageText()
    parser.feed(html)
    # text nodes are joined as the browser runs them together: "<span>6</span>." is "6."
    return " ".join("".join(parser.parts).split())


def site_pages(site: Path) -> list[Path]:
    """The book's own pages under ``site`` (not the theme's and extensions' ``_static``)."""
    return sorted(p for p in Path(site).rglob("*.html") if "_static" not in p.relative_to(site).parts)


def page_problems(site: Path, checkout: Path = ROOT) -> list[str]:
    """Breaches of the page rules: the checkout's absolute path anywhere in a page, or
    a duration outside a ``machine-dependent`` element. Empty when every page is clean."""
    problems = []
    for page in site_pages(site):
        html = page.read_text(encoding="utf-8")
        name = page.relative_to(site).as_posix()
        if str(checkout) in html:
            line = next(ln for ln in html.splitlines() if str(checkout) in ln)
            problems.append(f"{name}: contains the checkout's absolute path {checkout}: "
                            f"{line.strip()[:160]}")
        text = page_text(html)
        for match in TIMING_PATTERN.finditer(text):
            problems.append(f"{name}: duration {match.group(0)!r} outside a {MACHINE_DEPENDENT_CLASS} "
                            f"element: ...{text[max(0, match.start() - 70):match.end() + 20]}...")
    return problems


def page_differences(site_a: Path, site_b: Path) -> list[str]:
    """Pages whose text (outside machine-dependent elements) differs between two builds."""
    a = {p.relative_to(site_a).as_posix(): p for p in site_pages(site_a)}
    b = {p.relative_to(site_b).as_posix(): p for p in site_pages(site_b)}
    out = [f"{name}: only in {site_a if name in a else site_b}" for name in sorted(set(a) ^ set(b))]
    for name in sorted(set(a) & set(b)):
        ta, tb = (page_text(p.read_text(encoding="utf-8")) for p in (a[name], b[name]))
        if ta != tb:
            i = next((k for k, (x, y) in enumerate(zip(ta, tb)) if x != y), min(len(ta), len(tb)))
            out.append(f"{name}: first difference at character {i}: "
                       f"{ta[max(0, i - 60):i + 60]!r} vs {tb[max(0, i - 60):i + 60]!r}")
    return out


def _output_key(output: dict) -> tuple | None:
    """An output as compared between two executions (``None``: machine-dependent)."""
    scrap = (output.get("metadata") or {}).get("scrapbook") or {}
    if str(scrap.get("name", "")).startswith(MACHINE_KEY_PREFIX):
        return None
    kind = output.get("output_type")
    if kind == "stream":
        return kind, output.get("name"), output.get("text")
    if kind == "error":
        return kind, output.get("ename"), output.get("evalue")
    data = output.get("data") or {}
    return kind, tuple(sorted((mime, "".join(v) if isinstance(v, list) else str(v))
                              for mime, v in data.items()))


def notebook_output_differences(a, b, name: str = "notebook") -> list[str]:
    """Code cells whose outputs differ between two executions of the same chapter.

    Execution counts and metadata are ignored, and so are glued values whose
    key starts with :data:`lib.book.MACHINE_KEY_PREFIX` (timings); everything
    else a page shows must be identical.
    """
    def cells(nb):
        return [c for c in nb.cells if c.cell_type == "code"
                and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]

    ca, cb = cells(a), cells(b)
    if len(ca) != len(cb):
        return [f"{name}: {len(ca)} code cells against {len(cb)}"]
    out = []
    for i, (x, y) in enumerate(zip(ca, cb)):
        kx = [k for k in map(_output_key, x.get("outputs", [])) if k is not None]
        ky = [k for k in map(_output_key, y.get("outputs", [])) if k is not None]
        if kx != ky:
            first = x.source.strip().splitlines()[0] if x.source.strip() else ""
            out.append(f"{name}: code cell {i + 1} ({first[:70]!r}) gives different outputs")
    return out


def cached_notebook(chapter: str):
    """The book build's executed notebook of ``chapter`` from the execution cache, or
    ``None`` when the cache is absent or older than ``lib/``, ``data/`` and the pins."""
    import jupytext
    from jupyter_cache import get_cache

    if not CACHE_DIR.exists() or _read(DEPS_STAMP) != content_hash(DEPENDENCY_PATHS):
        return None
    try:
        _, nb = get_cache(CACHE_DIR).merge_match_into_notebook(
            jupytext.read(ROOT / "chapters" / f"{chapter}.md"))
    except KeyError:  # no cached execution of the chapter's current cells
        return None
    return nb


def check_determinism(keep: Path | None = None) -> int:
    """Build the book twice, each time from an empty execution cache, and compare pages."""
    import tempfile

    top = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="book-determinism-"))
    sites = []
    for run in ("a", "b"):
        out = top / run
        if _jupyter_book("--all", "--path-output", str(out), quiet=True) != 0:
            print(f"build {run} FAILED; its output is in {out}", file=sys.stderr)
            return 1
        sites.append(out / "_build" / "html")
    problems = page_differences(*sites) + [f"build a: {p}" for p in page_problems(sites[0])]
    for p in problems:
        print(p, file=sys.stderr)
    n = len(site_pages(sites[0]))
    if problems:
        print(f"{n} pages compared outside .{MACHINE_DEPENDENT_CLASS} elements: {len(problems)} "
              f"problems; the two builds are kept in {top}")
        return 1
    if keep is None:
        shutil.rmtree(top, ignore_errors=True)
    print(f"{n} pages compared outside .{MACHINE_DEPENDENT_CLASS} elements: identical")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.book.build", description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true",
                        help="rebuild every page, warnings are errors (-W -n --keep-going)")
    parser.add_argument("--force", action="store_true",
                        help="rebuild every page even if no input changed")
    parser.add_argument("--check-determinism", action="store_true",
                        help="build twice from an empty execution cache (in a temporary folder) "
                             "and compare every page's text outside machine-dependent elements")
    args = parser.parse_args(argv)
    if args.check_determinism:
        return check_determinism()
    return build(strict=args.strict, force=args.force)


if __name__ == "__main__":
    raise SystemExit(main())
