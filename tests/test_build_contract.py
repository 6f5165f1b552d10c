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
