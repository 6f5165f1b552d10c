"""Benchmark: the whole book on a reader's panel against the default cold build (issue: any panel).

Measures, in one run on this checkout (2 cores, as the README's runtimes):

1. a cold default build (``jupyter-book build --all`` into a temporary ``--path-output``, so
   every chapter executes and the checkout's own ``_build`` is untouched);
2. ``make book DATA=tests/fixtures/castle/castle.csv COLUMNS=tests/fixtures/castle/castle.yml``
   (``python -m lib.book.reader_book``, into a temporary folder): the nine chapters that read
   the city panel executed on the castle-doctrine state panel, two at a time, then rendered.

Target: reader book <= 1.2 x the cold default build. Usage: ``python benchmarks/reader_book.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASTLE = ROOT / "tests" / "fixtures" / "castle"


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        print((proc.stdout + proc.stderr)[-4000:])
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed (exit {proc.returncode})")
    return time.perf_counter() - started


def main() -> None:
    top = Path(tempfile.mkdtemp(prefix="bench-reader-book-"))
    jb = str(Path(sys.executable).with_name("jupyter-book"))
    try:
        default = timed([jb, "build", str(ROOT), "--builder", "html", "--all",
                         "--path-output", str(top / "default")])
        reader = timed([sys.executable, "-m", "lib.book.reader_book", str(CASTLE / "castle.csv"),
                        str(CASTLE / "castle.yml"), "--out", str(top / "reader")])
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print(f"{'build':<58} {'seconds':>8}")
    print(f"{'default book, cold (every chapter executes)':<58} {default:>8.1f}")
    from lib.book.reader_book import CITY_CHAPTERS

    label = f"reader book on castle.csv ({len(CITY_CHAPTERS)} city chapters + render)"
    print(f"{label:<58} {reader:>8.1f}")
    print(f"reader book / default cold build: {reader / default:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
