"""Shared test helpers."""

from __future__ import annotations

import contextlib
import os

FRONT_MATTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


@contextlib.contextmanager
def local_cluster():
    """A two-worker Dask ``LocalCluster`` whose settings for its workers come back out of this
    process's environment when it closes: distributed writes them into ``os.environ``
    (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
    ``MALLOC_TRIM_THRESHOLD_``, a ``PYTHONHASHSEED``) and leaves them there, so every later kernel
    of the test process would inherit them and, its import-time environment differing from the
    fork server's, start afresh (``tests/test_kernels.py`` then fails, depending on file order)."""
    from dask.distributed import LocalCluster

    saved = dict(os.environ)
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            yield cluster
    finally:
        os.environ.clear()
        os.environ.update(saved)


def chapter_source(*cells: str, title: str = "Broken") -> str:
    """A jupytext MyST chapter with the given code cells (``:tags:`` lines allowed)."""
    body = "".join(f"\n```{{code-cell}} ipython3\n{cell.strip()}\n```\n" for cell in cells)
    return f"{FRONT_MATTER}\n# {title}\n{body}"


def install_chapter(tmp_path, monkeypatch, name: str, source: str):
    """Point the run command at a folder holding one test chapter ``name``; return the folder."""
    import lib.book.run as run

    chapters = tmp_path / "chapters"
    chapters.mkdir()
    (chapters / f"{name}.md").write_text(source)
    monkeypatch.setattr(run, "CHAPTERS_DIR", chapters)
    return chapters


import pytest  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _warm_kernels():
    """A test process runs many chapters: from its second kernel on, they are forks of one warm
    process (``lib.book.kernels``), as in the book's build; ``tests/test_kernels.py`` compares
    such kernels with kernels of their own."""
    from lib.book.kernels import start_server

    start_server(first_afresh=True)
