"""The build contract: a failing cell fails the build and its error is shown.

Builds a throw-away one-chapter book with this book's own ``_config.yml``
(so the configuration under test is the real one).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lib import ROOT
from lib.book.build import content_hash

from conftest import chapter_source

pytestmark = [pytest.mark.slow]

BROKEN_CHAPTER = chapter_source('raise ValueError("deliberately broken cell 7d1f")')


def _mini_book(tmp_path: Path, body: str) -> Path:
    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    for name in ("_config.yml", "references.bib"):
        shutil.copy(ROOT / name, book / name)
    shutil.copytree(ROOT / "_static", book / "_static")
    shutil.copytree(ROOT / "bib", book / "bib")
    (book / "outputs").mkdir()
    (book / "_toc.yml").write_text("format: jb-book\nroot: chapters/broken\n")
    (book / "chapters" / "broken.md").write_text(body)
    return book


def test_failing_cell_fails_the_build_and_shows_the_error(tmp_path):
    book = _mini_book(tmp_path, BROKEN_CHAPTER)
    proc = subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build", str(book)],
                          capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, "a chapter with a failing cell built successfully"
    assert "deliberately broken cell 7d1f" in log, "the failing cell's error is not in the build log"


def test_content_hash_sees_every_file(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.py").write_text("x = 1\n")
    before = content_hash(("lib",), root=tmp_path)
    (tmp_path / "lib" / "a.py").write_text("x = 2\n")
    changed = content_hash(("lib",), root=tmp_path)
    (tmp_path / "lib" / "__pycache__").mkdir()
    (tmp_path / "lib" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"junk")
    assert before != changed
    assert content_hash(("lib",), root=tmp_path) == changed, "byte-code must not invalidate the cache"


# ------------------------------------------------------------------ parallel execution
from lib.book.build import execute_stale, notebook_output_differences, stale_chapters  # noqa: E402

GOOD = chapter_source("import numpy as np\nrng = np.random.default_rng(3)\nprint(rng.normal(size=3))",
                      "from myst_nb import glue\nglue('x', 1.5)", title="Good")
OTHER = chapter_source("print(sum(range(10)))", title="Other")


def _cached(chapter: Path, cache_dir: Path):
    import jupytext
    from jupyter_cache import get_cache

    return get_cache(cache_dir).merge_match_into_notebook(jupytext.read(chapter))[1]


def test_parallel_execution_caches_what_jupyter_book_then_only_renders(tmp_path):
    book = _mini_book(tmp_path, GOOD)
    chapter = book / "chapters" / "broken.md"
    cache = book / "_build" / ".jupyter_cache"
    assert execute_stale(2, chapters=[chapter], cache_dir=cache) == 0
    assert stale_chapters([chapter], cache) == []
    proc = subprocess.run([str(Path(sys.executable).with_name("jupyter-book")), "build", str(book)],
                          capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    # MyST-NB found the pre-executed notebook under the same key: it executed nothing
    assert "Using cached notebook" in log and "Executing notebook" not in log


def test_a_failing_chapter_stops_the_parallel_execution_with_its_traceback(tmp_path, capfd):
    good, broken = tmp_path / "good.md", tmp_path / "broken.md"
    good.write_text(GOOD)
    broken.write_text(BROKEN_CHAPTER)
    cache = tmp_path / "cache"
    assert execute_stale(2, chapters=[good, broken], cache_dir=cache) == 1
    err = capfd.readouterr().err
    assert "broken: FAILED" in err and "deliberately broken cell 7d1f" in err
    assert stale_chapters([good, broken], cache) == [broken]   # the good one is cached, not the broken


def test_one_or_two_workers_cache_the_same_outputs(tmp_path):
    outs = []
    for jobs in (1, 2):
        folder = tmp_path / f"jobs{jobs}"
        folder.mkdir()
        paths = [folder / "good.md", folder / "other.md"]
        paths[0].write_text(GOOD)
        paths[1].write_text(OTHER)
        assert execute_stale(jobs, chapters=paths, cache_dir=folder / "cache") == 0
        outs.append([_cached(p, folder / "cache") for p in paths])
    for one, two, name in zip(*outs, ("good", "other")):
        assert notebook_output_differences(one, two, name) == []


# ------------------------------------------------------------------ Jupyter Book starts meanwhile
from lib.book.build import EXECUTED_FLAG_VARIABLE, _execute_while_jupyter_book_starts, _wait_for_execution  # noqa: E402


def test_jupyter_book_starts_while_the_chapters_execute_and_reads_them_from_the_cache(tmp_path, capfd):
    book = _mini_book(tmp_path, GOOD)
    chapter = book / "chapters" / "broken.md"
    assert _execute_while_jupyter_book_starts([chapter], None, [], root=book) == 0
    log = "".join(capfd.readouterr())
    assert "waiting for the chapters lib.book.build executes" in log
    assert "Using cached notebook" in log and "Executing notebook" not in log
    assert (book / "_build" / "html" / "chapters" / "broken.html").exists()
    assert not (book / "_build" / ".executed").exists()


def test_a_failing_chapter_stops_jupyter_book_started_meanwhile(tmp_path, capfd):
    book = _mini_book(tmp_path, BROKEN_CHAPTER)
    chapter = book / "chapters" / "broken.md"
    assert _execute_while_jupyter_book_starts([chapter], None, [], root=book) == 1
    err = capfd.readouterr().err
    assert "broken: FAILED" in err and "deliberately broken cell 7d1f" in err
    assert not (book / "_build" / "html" / "chapters" / "broken.html").exists()


def test_the_wait_ends_when_the_executor_says_it_is_done(tmp_path, monkeypatch):
    import threading
    import time

    monkeypatch.delenv(EXECUTED_FLAG_VARIABLE, raising=False)
    _wait_for_execution(None, None, [])   # not started by the build: nothing to wait for
    flag = tmp_path / ".executed"
    monkeypatch.setenv(EXECUTED_FLAG_VARIABLE, str(flag))
    threading.Timer(0.3, flag.write_text, args=("executed\n",)).start()
    started = time.monotonic()
    _wait_for_execution(None, None, [])
    assert 0.25 <= time.monotonic() - started < 10


def test_the_wait_stops_when_the_build_that_started_it_is_gone(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv(EXECUTED_FLAG_VARIABLE, str(tmp_path / ".never"))
    parents = iter([os.getppid(), 1])
    monkeypatch.setattr(os, "getppid", lambda: next(parents, 1))
    with pytest.raises(RuntimeError, match="ended before"):
        _wait_for_execution(None, None, [])


def test_an_untimed_chapter_is_guessed_by_its_code_cells(tmp_path):
    from lib.book.build import _guessed_seconds

    few, many = tmp_path / "few.md", tmp_path / "many.md"
    few.write_text(OTHER)
    many.write_text(chapter_source(*(f"x{i} = {i}" for i in range(8)), title="Many"))
    assert _guessed_seconds(few) == 0.25 and _guessed_seconds(many) == 2.0


def test_the_determinism_check_builds_with_the_books_executor_and_with_jupyter_books(tmp_path, capfd):
    """``--check-determinism``: build a executes the chapters with the book's executor, build b
    with Jupyter Book's own; a seeded chapter gives the same page both ways, and a page that
    differed would be named."""
    from lib.book.build import check_determinism, page_differences

    book = _mini_book(tmp_path, GOOD)
    runs = tmp_path / "runs"
    assert check_determinism(keep=runs, root=book) == 0
    out = "".join(capfd.readouterr())
    assert "broken: executed in" in out and "pages compared" in out and ": identical" in out
    # the executor filled the cache build a's Jupyter Book read (its --path-output's)
    assert stale_chapters([book / "chapters" / "broken.md"], runs / "a" / "_build" / ".jupyter_cache") == []
    sites = [runs / run / "_build" / "html" for run in ("a", "b")]
    page = sites[1] / "chapters" / "broken.html"
    assert page.exists() and (sites[0] / "chapters" / "broken.html").exists()
    page.write_text(page.read_text().replace("Good", "Changed", 1))
    assert [d.split(":")[0] for d in page_differences(*sites)] == ["chapters/broken.html"]
