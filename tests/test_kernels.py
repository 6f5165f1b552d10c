"""Kernels forked from a warm process (``lib.book.kernels``) behave as kernels that
``jupyter_client`` starts: same outputs (streams, rich displays, inline figures, glue, errors),
same working folder and environment, and they end with their notebook, or at a timeout.

(``tests/test_chapters.py::test_second_execution_matches_the_book_build`` compares every
chapter of the book, executed by the build in forked kernels, with a papermill run in a
kernel of its own.)
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_cache.executors.utils import single_nb_execution

from lib import ROOT
from lib.book.build import notebook_output_differences
from lib.book.kernels import _is_ipykernel, forked_kernel_manager_class
from lib.book.run import _kernel_manager_class

CELLS = [
    "import os, sys\nprint(os.getppid(), os.path.basename(os.getcwd()))",
    "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]);",   # shown by the inline backend
    "import pandas as pd\npd.DataFrame({'a': [1, 2]})",
    "print(os.environ.get('CBEC_KERNEL_TEST'), 'JPY_PARENT_PID' in os.environ, os.environ['MPLBACKEND'])",
    "from myst_nb import glue\nglue('x', 1.5)",
    "print(__name__, type(get_ipython()).__name__)",
    "import sys\nprint('warning text', file=sys.stderr)",
    "raise ValueError('deliberate error 5c2e')",
]


def _notebook(cells=CELLS):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _execute(nb, manager, cwd: Path, *, timeout: int = 120, allow_errors: bool = True):
    return single_nb_execution(nb, cwd=str(cwd), timeout=timeout, allow_errors=allow_errors,
                               meta_override=True, kernel_manager_class=manager)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CBEC_KERNEL_TEST", "seen")
    cwd = tmp_path / "chapter_folder"
    cwd.mkdir()
    return cwd


@pytest.fixture
def warm():
    """This process's fork server, started (a process's first kernel would start it)."""
    from lib.book import kernels

    assert kernels.start_server()
    kernels._NEXT_AFRESH = False   # the next kernel is a fork, whatever ran before in this process
    return kernels


def _parent(nb, cell: int = 0) -> int:
    return int(nb.cells[cell].outputs[0]["text"].split()[0])


def test_a_forked_kernel_gives_the_outputs_of_a_kernel_of_its_own(folder, warm):
    forked, fresh = _notebook(), _notebook()
    assert _execute(forked, forked_kernel_manager_class(), folder).err is None
    assert _execute(fresh, _kernel_manager_class(), folder).err is None
    assert _parent(forked) != os.getpid() and _parent(fresh) == os.getpid()   # a fork, and not
    for nb in (forked, fresh):   # the parents differ, of course: the rest must not
        nb.cells[0].outputs[0]["text"] = nb.cells[0].outputs[0]["text"].split(maxsplit=1)[1]
    assert notebook_output_differences(fresh, forked, "probe") == []
    out = [c.outputs for c in forked.cells]
    assert out[0][0]["text"].strip() == "chapter_folder"                 # its working folder
    assert any("image/png" in o.get("data", {}) for o in out[1])          # the figure was shown
    assert "text/html" in out[2][0]["data"]
    assert out[3][0]["text"].split() == ["seen", "True", "module://matplotlib_inline.backend_inline"]
    assert out[5][0]["text"].split() == ["__main__", "ZMQInteractiveShell"]
    assert out[6][0]["name"] == "stderr"
    assert out[7][0]["ename"] == "ValueError" and out[7][0]["evalue"] == "deliberate error 5c2e"


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_chapter_gives_the_same_outputs_in_a_forked_kernel(warm, tmp_path, monkeypatch):
    import jupytext

    from lib import ROOT

    monkeypatch.setenv("CBEC_BOOK_OUTPUTS", str(tmp_path / "outputs"))
    chapter = ROOT / "chapters" / "baseline_did.md"
    forked, fresh = jupytext.read(chapter), jupytext.read(chapter)
    assert _execute(forked, forked_kernel_manager_class(), chapter.parent, allow_errors=False).err is None
    assert _execute(fresh, _kernel_manager_class(), chapter.parent, allow_errors=False).err is None
    assert notebook_output_differences(fresh, forked, "baseline_did") == []


def test_a_process_forks_its_kernels_once_it_has_started_a_server(folder):
    import subprocess
    import sys

    # a script without a main guard: multiprocessing's children would run it again, a kernel not
    script = (
        "import os, nbformat\n"
        "with open('imported_by.txt', 'a') as f: f.write(f'{os.getpid()}\\n')\n"
        "from jupyter_cache.executors.utils import single_nb_execution\n"
        "from lib.book import kernels\n"
        "def parent():\n"
        "    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('import os; print(os.getppid())')])\n"
        "    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}\n"
        "    assert single_nb_execution(nb, cwd='.', timeout=120, allow_errors=False, meta_override=True,\n"
        "        kernel_manager_class=kernels.forked_kernel_manager_class()).err is None\n"
        "    return int(nb.cells[0].outputs[0]['text'])\n"
        "alone = parent()\n"
        "kernels.start_server(first_afresh=True)\n"
        "first, second = parent(), parent()\n"
        "print(alone == os.getpid(), first == os.getpid(), second != os.getpid())\n")
    (folder / "no_guard.py").write_text(script)
    proc = subprocess.run([sys.executable, "no_guard.py"], cwd=folder, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # no server: a kernel of its own; then the first afresh while the server warms, the next a
    # fork, which did not import the script as its main module (only the script's process did)
    assert proc.stdout.split()[-3:] == ["True", "True", "True"], proc.stdout[-2000:]
    assert len((folder / "imported_by.txt").read_text().split()) == 1


def test_a_process_forked_from_one_with_a_server_starts_its_kernels_afresh(warm):
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(warm.start_server) is False


def test_a_forked_kernel_ends_with_its_notebook(folder, warm):
    nb = _notebook(["import gc, os\nprint(os.getppid(), os.getpid(), os.getpgid(0), gc.get_freeze_count())"])
    assert _execute(nb, forked_kernel_manager_class(), folder).err is None
    parent, pid, group, frozen = map(int, nb.cells[0].outputs[0]["text"].split())
    assert parent != os.getpid() and group == pid   # a fork, in a group of its own as launched kernels
    # the server's preloaded objects are frozen: the kernel's garbage collector skips them
    assert frozen > 50_000, frozen
    assert _gone(pid), f"kernel process {pid} still runs after its notebook finished"


def test_a_forked_kernel_runs_its_exit_handlers_after_its_control_thread_has_ended(folder, warm):
    """ipykernel publishes the control thread's "idle" after a shutdown request while the main
    thread runs the exit handlers that close IOPub; where the close came first the kernel hung
    until jupyter_client sent SIGTERM (one kernel in 25). The publish is delayed here: the exit
    handlers must still start only once the control thread has ended, and the kernel end on
    the shutdown request alone."""
    from jupyter_client.manager import _ShutdownStatus
    from nbclient import NotebookClient

    late = (
        "import atexit, time\nfrom ipykernel.kernelapp import IPKernelApp\n"
        "k = get_ipython().kernel\npublish = k._publish_status_and_flush\n"
        "def after_shutdown(status, channel, *args, **kwargs):\n"
        "    if status == 'idle' and channel == 'control' and k._shutdown_message is not None:\n"
        "        time.sleep(0.3)\n"
        "    return publish(status, channel, *args, **kwargs)\n"
        "k._publish_status_and_flush = after_shutdown\n"
        "control = IPKernelApp.instance().control_thread\n"
        "atexit.register(lambda: open('control_at_exit.txt', 'w').write(str(control.is_alive())))")
    managers = []

    class Recorded(forked_kernel_manager_class()):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            managers.append(self)

    NotebookClient(_notebook([late]), kernel_manager_class=Recorded, timeout=60,
                   resources={"metadata": {"path": str(folder)}}).execute()
    assert (folder / "control_at_exit.txt").read_text() == "False", "exit handlers ran beside the control thread"
    (km,) = managers
    assert km._shutdown_status == _ShutdownStatus.ShutdownRequest, f"the kernel needed {km._shutdown_status}"


def test_a_forked_kernel_is_stopped_at_the_cell_timeout(folder, warm):
    nb = _notebook(["import os\nprint(os.getpid(), flush=True)", "import time\ntime.sleep(120)"])
    started = time.monotonic()
    result = _execute(nb, forked_kernel_manager_class(), folder, timeout=3, allow_errors=False)
    assert result.err is not None and "timed out" in str(result.err).lower()
    assert time.monotonic() - started < 60
    assert _gone(int(nb.cells[0].outputs[0]["text"]))


def test_only_ipykernel_commands_are_forked():
    assert _is_ipykernel(["/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "c.json"])
    assert not _is_ipykernel(["/usr/bin/R", "--slave", "-e", "IRkernel::main()", "c.json"])
    assert not _is_ipykernel(["python"])


def test_a_kernel_whose_import_time_environment_differs_starts_afresh(folder, warm, monkeypatch):
    """BLAS threads, matplotlib's backend, Python's own variables are read when the libraries
    are imported: a kernel that sets them otherwise than the fork server cannot be its fork."""
    kernels = warm
    probe = ["import os, sys\nprint(os.getppid(), os.environ.get('OPENBLAS_NUM_THREADS'))"]
    first, second = _notebook(probe), _notebook(probe)
    assert _execute(first, forked_kernel_manager_class(), folder).err is None
    server_parent = _parent(first)
    assert server_parent != os.getpid()
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3" if os.environ.get("OPENBLAS_NUM_THREADS") != "3" else "2")
    assert not kernels._forkable(dict(os.environ))
    assert _execute(second, forked_kernel_manager_class(), folder).err is None
    parent, threads = second.cells[0].outputs[0]["text"].split()
    assert int(parent) != server_parent and int(parent) == os.getpid()   # launched by this process
    assert threads == os.environ["OPENBLAS_NUM_THREADS"]
    # ipykernel's own default backend is no difference
    assert kernels._import_time_environment({}) == kernels._import_time_environment(
        {"MPLBACKEND": kernels.INLINE_BACKEND})
