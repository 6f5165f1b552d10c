"""Benchmark: the book build's execution (issues: build contract, performance).

Measures, in one run on this checkout:

1. a cold build with the chapters executed one after another (``--jobs 1``),
2. a cold build with the stale chapters executed in parallel, one per core (the default),
3. a rebuild with nothing changed (target: no notebook executed, <= 5 s),
4. a rebuild after editing one chapter's code (target: exactly that chapter re-executes, in at
   most its own execution time + 3 s),
5. a rebuild after touching ``lib/`` (every chapter re-executes: the cache is cleared),

counting executed notebooks from the build log (the parallel executor's lines and MyST-NB's,
which must then be none). The edited chapter and the ``lib`` file are restored afterwards (and
the book rebuilt, so the checkout is left as it was). Usage: ``python benchmarks/build_cache.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.book.build import book_chapters  # noqa: E402
from lib.book.run import runnable_chapters  # noqa: E402


def build(*args: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lib.book.build", *args], cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        print(log[-4000:])
        raise SystemExit(f"build failed (exit {proc.returncode})")
    executed = len(re.findall(r": executed in [\d.]+ s|Executed notebook in", log))
    return seconds, executed, log


def chapter_seconds(log: str) -> dict[str, float]:
    """Each executed chapter's own seconds, from the parallel executor's or MyST-NB's log line."""
    out = {m.group(1): float(m.group(2)) for m in re.finditer(r"^  (\w+): executed in ([\d.]+) s", log, re.M)}
    out.update({m.group(1): float(m.group(2))
                for m in re.finditer(r"(\w+)\.md: Executed notebook in ([\d.]+) seconds", log)})
    return out


def main() -> None:
    chapters = runnable_chapters()
    target = ROOT / "chapters" / f"{chapters[-1]}.md"
    lib_file = ROOT / "lib" / "book" / "describe.py"
    original_chapter, original_lib = target.read_text(), lib_file.read_text()
    rows = []
    try:
        shutil.rmtree(ROOT / "_build", ignore_errors=True)
        seq = build("--jobs", "1")
        rows.append(("cold, chapters one after another", *seq[:2]))
        shutil.rmtree(ROOT / "_build", ignore_errors=True)
        par = build()
        rows.append((f"cold, {os.cpu_count()} chapters at a time", *par[:2]))
        rows.append(("no change", *build()[:2]))
        # an edit to a code cell (not only prose) so the cache must re-execute it
        edited = original_chapter.replace("book.save_results()", "book.save_results()  # edited", 1)
        assert edited != original_chapter, f"{target.name} has no save_results() cell to edit"
        target.write_text(edited)
        edit = build()
        rows.append((f"edit one chapter ({target.stem})", *edit[:2]))
        lib_file.write_text(original_lib + "\n# touched by benchmarks/build_cache.py\n")
        rows.append(("touch lib/", *build()[:2]))
    finally:
        target.write_text(original_chapter)
        lib_file.write_text(original_lib)
        build()  # leave the book built from the committed sources

    own = chapter_seconds(edit[2]).get(target.stem, float("nan"))
    serial = sum(chapter_seconds(seq[2]).values())
    print(f"chapters with code: {len(chapters)} ({', '.join(chapters)}), {len(book_chapters())} notebooks "
          f"in all; machine: {os.cpu_count()} cores")
    print(f"{'build':<44}{'seconds':>10}{'notebooks executed':>22}")
    for name, seconds, executed in rows:
        print(f"{name:<44}{seconds:>10.1f}{executed:>22d}")
    print(f"sum of the chapters' own execution times (sequential build): {serial:.1f} s")
    print(f"one edited chapter: {edit[0]:.1f} s for a chapter that executes in {own:.1f} s "
          f"(target <= {own + 3:.1f} s)")
    cold_seq, cold_par, nochange = rows[0][1], rows[1][1], rows[2][1]
    notebooks = len(book_chapters())   # the runnable chapters and the pages without code cells
    ok = (rows[2][2] == 0 and nochange <= 5 and rows[3][2] == 1 and rows[4][2] == notebooks
          and cold_par <= 0.55 * cold_seq)
    print(f"targets met: {ok} (parallel cold <= 0.55 x sequential; no-change executes 0 and <= 5 s; "
          "one edit executes 1; lib change executes all)")
    print(f"headline: parallel cold build / sequential cold build = {cold_par / cold_seq:.2f} "
          f"({cold_par:.1f} s vs {cold_seq:.1f} s; target <= 0.55)")


if __name__ == "__main__":
    main()
