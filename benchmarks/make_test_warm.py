"""Benchmark: ``make test`` with a warm environment, this checkout against a base commit (issue: performance).

Measures, in one run: ``make test``'s two steps (``python -m lib.book.build --strict``, skipped
when these inputs already passed one, then ``OPENBLAS_NUM_THREADS=1 pytest -n 2 --dist
loadfile``, quiet and without pytest's cache, so that neither tree's run writes the other's)
on this checkout and on ``--base`` checked out in a temporary git worktree, run
alternately ``--rounds`` times (head, base, head, base, ...) so that the machine's drift falls
on both alike. Both use this interpreter's environment, with ``PYTHONPATH`` on their own tree
(the editable install would otherwise import this checkout's ``lib`` in the base's tests), and
each has passed its strict build before the first timed run, so no timed run executes a chapter.

The default base, 731dc25, is the last commit before the suite's speed-ups of 2026-12-07 with
the same 1,033 tests; earlier commits run a smaller, different suite, so their time is not the
same work. Target: head <= 0.7 x base on the means. Usage:
``python benchmarks/make_test_warm.py [--base REV] [--rounds N]`` (about 8 minutes a round on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = "731dc25"
TARGET = 0.7


def run(cmd: list[str], tree: Path, env: dict[str, str] | None = None) -> str:
    """Run ``cmd`` in ``tree`` with ``PYTHONPATH`` on it; a failure stops the benchmark."""
    path = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path, **(env or {})})
    if proc.returncode != 0:
        print((proc.stdout + proc.stderr)[-4000:])
        raise SystemExit(f"{' '.join(cmd[2:5])} failed in {tree} (exit {proc.returncode})")
    return proc.stdout + proc.stderr


def make_test(tree: Path) -> tuple[float, str]:
    """One warm ``make test`` (its two commands) in ``tree``: seconds and pytest's summary."""
    started = time.perf_counter()
    run([sys.executable, "-m", "lib.book.build", "--strict"], tree)
    log = run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "-q", "-p", "no:cacheprovider"],
              tree, {"OPENBLAS_NUM_THREADS": "1"})
    seconds = time.perf_counter() - started
    summary = re.findall(r"^=*\s*(\d+ passed.*?) in [\d.]+s", log, re.M)
    return seconds, summary[-1] if summary else log.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default=BASE, help=f"the commit to compare with (default {BASE})")
    parser.add_argument("--rounds", type=int, default=2, help="head/base alternations (default 2)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    found = subprocess.run(["git", "rev-parse", "--short", "--verify", "--quiet", f"{args.base}^{{commit}}"],
                           cwd=ROOT, capture_output=True, text=True)
    if found.returncode != 0:   # a shallow clone, or a checkout without git: nothing to compare with
        print(f"skipped: the base commit {args.base} is not in this checkout's git history "
              f"(fetch it, or pass --base REV)")
        return
    rev = found.stdout.strip()
    base = Path(tempfile.mkdtemp(prefix="bench-make-test-")) / "base"
    subprocess.run(["git", "worktree", "add", "--detach", str(base), rev], cwd=ROOT, check=True,
                   capture_output=True)
    # Tests that start `.venv/bin/python` find the same environment in the base's tree.
    (base / ".venv").symlink_to(Path(sys.prefix))
    times: dict[str, list[float]] = {"head": [], "base": []}
    summaries: dict[str, str] = {}
    try:
        for tree in (ROOT, base):  # untimed: each tree passes its strict build once
            run([sys.executable, "-m", "lib.book.build", "--strict"], tree)
        for _ in range(args.rounds):
            for name, tree in (("head", ROOT), ("base", base)):
                seconds, summaries[name] = make_test(tree)
                times[name].append(seconds)
                print(f"  {name}: {seconds:.1f} s ({summaries[name]})", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
        shutil.rmtree(base.parent, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True)
    print(f"{'warm make test':<24} {'runs (s, in order)':<28} {'mean s':>8}  tests")
    for name in ("head", "base"):
        label = "this checkout" if name == "head" else f"base {rev}"
        runs = ", ".join(f"{t:.1f}" for t in times[name])
        print(f"{label:<24} {runs:<28} {statistics.mean(times[name]):>8.1f}  {summaries[name]}")
    pairs = [h / b for h, b in zip(times["head"], times["base"])]
    print("each round, head / base: " + ", ".join(f"{r:.2f}" for r in pairs))
    ratio = statistics.mean(times["head"]) / statistics.mean(times["base"])
    verdict = "met" if ratio <= TARGET else "not met"
    print(f"headline: warm make test, this checkout / {rev} = {ratio:.2f}x on the means "
          f"({verdict}: target <= {TARGET}x)")


if __name__ == "__main__":
    main()
