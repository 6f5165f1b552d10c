"""Benchmark: the book build's execution (issues: build contract, performance).

Measures, in one run on this checkout:

1. a cold build as Jupyter Book makes it: ``jupyter-book build --all``, which executes the
   chapters one after another, each in a new kernel (the baseline of the issue's ratio),
2. a cold build with the book's executor, one chapter at a time (``--jobs 1``: kernels forked
   from a warm process, one after another),
3. a cold build with the stale chapters executed in parallel, one per core (the default;
   targets: <= 0.55 x the first and <= 45 s),
4. a rebuild with nothing changed (target: no notebook executed, <= 5 s),
5. a rebuild after editing one chapter's code (target: exactly that chapter re-executes, in at
   most its own execution time + 3 s),
6. a rebuild after touching ``lib/`` (every chapter re-executes: the cache is cleared),

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


def timed(cmd: list[str], **kwargs) -> tuple[float, int, str]:
    """Run ``cmd`` from the checkout; return its seconds, the notebooks it executed (the
    parallel executor's lines and MyST-NB's) and its log. A failure stops the benchmark."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - started
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        print(log[-4000:])
        raise SystemExit(f"{' '.join(cmd[:4])} failed (exit {proc.returncode})")
    return seconds, len(re.findall(r": executed in [\d.]+ s|Executed notebook in", log)), log


def build(*args: str) -> tuple[float, int, str]:
    return timed([sys.executable, "-m", "lib.book.build", *args])


def jupyter_book_cold() -> tuple[float, int, str]:
    """Jupyter Book's own cold build: it executes every chapter, one after another (MyST-NB),
    in the environment the book's kernels get."""
    from lib.book.build import _jupyter_book_command, kernel_environment

    shutil.rmtree(ROOT / "_build", ignore_errors=True)
    return timed(_jupyter_book_command("--all"), env=kernel_environment())


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
        jb = jupyter_book_cold()
        rows.append(("cold, Jupyter Book (one after another)", *jb[:2]))
        shutil.rmtree(ROOT / "_build", ignore_errors=True)
        seq = build("--jobs", "1")
        rows.append(("cold, book executor, 1 at a time", *seq[:2]))
        shutil.rmtree(ROOT / "_build", ignore_errors=True)
        par = build()
        rows.append((f"cold, book executor, {os.cpu_count()} at a time", *par[:2]))
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
    jb_serial = sum(chapter_seconds(jb[2]).values())
    print(f"chapters with code: {len(chapters)} ({', '.join(chapters)}), {len(book_chapters())} notebooks "
          f"in all; machine: {os.cpu_count()} cores")
    print(f"{'build':<44}{'seconds':>10}{'notebooks executed':>22}")
    for name, seconds, executed in rows:
        print(f"{name:<44}{seconds:>10.1f}{executed:>22d}")
    print(f"sum of the chapters' own execution times: {jb_serial:.1f} s in new kernels (Jupyter Book), "
          f"{serial:.1f} s in forked kernels (book executor, 1 at a time)")
    print(f"one edited chapter: {edit[0]:.1f} s for a chapter that executes in {own:.1f} s "
          f"(target <= {own + 3:.1f} s)")
    cold_jb, cold_seq, cold_par, nochange = (r[1] for r in rows[:4])
    notebooks = len(book_chapters())   # the runnable chapters and the pages without code cells
    targets = {"parallel cold <= 0.55 x Jupyter Book's": cold_par <= 0.55 * cold_jb,
               "parallel cold <= 45 s": cold_par <= 45,
               "no change executes 0 in <= 5 s": rows[3][2] == 0 and nochange <= 5,
               "one edit executes 1 in <= its own time + 3 s": rows[4][2] == 1 and edit[0] <= own + 3,
               "lib change executes all": rows[5][2] == notebooks}
    for name, met in targets.items():
        print(f"  {'met' if met else 'NOT met'}: {name}")
    print(f"parallel / the book executor one at a time: {cold_par / cold_seq:.2f} "
          f"({cold_par:.1f} s vs {cold_seq:.1f} s)")
    print(f"headline: parallel cold build / Jupyter Book's cold build = {cold_par / cold_jb:.2f} "
          f"({cold_par:.1f} s vs {cold_jb:.1f} s; target <= 0.55)")


if __name__ == "__main__":
    main()
