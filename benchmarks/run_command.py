"""Benchmark: the run command (issue: parameterised re-runs).

Side by side, in one run:

* the baseline chapter re-run through ``python -m lib.run baseline_did`` against
  the same chapter converted by jupytext to a plain Python script and run with
  ``python`` (target: the command costs <= 2x the plain script);
* a grid of six named samples run in 2 parallel processes against the same six
  runs one after another (target: parallel <= 0.6x sequential on 2 cores).

Wall-clock medians over ``--reps`` repetitions (default 3), each a fresh
process, with ``OPENBLAS_NUM_THREADS=1`` so the two processes of the grid do not
compete for BLAS threads. Usage: ``python benchmarks/run_command.py [--reps N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "baseline_did"
GRID = "sample=all,east,central,west,no_municipalities,excluding_2020_batch"
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", OMP_NUM_THREADS="1")


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        script = tmp / f"{CHAPTER}.py"
        subprocess.run([py, "-m", "jupytext", "--to", "py:percent", "-o", str(script),
                        str(ROOT / "chapters" / f"{CHAPTER}.md")], check=True, capture_output=True)
        env = dict(ENV, CBEC_BOOK_OUTPUTS=str(tmp / "script_outputs"), MPLBACKEND="Agg")
        plain = [timed([py, str(script)], ROOT / "chapters", env) for _ in range(args.reps)]
        command = [timed([py, "-m", "lib.run", CHAPTER, "--out", str(tmp / f"cmd{i}")], ROOT, ENV)
                   for i in range(args.reps)]
        sequential = [timed([py, "-m", "lib.run", CHAPTER, "--grid", GRID, "--jobs", "1",
                             "--out", str(tmp / f"seq{i}")], ROOT, ENV) for i in range(args.reps)]
        parallel = [timed([py, "-m", "lib.run", CHAPTER, "--grid", GRID, "--jobs", "2",
                           "--out", str(tmp / f"par{i}")], ROOT, ENV) for i in range(args.reps)]

    med = statistics.median
    print(f"chapter {CHAPTER}; medians of {args.reps}; OPENBLAS_NUM_THREADS=1; 2 cores")
    print(f"{'what':<44}{'seconds':>10}")
    print(f"{'plain Python script (jupytext --to py)':<44}{med(plain):>10.2f}")
    print(f"{'python -m lib.run ' + CHAPTER:<44}{med(command):>10.2f}")
    print(f"{'grid of 6 samples, one after another':<44}{med(sequential):>10.2f}")
    print(f"{'grid of 6 samples, 2 processes':<44}{med(parallel):>10.2f}")
    print(f"run command / plain script = {med(command) / med(plain):.2f} (target <= 2.0)")
    print(f"headline: parallel grid / sequential grid = {med(parallel) / med(sequential):.2f} (target <= 0.6)")


if __name__ == "__main__":
    main()
