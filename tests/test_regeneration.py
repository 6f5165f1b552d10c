"""The shipped data regenerate on any CPU: both generators under two or more BLAS kernels.

``data/derived/`` (city panel) and ``data/derived/fdi/`` (provincial panel) are
the artifact; their ``SHA256SUMS`` verify the files. The generators must
reproduce the files' *values* whatever kernel OpenBLAS picks: each check runs
in a fresh interpreter with ``OPENBLAS_CORETYPE`` set (the variable is read
when OpenBLAS loads, so it cannot be changed inside this process), and each
compares values within ``lib.data.synthetic.REGEN_RTOL``, never bytes of floats.

Kernels: the one this machine uses (``OPENBLAS_CORETYPE`` as the environment
sets it, or OpenBLAS's own choice) and every kernel in :data:`KERNELS` whose
instruction sets ``/proc/cpuinfo`` lists; a kernel the CPU lacks is never forced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lib import ROOT
from lib.data import synthetic as S

#: OpenBLAS core type -> the /proc/cpuinfo flags it needs (SSE3 is "pni" there).
KERNELS = {
    "Prescott": {"pni"},
    "Haswell": {"avx2", "fma"},
    "SkylakeX": {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"},
}

_CHECK = """
import json
import numpy
from threadpoolctl import threadpool_info
from lib.data import provincial, synthetic
kernels = sorted({i.get("architecture") for i in threadpool_info() if i["internal_api"] == "openblas"})
print(json.dumps({"kernels": kernels, "city": synthetic.check_default_panel(),
                  "provincial": provincial.check_default_panel()}))
"""


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _kernel_choices() -> list[str | None]:
    """``None`` (the machine's own choice) first, then the supported named kernels."""
    flags = _cpu_flags()
    return [None] + [name for name, need in KERNELS.items() if need <= flags]


def _run_check(coretype: str | None) -> dict:
    env = dict(os.environ)
    if coretype is not None:
        env["OPENBLAS_CORETYPE"] = coretype
    proc = subprocess.run([sys.executable, "-c", _CHECK], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"OPENBLAS_CORETYPE={coretype}: {proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def checks() -> dict[str | None, dict]:
    if not _cpu_flags():
        pytest.skip("test_regeneration: /proc/cpuinfo unreadable, so no kernel can be chosen safely")
    return {ct: _run_check(ct) for ct in _kernel_choices()}


def test_two_kernels_really_ran(checks):
    used = {k for result in checks.values() for k in result["kernels"]}
    if len(used) < 2:
        pytest.skip(f"test_two_kernels_really_ran: this CPU offers one OpenBLAS kernel only ({used})")
    assert len(used) >= 2, used


@pytest.mark.parametrize("panel", ["city", "provincial"])
def test_both_generators_reproduce_the_shipped_files_on_every_kernel(checks, panel):
    failures = {f"OPENBLAS_CORETYPE={ct or '(machine default)'} -> {r['kernels']}": r[panel]
                for ct, r in checks.items() if r[panel]}
    assert not failures, json.dumps(failures, indent=1)


# ------------------------------------------------------ the comparison itself
def _frame() -> pd.DataFrame:
    return pd.DataFrame({"unit": ["a", "b", "c"], "x": [1.0, 2.0, np.nan], "n": [1, 2, 3],
                         "flag": [True, False, True]})


def test_values_within_the_tolerance_agree():
    shipped = _frame()
    new = shipped.assign(x=shipped["x"] * (1 + 0.5 * S.REGEN_RTOL))
    assert S.frame_differences(new, S._reread(shipped), "f.csv") == []


def test_a_difference_names_the_file_column_and_rows():
    shipped = _frame()
    new = shipped.assign(x=[1.0, 2.0 * (1 + 10 * S.REGEN_RTOL), np.nan], unit=["a", "B", "c"])
    out = S.frame_differences(new, S._reread(shipped), "f.csv")
    assert any("f.csv: column 'x' differs in 1 of 3 rows (rows 1)" in m and "1e-08" in m for m in out), out
    assert any("column 'unit' differs in 1 of 3 rows (rows 1)" in m for m in out), out
    assert S.frame_differences(new.drop(columns="n"), S._reread(shipped), "f.csv")[0].startswith(
        "f.csv: columns differ (generator only: []; file only: ['n']")


def test_json_differences_are_paths_with_both_values():
    assert S.json_differences({"a": [1.0, "x"]}, {"a": [1.0 + 1e-12, "x"]}, "t.json") == []
    out = S.json_differences({"a": [1.1, "y"], "b": 1}, {"a": [1.0, "x"]}, "t.json")
    assert "t.json: /a/0 is 1.0 in the file, 1.1 regenerated (tolerance 1e-09 relative)" in out
    assert "t.json: /a/1 is 'x' in the file, 'y' regenerated" in out
    assert "t.json: /b is only in the generator" in out


def test_the_manifest_check_reads_the_files_on_disk(tmp_path):
    S.write_with_manifest({"f.csv": _frame(), "t.json": '{"a": 1}\n'}, tmp_path)
    assert S.check_files({"f.csv": _frame(), "t.json": '{"a": 1}\n'}, tmp_path) == []
    (tmp_path / "t.json").write_text('{"a": 2}\n')
    problems = S.check_files({"f.csv": _frame(), "t.json": '{"a": 1}\n'}, tmp_path)
    assert any("t.json: bytes differ from its SHA-256" in p for p in problems), problems
    assert any("/a is 2 in the file, 1 regenerated" in p for p in problems), problems


def test_both_generators_share_one_command_line(capsys):
    from lib.data import provincial

    assert provincial.main(["--check"]) == 0 and S.main(["--check"]) == 0
    out = capsys.readouterr().out
    assert out.count("match their SHA256SUMS, and a regeneration reproduces their values") == 2
    with pytest.raises(SystemExit):
        provincial.main(["--summary"])  # only the city generator has a summary
