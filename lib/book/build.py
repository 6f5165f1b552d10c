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
* **Parallel execution.** Jupyter Book 1 executes stale notebooks one after another;
  :func:`execute_stale` executes them instead, one per core (``--jobs``), into its
  cache, in kernels forked from a process that has imported the libraries once
  (:mod:`lib.book.kernels`), so that Jupyter Book only renders. Jupyter Book starts
  meanwhile and waits for them before it reads a page (:func:`setup`).
* **Strict mode** (``--strict``, used by the tests) rebuilds every page from the
  cache with warnings as errors (``-W -n --keep-going``), so a warning in any page
  fails, not only in pages that happened to be re-read. A strict build of inputs that
  already passed one is skipped (``make test`` builds strictly before the suite does).
* **Determinism.** Two builds must give the same page text, on any machine. A
  value that depends on the machine (a timing) is glued under a ``machine_`` key
  and shown only inside an element of class ``machine-dependent``;
  :func:`page_problems` and :func:`notebook_output_differences` hold the pages
  to that, and ``--check-determinism`` builds twice from scratch (the book's executor,
  then Jupyter Book's) and compares.
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
#: The inputs of the last strict build that passed: a strict build of the same inputs is done.
STRICT_STAMP = BUILD_DIR / ".strict.sha256"

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


def _jupyter_book_command(*args: str, root: Path = ROOT) -> list[str]:
    """``jupyter-book build ROOT --builder html ARGS`` in this environment, through
    :mod:`lib.book.jupyter_book`."""
    cmd = [sys.executable, "-m", "lib.book.jupyter_book", "build", str(root), "--builder", "html", *args]
    print("$ jupyter-book " + " ".join(cmd[3:]), flush=True)
    return cmd


def _jupyter_book(*args: str, quiet: bool = False, root: Path = ROOT) -> int:
    """Run ``jupyter-book build ROOT --builder html ARGS`` (``quiet``: without its standard
    output); return its exit code. The kernels it starts inherit :func:`kernel_environment`."""
    return subprocess.call(_jupyter_book_command(*args, root=root), cwd=root, env=kernel_environment(),
                           stdout=subprocess.DEVNULL if quiet else None)


#: Set in Jupyter Book's environment while the chapters execute: the file whose appearance
#: says the executor is done (see :func:`setup`).
EXECUTED_FLAG_VARIABLE = "CBEC_EXECUTED_FLAG"


def _execute_while_jupyter_book_starts(chapters: list[Path], jobs: int | None, args: list[str], *,
                                       root: Path = ROOT, path_output: Path | None = None,
                                       quiet: bool = False) -> int:
    """Execute those of ``chapters`` that are stale (:func:`execute_stale`; finding them reads
    the cache) while Jupyter Book builds the book at ``root`` (into ``path_output/_build``
    when given: its ``--path-output``); it reads no page before the executor is done
    (``quiet``: without its standard output). A failing chapter stops Jupyter Book: exit
    code 1. Returns Jupyter Book's exit code otherwise."""
    if path_output is not None:
        args = [*args, "--path-output", str(path_output)]
    build_dir = Path(path_output if path_output is not None else root) / "_build"
    build_dir.mkdir(parents=True, exist_ok=True)
    flag = build_dir / ".executed"
    flag.unlink(missing_ok=True)
    env = {**kernel_environment(), EXECUTED_FLAG_VARIABLE: str(flag)}
    renderer = subprocess.Popen(_jupyter_book_command(*args, root=root), cwd=root, env=env,
                                stdout=subprocess.DEVNULL if quiet else None)
    try:
        code = execute_stale(jobs, chapters=chapters, cache_dir=build_dir / ".jupyter_cache")
        if code != 0:
            renderer.kill()
            renderer.wait()
            return code
        flag.write_text("executed\n")
        return renderer.wait()
    except BaseException:
        renderer.kill()
        renderer.wait()
        raise
    finally:
        flag.unlink(missing_ok=True)


def _wait_for_execution(app, env, docnames) -> None:
    """Sphinx ``env-before-read-docs``: wait for the build's executor, when one runs."""
    flag = os.environ.get(EXECUTED_FLAG_VARIABLE)
    if not flag:
        return
    parent = os.getppid()
    print("waiting for the chapters lib.book.build executes ...", flush=True)
    while not Path(flag).exists():
        if os.getppid() != parent:   # the build that started this one is gone
            raise RuntimeError("lib.book.build, which executes the chapters, ended before they did")
        time.sleep(0.05)


def setup(app):
    """Sphinx extension (listed in ``_config.yml``): Jupyter Book, started by :func:`build`
    while the chapters still execute, waits for them before it reads a page."""
    app.connect("env-before-read-docs", _wait_for_execution)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


#: Threads of the BLAS and OpenMP libraries in every chapter kernel, unless the environment
#: sets them: the book runs one chapter per core, and a BLAS pool as wide as the machine in
#: each of them oversubscribes the cores, and ties a float's last bits to the core count.
KERNEL_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def kernel_environment() -> dict[str, str]:
    """The environment the book's chapter kernels run in: this one, with the book's outputs
    folder (``CBEC_BOOK_OUTPUTS``: tables and figures always go to ``outputs/``, whatever a
    caller's environment says) and :data:`KERNEL_THREADS` where not set."""
    return {**KERNEL_THREADS, **os.environ, "CBEC_BOOK_OUTPUTS": str(BOOK_OUTPUTS)}


def build(strict: bool = False, force: bool = False, jobs: int | None = None) -> int:
    """Build ``_build/html``; return the process exit code. ``jobs``: chapters executed at
    once (default one per core; 1 executes them one after another)."""
    started = time.perf_counter()
    deps = content_hash(DEPENDENCY_PATHS)
    inputs = hashlib.sha256((deps + content_hash(BOOK_PATHS)).encode()).hexdigest()
    index = BUILD_DIR / "html" / "index.html"

    if not (strict or force) and index.exists() and _read(INPUTS_STAMP) == inputs:
        print(f"Book is up to date (no input changed); nothing executed.\n"
              f"Open file://{index}")
        return 0
    if strict and not force and index.exists() and _read(STRICT_STAMP) == inputs:
        # make test's first step built these very inputs strictly; the suite's build reuses it
        print(f"Book is up to date and passed a strict build of these inputs; nothing executed.\n"
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

    # Jupyter Book executes stale notebooks one after another; they are executed here instead,
    # one per core, into its cache, so that it only renders. It starts at the same time (its
    # start-up, a few seconds, overlaps the execution) and waits for the executor before it
    # reads a page (:func:`setup`). Only sources changed since the last build are candidates:
    # reading a notebook to find its cache key costs time.
    changed = _changed_sources(deps)
    args = [*(["--all"] if rebuild_all else []), *(["-W", "-n", "--keep-going"] if strict else [])]
    if changed:
        code = _execute_while_jupyter_book_starts(changed, jobs, args)
    else:
        code = _jupyter_book(*args)
    if code != 0:
        reports = BUILD_DIR / "html" / "reports"
        print(f"\nBook build FAILED (exit {code}). Execution reports, if any: {reports}",
              file=sys.stderr)
        return code

    BUILD_DIR.mkdir(exist_ok=True)
    DEPS_STAMP.write_text(deps + "\n")
    INPUTS_STAMP.write_text(inputs + "\n")
    if strict:
        STRICT_STAMP.write_text(inputs + "\n")
    _record_sources(deps)
    print(f"\nBuilt in {time.perf_counter() - started:.1f} s. Open file://{index}")
    return 0


# --------------------------------------------------------------------- parallel execution
def stale_chapters(chapters: list[Path] | None = None, cache_dir: Path = CACHE_DIR) -> list[Path]:
    """The chapters (MyST sources; default the book's) whose current cells have no execution
    in the cache: exactly those ``jupyter-book`` would execute."""
    chapters = chapters if chapters is not None else book_chapters()
    if not Path(cache_dir).exists():
        return list(chapters)
    return [path for path in chapters if _cached_execution(path, cache_dir, outputs=False) is None]


def _cached_execution(path: Path, cache_dir: Path = CACHE_DIR, *, outputs: bool = True):
    """The cache's execution of the MyST source ``path``'s current cells, or ``None``: the
    executed notebook (``outputs``), else only the cache record (no notebook is read)."""
    import jupytext
    from jupyter_cache import get_cache

    cache, nb = get_cache(cache_dir), jupytext.read(path)
    try:
        return cache.merge_match_into_notebook(nb)[1] if outputs else cache.match_cache_notebook(nb)
    except KeyError:  # no cached execution of these cells
        return None


def book_chapters(root: Path = ROOT) -> list[Path]:
    """The MyST notebooks of the table of contents (the pages MyST-NB executes), in its order
    (the book's, or the book at ``root``)."""
    from lib.book.run import toc_chapters

    paths = [Path(root) / "chapters" / f"{c}.md" for c in toc_chapters(root)]
    # a MyST notebook (kernelspec in its front matter) executes even without a code cell
    return [p for p in paths if p.exists() and "kernelspec:" in p.read_text(encoding="utf-8")]


def _start_worker(env: dict[str, str], forked: bool) -> None:
    """A build worker's start: the kernels' environment and, where it executes several
    chapters, their fork server, which imports the libraries while the worker starts. (Its
    first kernel waits for them: with every core busy, a kernel of its own meanwhile would
    only import them twice.)"""
    os.environ.update(env)
    if forked:
        from lib.book.kernels import start_server

        start_server()


def _execute_one(path: str, timeout: int) -> tuple[str, str | None, float, str | None]:
    """Execute one chapter as MyST-NB would (its folder as the working directory), in a kernel
    forked from this process's warm process where :func:`_start_worker` started one
    (:mod:`lib.book.kernels`), else in a new one; return the executed notebook as JSON (None
    on failure), the seconds and the traceback."""
    import jupytext
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    from lib.book.kernels import forked_kernel_manager_class

    nb = jupytext.read(path)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False,
                                 meta_override=True, kernel_manager_class=forked_kernel_manager_class())
    if result.err is not None:
        return path, None, result.time, result.exc_string
    return path, nbformat.writes(nb), result.time, None


def execute_timeout() -> int:
    """``execute.timeout`` of ``_config.yml`` (seconds a cell may run), which MyST-NB applies too."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8")) or {}
    return int((config.get("execute") or {}).get("timeout", 1800))


def _executions(chapters: list[Path], jobs: int, timeout: int):
    """Execute ``chapters`` (:func:`_execute_one`), ``jobs`` at a time, in worker processes with
    the kernels' environment; yield each result as it comes. One chapter executes from this
    process, in a kernel of its own: a worker and a warm fork server cost more than they save."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    env = kernel_environment()   # the same environment as under jupyter-book
    if len(chapters) == 1:
        saved = dict(os.environ)
        os.environ.update(env)    # the kernel inherits it; this process's is given back
        try:
            yield _execute_one(str(chapters[0]), timeout)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return
    # a worker's warm fork server costs more than one new kernel; it pays from the second
    forked = len(chapters) > jobs
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_start_worker,
                             initargs=(env, forked)) as pool:
        futures = [pool.submit(_execute_one, str(p), timeout) for p in chapters]
        for fut in as_completed(futures):
            yield fut.result()


def execute_stale(jobs: int | None = None, timeout: int | None = None, *, chapters: list[Path] | None = None,
                  cache_dir: Path = CACHE_DIR) -> int:
    """Execute the stale chapters, ``jobs`` at a time (default: one per core), and put each
    into the execution cache, so that ``jupyter-book`` only renders.

    Jupyter Book 1 executes its notebooks one after another; this runs them in parallel
    processes, each with its own kernel (forked from a warm process when a worker executes
    more than one: :mod:`lib.book.kernels`), and writes the cache from this process only
    (SQLite takes one writer). A chapter that fails is not cached: its traceback is printed and the
    build stops with exit code 1, as ``jupyter-book`` would after executing it.
    """
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    stale = stale_chapters(chapters, cache_dir)
    if not stale:
        return 0
    timeout = execute_timeout() if timeout is None else timeout
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(stale)))
    print(f"Executing {len(stale)} chapter(s), {jobs} at a time: "
          + ", ".join(p.stem for p in stale), flush=True)
    cache = get_cache(cache_dir)
    failed = []
    # the longest chapters first, so that no core idles at the end
    last = _last_seconds()
    order = sorted(stale, key=lambda p: -last.get(p.stem, _guessed_seconds(p)))
    for path, text, seconds, tb in _executions(order, jobs, timeout):
        name = Path(path).stem
        if text is None:
            failed.append(name)
            print(f"  {name}: FAILED after {seconds:.1f} s\n{tb}", file=sys.stderr, flush=True)
            continue
        cache.cache_notebook_bundle(CacheBundleIn(nbformat.reads(text, as_version=4), path,
                                                  data={"execution_seconds": seconds}),
                                    check_validity=False, overwrite=True)
        if Path(cache_dir) == CACHE_DIR:
            _record_seconds(name, seconds)
        print(f"  {name}: executed in {seconds:.1f} s", flush=True)
    if failed:
        print(f"\nBook build FAILED: {', '.join(failed)} raised an error (traceback above).",
              file=sys.stderr)
        return 1
    return 0


#: Each notebook source's SHA-256 at the last successful build (with the dependencies' hash).
SOURCES_FILE = BUILD_DIR / ".chapter_sources.json"


def _source_hashes(deps: str) -> dict[str, str]:
    return {p.stem: hashlib.sha256((deps + p.read_text(encoding="utf-8")).encode()).hexdigest()
            for p in book_chapters()}


def _changed_sources(deps: str) -> list[Path]:
    """The notebook sources edited since the last successful build, or all of them when the
    cache is gone or ``lib/``, ``data/`` or the pins changed (the hashes include them)."""
    import json

    try:
        last = json.loads(SOURCES_FILE.read_text()) if CACHE_DIR.exists() else {}
    except (OSError, ValueError):
        last = {}
    now = _source_hashes(deps)
    return [ROOT / "chapters" / f"{c}.md" for c, h in now.items() if last.get(c) != h]


def _record_sources(deps: str) -> None:
    import json

    SOURCES_FILE.write_text(json.dumps(_source_hashes(deps), indent=1, sort_keys=True) + "\n")


#: Each chapter's execution seconds in the last build that executed it (survives a cleared
#: cache): the parallel executor starts the longest first (:func:`_guessed_seconds` without).
SECONDS_FILE = BUILD_DIR / ".execution_seconds.json"


def _last_seconds() -> dict[str, float]:
    import json

    try:
        return json.loads(SECONDS_FILE.read_text())
    except (OSError, ValueError):
        return {}


def _guessed_seconds(chapter: Path) -> float:
    """A chapter's execution seconds where no build has timed it (a new checkout): a quarter
    of a second per code cell, which orders the book's chapters about as their timings do."""
    return 0.25 * chapter.read_text(encoding="utf-8").count("{code-cell}")


def _record_seconds(name: str, seconds: float) -> None:
    import json

    data = _last_seconds()
    data[name] = round(seconds, 2)
    BUILD_DIR.mkdir(exist_ok=True)
    SECONDS_FILE.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")


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
    if not CACHE_DIR.exists() or _read(DEPS_STAMP) != content_hash(DEPENDENCY_PATHS):
        return None
    return _cached_execution(ROOT / "chapters" / f"{chapter}.md")


def check_determinism(keep: Path | None = None, *, root: Path = ROOT) -> int:
    """Build the book at ``root`` twice, each time from an empty execution cache, and compare
    pages: once as ``make book`` does (the chapters executed in parallel, in kernels forked from
    a warm process) and once by Jupyter Book's own executor (one after another, each in a new
    kernel). Equal pages say the book depends neither on the run nor on the executor."""
    import tempfile

    top = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="book-determinism-"))
    chapters = book_chapters(root)
    sites = []
    for run in ("a", "b"):
        out = top / run
        if run == "a":
            code = _execute_while_jupyter_book_starts(chapters, None, ["--all"], root=root,
                                                      path_output=out, quiet=True)
        else:
            code = _jupyter_book("--all", "--path-output", str(out), quiet=True, root=root)
        if code != 0:
            print(f"build {run} FAILED; its output is in {out}", file=sys.stderr)
            return 1
        sites.append(out / "_build" / "html")
    problems = page_differences(*sites) + [f"build a: {p}" for p in page_problems(sites[0], root)]
    for p in problems:
        print(p, file=sys.stderr)
    n = len(site_pages(sites[0]))
    if problems:
        print(f"{n} pages compared outside .{MACHINE_DEPENDENT_CLASS} elements: {len(problems)} "
              f"problems (a difference is the run's or the executor's: build a is the book's "
              f"executor, b Jupyter Book's); the two builds are kept in {top}")
        return 1
    if keep is None:
        shutil.rmtree(top, ignore_errors=True)
    print(f"{n} pages compared outside .{MACHINE_DEPENDENT_CLASS} elements (the book's executor "
          f"against Jupyter Book's): identical")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.book.build", description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true",
                        help="rebuild every page, warnings are errors (-W -n --keep-going)")
    parser.add_argument("--force", action="store_true",
                        help="rebuild every page even if no input changed")
    parser.add_argument("--jobs", type=int, default=None,
                        help="chapters executed at once (default: one per core; 1: one after another)")
    parser.add_argument("--check-determinism", action="store_true",
                        help="build twice from an empty execution cache (in a temporary folder; the "
                             "book's parallel executor, then Jupyter Book's own) and compare every "
                             "page's text outside machine-dependent elements")
    args = parser.parse_args(argv)
    if args.check_determinism:
        return check_determinism()
    return build(strict=args.strict, force=args.force, jobs=args.jobs)


if __name__ == "__main__":
    raise SystemExit(main())
