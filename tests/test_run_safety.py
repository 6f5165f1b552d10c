"""The run command never mixes, loses or leaves stale results.

Runs real chapters (papermill, a real Jupyter kernel) of a tiny test book, and
asserts what is on disk afterwards: colliding grid labels, failed runs, a
failed re-run over a good one, Ctrl-C (SIGINT sent to a real run, single and
grid) and unreachable Dask schedulers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

import lib.book.run as run
from lib import ROOT
from lib.book.run import EXIT_INTERRUPTED, EXIT_REJECTED, main

from conftest import chapter_source, install_chapter

pytestmark = [pytest.mark.slow]

#: A chapter whose estimate is the number in ``data_path`` (or ``value``); it can fail or sleep.
TINY = chapter_source(
    ':tags: [parameters]\ndata_path = ""\nvalue = 1.0\nfail = False\nsleep = 0.0',
    "import time\nfrom pathlib import Path\nfrom lib import book\n"
    'book.setup("tiny", dict(data_path=data_path, value=value))\n'
    "time.sleep(sleep)\n"
    'if fail:\n    raise ValueError("tiny failed on purpose; fix: -p fail false")\n'
    "estimate = float(Path(data_path).read_text()) if data_path else value\n"
    'book.record("value", estimate=estimate)\nbook.save_results()',
    title="Tiny")


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    return install_chapter(tmp_path, monkeypatch, "tiny", TINY)


def _estimate(folder: Path) -> float:
    return json.loads((folder / "tiny.json").read_text())["estimates"][0]["estimate"]


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_colliding_grid_labels_get_their_own_folders_and_rows(tiny, tmp_path):
    for sub, number in (("a", "1.5"), ("b", "2.5")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "panel.csv").write_text(number)
    paths = f"{tmp_path / 'a' / 'panel.csv'},{tmp_path / 'b' / 'panel.csv'}"
    out = tmp_path / "out"
    assert main(["tiny", "--grid", f"data_path={paths}", "--jobs", "1", "--out", str(out)]) == 0
    grid = pd.read_csv(out / "tiny_grid" / "tiny_grid.csv")
    assert len(grid) == 2 and grid["run"].nunique() == 2
    by_file = grid.set_index("data_path")["estimate"]
    assert by_file[str(tmp_path / "a" / "panel.csv")] == 1.5
    assert by_file[str(tmp_path / "b" / "panel.csv")] == 2.5
    for label, estimate in zip(grid["run"], grid["estimate"]):
        assert label.startswith("data_path=panel.csv-")
        assert _estimate(out / "tiny_grid" / label) == estimate
    assert list(grid.columns[:7]) == ["run", "status", "error", "data_path", "fail", "sleep", "value"], \
        "every parameter of the run, defaults included"


def test_a_failed_grid_run_is_listed_with_its_error_and_counted(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["tiny", "--grid", "fail=false,true", "value=3", "--jobs", "1", "--out", str(out)])
    assert code == 1, "the exit code is the number of failed runs"
    grid = pd.read_csv(out / "tiny_grid" / "tiny_grid.csv")
    rows = grid.set_index("fail")
    assert rows.loc[False, "status"] == "ok" and rows.loc[False, "estimate"] == 3.0
    assert rows.loc[True, "status"] == "failed" and pd.isna(rows.loc[True, "estimate"])
    assert "chapter tiny, code cell 2, line 7 (`raise ValueError(" in rows.loc[True, "error"]
    assert "ValueError: tiny failed on purpose; fix: -p fail false" in rows.loc[True, "error"]
    assert (out / "tiny_grid" / "fail=True__value=3.0.failed" / "tiny.ipynb").exists()
    assert not (out / "tiny_grid" / "fail=True__value=3.0").exists()
    assert "1 of 2 runs failed" in capsys.readouterr().out


def test_a_new_grid_replaces_the_old_one_whole(tiny, tmp_path):
    out = tmp_path / "out"
    assert main(["tiny", "--grid", "value=1,2", "--jobs", "1", "--out", str(out)]) == 0
    assert main(["tiny", "--grid", "value=5", "--jobs", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "tiny_grid").iterdir()) == ["tiny_grid.csv", "value=5.0"]
    assert _hidden(out) == []


def test_a_failed_rerun_never_touches_the_earlier_results(tiny, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["tiny", "-p", "value", "1", "--out", str(out)]) == 0
    assert main(["tiny", "-p", "fail", "true", "--out", str(out)]) == 1
    assert _estimate(out / "tiny") == 1.0, "the earlier, complete run is left as it was"
    assert (out / "tiny.failed" / "tiny.ipynb").exists() and not (out / "tiny.failed" / "tiny.json").exists()
    assert str(out / "tiny.failed" / "tiny.ipynb") in capsys.readouterr().err
    assert main(["tiny", "-p", "value", "2", "--out", str(out)]) == 0
    assert _estimate(out / "tiny") == 2.0
    assert sorted(p.name for p in (out / "tiny").iterdir()) == ["outputs", "tiny.ipynb", "tiny.json"]
    assert _hidden(out) == [], "no partial folder is left behind"


# ------------------------------------------------------------------ Ctrl-C
def _start(tiny: Path, out: Path, *args: str) -> subprocess.Popen:
    code = (f"import sys; from pathlib import Path; import lib.book.run as r; "
            f"r.CHAPTERS_DIR = Path({str(tiny)!r}); sys.exit(r.main({list(args) + ['--out', str(out)]!r}))")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _kernels(proc: subprocess.Popen) -> list[psutil.Process]:
    found = []
    for p in psutil.Process(proc.pid).children(recursive=True):
        try:
            if "ipykernel" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.NoSuchProcess:   # it ended between the listing and the look (a pool's helper)
            pass
    return found


def _interrupt_when_kernels_run(proc: subprocess.Popen, n: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 120
    while len(kernels := _kernels(proc)) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the kernels never started"
        time.sleep(0.2)
    time.sleep(1.0)  # let the kernels reach the sleeping cell
    for kernel in kernels:  # over Unix sockets, so that concurrent kernels never race for a TCP port
        connection = json.loads(Path(kernel.cmdline()[kernel.cmdline().index("-f") + 1]).read_text())
        assert connection["transport"] == "ipc" and Path(connection["ip"]).is_absolute(), connection
    os.kill(proc.pid, signal.SIGINT)  # to the command only, as a detached Ctrl-C
    return kernels


@pytest.mark.parametrize("grid", [False, True], ids=["single", "grid"])
def test_ctrl_c_leaves_no_kernel_and_no_half_written_results(tiny, tmp_path, grid):
    out = tmp_path / "out"
    name = "tiny_grid" if grid else "tiny"
    args = (["--grid", "value=1,2", "sleep=60", "--jobs", "2"] if grid else ["-p", "sleep", "60"])
    assert main(["tiny", *(["--grid", "value=7", "--jobs", "1"] if grid else ["-p", "value", "7"]),
                 "--out", str(out)]) == 0  # an earlier, complete run
    proc = _start(tiny, out, "tiny", *args)
    kernels = _interrupt_when_kernels_run(proc, 2 if grid else 1)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, stderr
    assert "interrupted:" in stderr and f"{name}.interrupted" in stderr, stderr
    assert "Traceback" not in stderr, stderr
    _, alive = psutil.wait_procs(kernels, timeout=10)
    assert not alive, f"orphan kernels: {[p.pid for p in alive]}"
    assert not list(Path(tempfile.gettempdir()).glob(f"cbec-kernel-{proc.pid}-*")), "kernel sockets left"
    earlier = out / name / ("value=7.0" if grid else "")
    assert _estimate(earlier) == 7.0, "the earlier run is untouched"
    assert (out / f"{name}.interrupted").is_dir()
    assert _hidden(out) == []
    if not grid:   # the notebook is written when the run ends, not only every few seconds
        cells = json.loads((out / "tiny.interrupted" / "tiny.ipynb").read_text())["cells"]
        injected = next(c for c in cells if "injected-parameters" in c["metadata"].get("tags", []))
        assert "sleep = 60" in "".join(injected["source"]) and injected["execution_count"] is not None


# ------------------------------------------------------------------ Dask
def test_a_malformed_scheduler_address_is_one_line(tiny, tmp_path, capsys):
    assert main(["tiny", "--grid", "value=1,2", "--scheduler", "my laptop", "--out", str(tmp_path)]) \
        == EXIT_REJECTED
    err = capsys.readouterr().err.strip()
    assert err == ("error: --scheduler 'my laptop' is not a Dask scheduler address; give "
                   "tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786")
    assert list(tmp_path.iterdir()) == [tmp_path / "chapters"]


def test_a_scheduler_where_nothing_listens_is_one_line(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(run, "SCHEDULER_TIMEOUT", 2)
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    assert main(["tiny", "--grid", "value=1,2", "--scheduler", address, "--out", str(tmp_path / "o")]) \
        == EXIT_REJECTED
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --scheduler '{address}': no Dask scheduler answered there within 2 s")
    assert "\n" not in err, err
    assert not (tmp_path / "o").exists()
