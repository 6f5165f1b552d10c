"""Benchmark: the book build's execution cache (issue: build contract).

Measures, in one run on this checkout:

1. a cold build (``_build`` removed: every chapter executes),
2. a rebuild with nothing changed (target: no notebook executed, <= 5 s),
3. a rebuild after editing one chapter's code (target: exactly that chapter re-executes),
4. a rebuild after touching ``lib/`` (every chapter re-executes: the cache is cleared),

counting executed notebooks from the build log. The edited chapter and the
``lib`` file are restored afterwards (and the book rebuilt, so the checkout is
left as it was). Usage: ``python benchmarks/build_cache.py``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.book.run import runnable_chapters  # noqa: E402


def build() -> tuple[float, int, str]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lib.book.build"], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        print(log[-4000:])
        raise SystemExit(f"build failed (exit {proc.returncode})")
    executed = len(re.findall(r"Executed notebook in", log))
    return seconds, executed, log


def main() -> None:
    chapters = runnable_chapters()
    target = ROOT / "chapters" / f"{chapters[-1]}.md"
    lib_file = ROOT / "lib" / "book" / "describe.py"
    original_chapter, original_lib = target.read_text(), lib_file.read_text()
    shutil.rmtree(ROOT / "_build", ignore_errors=True)
    rows = []
    try:
        rows.append(("cold build", *build()[:2]))
        rows.append(("no change", *build()[:2]))
        # an edit to a code cell (not only prose) so the cache must re-execute it
        edited = original_chapter.replace("book.save_results()", "book.save_results()  # edited", 1)
        assert edited != original_chapter, f"{target.name} has no save_results() cell to edit"
        target.write_text(edited)
        rows.append((f"edit one chapter ({target.stem})", *build()[:2]))
        lib_file.write_text(original_lib + "\n# touched by benchmarks/build_cache.py\n")
        rows.append(("touch lib/", *build()[:2]))
    finally:
        target.write_text(original_chapter)
        lib_file.write_text(original_lib)
        build()  # leave the book built from the committed sources

    print(f"chapters with code: {len(chapters)} ({', '.join(chapters)}); machine: 2 cores")
    print(f"{'build':<40}{'seconds':>10}{'notebooks executed':>22}")
    for name, seconds, executed in rows:
        print(f"{name:<40}{seconds:>10.1f}{executed:>22d}")
    cold, nochange = rows[0][1], rows[1][1]
    ok = rows[1][2] == 0 and nochange <= 5 and rows[2][2] == 1 and rows[3][2] == len(chapters) + 1
    print(f"targets met: {ok} (no-change executes 0 and <= 5 s; one edit executes 1; lib change executes all)")
    print(f"headline: no-change rebuild / cold build = {nochange / cold:.3f} ({nochange:.1f} s vs {cold:.1f} s)")


if __name__ == "__main__":
    main()
