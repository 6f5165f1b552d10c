"""The speed benchmarks still run against the library's signatures (``benchmarks/``).

A benchmark is not a test and nothing here times anything: each one runs once, small, and must
exit 0 and print its headline line. (Two of them had fallen behind when the estimators lost
their default column names.) The full runs and their figures are in the README.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SMALL_RUNS = {
    "placebo.py": ["--draws", "4", "--repeats", "1", "--loop-repeats", "1"],
    "mediation_bootstrap.py": ["20", "2"],
}


@pytest.mark.parametrize("script", sorted(SMALL_RUNS))
def test_a_benchmark_runs_small_and_prints_its_headline(script):
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *SMALL_RUNS[script]],
                         capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    last = run.stdout.strip().splitlines()[-1]
    assert ("faster" in last or "speed-up" in last), run.stdout[-2000:]
