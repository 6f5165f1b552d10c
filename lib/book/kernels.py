"""Chapter kernels forked from a warm process, so that no chapter pays for its imports.

A new IPython kernel spends 1.5-2.5 s before a chapter's first result: starting Python and
ipykernel, then importing NumPy, pandas, SciPy, statsmodels, linearmodels, diff-diff and
``lib``. The book's nineteen notebooks paid that nineteen times in every cold build, a third of
its CPU time, and the tests and a reader's grids once per run. Here each process that starts
several kernels (a worker of the book's build, a grid of the run command, a test process)
starts one *fork server* (:mod:`multiprocessing`'s ``forkserver``: :func:`start_server`) that
imports those modules once (:data:`PRELOAD`), in the background while the process's first
kernel starts afresh; every later kernel is a fork of it and starts with them in memory. The
server then freezes them (:func:`gc.freeze`, ``lib.book._warm``): a kernel's garbage collector,
and IPython's full collection when the kernel exits, no longer walk the preloaded modules
(0.12-0.14 s a full collection before; a one-cell notebook's whole run went from 0.7 s to 0.3 s).

The kernel itself is ipykernel's own, started with the command line and environment
``jupyter_client`` would have run it with (:func:`_kernel_main`); only the process it runs
in is made differently, by :class:`ForkedKernelProvisioner`. So the messages, the outputs
and the notebook are the same as from a kernel started by ``jupyter_client``:
``tests/test_kernels.py`` executes a probe notebook and a chapter both ways and compares every
output.

What must *not* be preloaded: ``matplotlib.pyplot`` and its inline backend. Imported with no
IPython shell running, the backend does not hook itself into the shell that starts later,
and figures would no longer be shown after the cell that made them. ``lib`` imports pyplot
only inside functions, so all of ``lib`` can be preloaded.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import uuid

#: Modules every chapter kernel starts with: the heavy libraries the chapters use and
#: ``lib``'s modules (none of which imports ``matplotlib.pyplot`` at import time).
#: A module that fails to import is skipped by the fork server (a chapter that needs it
#: then fails with the import error in its own cell, as in any kernel).
PRELOAD = (
    "numpy", "pandas", "scipy.stats", "scipy.optimize", "scipy.sparse", "scipy.linalg",
    "scipy.special", "statsmodels.api", "linearmodels", "diff_diff", "matplotlib",
    "matplotlib.figure", "matplotlib.colors", "PIL.Image", "yaml", "pyarrow.parquet",
    "IPython", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell",
    "lib", "lib.data", "lib.methods", "lib.present", "lib.book",
)


def preload() -> None:
    """Import :func:`_preload` (what the fork server does, from :mod:`lib.book._warm`); a module
    that fails to import is left out (a chapter that needs it fails in its own cell, as in a
    kernel of its own)."""
    import importlib

    for name in _preload():
        try:
            importlib.import_module(name)
        except Exception:   # noqa: BLE001 - the server must start whatever one module does
            pass


def _preload() -> list[str]:
    """:data:`PRELOAD` and every module of ``lib.data``, ``lib.methods``, ``lib.present``
    and ``lib.book`` (a chapter imports some of each)."""
    import pkgutil
    from pathlib import Path

    import lib

    modules = list(PRELOAD)
    for floor in ("data", "methods", "present", "book"):
        path = Path(lib.__file__).parent / floor
        modules += [f"lib.{floor}.{m.name}" for m in pkgutil.iter_modules([str(path)])
                    if not m.name.startswith("_")]
    # not the build and run commands themselves, nor this module (nothing in a chapter
    # imports them)
    return [m for m in modules if m not in {"lib.book.build", "lib.book.run", "lib.book.kernels",
                                            "lib.book.jupyter_book", "lib.book.reader_book"}]


#: The matplotlib backend ipykernel sets in a kernel's environment when none is set.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_CONTEXT = None
#: The process that started the fork server, and the environment it started with.
_SERVER_PID: int | None = None
_SERVER_ENV: dict[str, str] = {}
#: Variables the preloaded libraries read when they are imported (BLAS and OpenMP threads and
#: kernels, matplotlib's backend and folders, Python's own, diff-diff's thread pool): a kernel
#: whose environment sets any of them differently from the fork server's starts afresh, so
#: that it sees them as a kernel of its own would.
IMPORT_TIME_PREFIXES = ("OPENBLAS", "GOTO", "OMP_", "MKL_", "BLIS_", "MPL", "PYTHON", "RAYON_",
                        "NUMEXPR_", "ARROW_", "LD_")


def _context():
    """This process's fork-server context, its server importing :func:`_preload` once."""
    global _CONTEXT
    if _CONTEXT is None:
        import multiprocessing

        # ipykernel sets this in every kernel before matplotlib is imported; the fork server
        # imports matplotlib, so it must see the same value (a reader's MPLBACKEND wins)
        os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
        _CONTEXT = multiprocessing.get_context("forkserver")
        # one module, which imports the rest: the server's command line stays short (and names
        # no "ipykernel", which is how tools and tests tell kernel processes)
        _CONTEXT.set_forkserver_preload(["lib.book._warm"])
    return _CONTEXT


#: Whether the next kernel starts afresh although a server runs (see :func:`start_server`).
_NEXT_AFRESH = False
#: Platforms where a process may be forked safely (macOS and Windows: no).
_CAN_FORK = os.name != "nt" and sys.platform != "darwin"

#: What multiprocessing sends a child so that it re-imports its parent's main module.
_MAIN_MODULE_KEYS = ("init_main_from_name", "init_main_from_path")
_LAUNCH_LOCK = threading.Lock()


if _CAN_FORK:   # the fork server's modules exist where fork does
    import multiprocessing.context
    from multiprocessing import popen_forkserver, spawn

    class _KernelPopen(popen_forkserver.Popen):
        def _launch(self, process_obj):
            prepare = spawn.get_preparation_data

            def without_main(name):
                data = prepare(name)
                for key in _MAIN_MODULE_KEYS:
                    data.pop(key, None)
                return data

            # multiprocessing has no option for it: the function it calls is swapped for the
            # launch only (under a lock, as the swap is visible to every thread)
            with _LAUNCH_LOCK:
                spawn.get_preparation_data = without_main
                try:
                    super()._launch(process_obj)
                finally:
                    spawn.get_preparation_data = prepare

    class _KernelProcess(multiprocessing.context.ForkServerProcess):
        """A fork-server process that does not import the main module of the process starting it,
        as multiprocessing's children do: a kernel is ipykernel's, as a launched one is, and a
        reader's script without an ``if __name__ == "__main__"`` guard must not run again inside
        each of its kernels."""

        @staticmethod
        def _Popen(process_obj):
            return _KernelPopen(process_obj)


def start_server(*, first_afresh: bool = False) -> bool:
    """Start this process's fork server, for a process that will start several kernels; it
    imports :func:`_preload` in the background and this returns at once. ``first_afresh``:
    the next kernel starts afresh meanwhile, instead of waiting for those imports.

    Returns whether the server is this process's now: a process forked from one that has a
    server cannot have one (multiprocessing's server belongs to the process that started it),
    and its kernels start afresh."""
    global _SERVER_PID, _SERVER_ENV, _NEXT_AFRESH
    from multiprocessing import forkserver

    if _SERVER_PID == os.getpid():
        return True
    if _SERVER_PID is not None or not _CAN_FORK:
        return False
    _context()
    _SERVER_PID, _SERVER_ENV, _NEXT_AFRESH = os.getpid(), dict(os.environ), first_afresh
    forkserver.ensure_running()
    return True


def _import_time_environment(env) -> dict[str, str]:
    # an unset MPLBACKEND is the one ipykernel sets before anything imports matplotlib
    return {"MPLBACKEND": INLINE_BACKEND,
            **{k: v for k, v in env.items() if k.startswith(IMPORT_TIME_PREFIXES)}}


def _forkable(env: dict[str, str]) -> bool:
    """Whether a kernel with environment ``env`` may be a fork of the fork server: the server
    is this process's own (a forked child inherits its parent's, which it cannot use) and has
    the same :data:`IMPORT_TIME_PREFIXES` variables."""
    return (_SERVER_PID == os.getpid()
            and _import_time_environment(env) == _import_time_environment(_SERVER_ENV))


def _kernel_main(cmd: list[str], env: dict[str, str], cwd: str | None) -> None:
    """Run ipykernel in this (forked) process as ``cmd`` would in a new one.

    ``cmd`` is the kernel command ``jupyter_client`` built (``python -m ipykernel_launcher
    -f CONNECTION_FILE ...``); its arguments go to ipykernel unchanged.
    """
    os.setsid()   # its own process group, as jupyter_client's launcher gives a kernel
    os.environ.clear()
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    argv = cmd[3:]
    # ipykernel reads JPY_PARENT_PID (the process whose end ends the kernel; also whether to
    # print the "ipython kernel" banner) when its module is imported, which the fork server
    # did before this environment existed: it is given as the option instead. The parent it
    # watches is this process's own, the fork server, which ends with the process that
    # started the kernel.
    if env.get("JPY_PARENT_PID"):
        argv = [*argv, f"--IPKernelApp.parent_handle={os.getppid()}"]
    sys.argv = [cmd[0], *argv]
    from ipykernel import kernelapp

    try:
        kernelapp.launch_new_instance(argv=argv)
        _wait_for_control_thread(kernelapp.IPKernelApp.instance())
    finally:
        # what leaving the interpreter would run (multiprocessing ends a child with os._exit)
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()


#: How long an ending kernel waits for its control thread (see :func:`_wait_for_control_thread`).
CONTROL_JOIN_SECONDS = 1.0


def _wait_for_control_thread(app) -> None:
    """Let the control thread finish the shutdown request before the sockets close.

    ipykernel (7.x) answers a shutdown request on its control thread, stops that thread's loop
    and then publishes its "idle" status through the IOPub thread, while the main thread, its
    loop stopped too, already runs the exit handlers that close IOPub: when the close comes
    first, the publish blocks on a socket with no reader, the close waits for the control
    thread, and the kernel hangs until jupyter_client sends SIGTERM 2.5 s later (about one
    kernel in 25 here; posit-dev/positron#7142 reports the same hang). Joined first, the
    control thread ends once it has published."""
    thread = getattr(app, "control_thread", None)
    if thread is not None and thread.is_alive():
        thread.join(CONTROL_JOIN_SECONDS)


def _is_ipykernel(cmd: list[str]) -> bool:
    return len(cmd) >= 3 and cmd[1:3] == ["-m", "ipykernel_launcher"]


class _ForkedProcess:
    """The part of :class:`subprocess.Popen` that ``jupyter_client``'s provisioner uses,
    for a kernel that is a :class:`multiprocessing.Process`."""

    stdin = stdout = stderr = None

    def __init__(self, process) -> None:
        self._process = process
        self.pid = process.pid

    def poll(self) -> int | None:
        return None if self._process.is_alive() else self._process.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self._process.join(timeout)
        return self._process.exitcode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:   # it ended meanwhile, which Popen.send_signal allows too
                pass

    def kill(self) -> None:
        self._process.kill()

    def terminate(self) -> None:
        self._process.terminate()


def forked_kernel_manager_class(base=None):
    """A kernel manager class (``base``: default :func:`lib.book.run._kernel_manager_class`)
    whose ipykernel kernels are forks of this process's warm fork server, once
    :func:`start_server` has started it.

    Kernels start as ``base`` starts them while no server runs, for a language other than
    Python, with an environment that differs where the libraries read it at import
    (:func:`_forkable`), and on platforms without a safe ``fork``."""
    from jupyter_client.provisioning import LocalProvisioner

    from lib.book.run import _kernel_manager_class

    base = base or _kernel_manager_class()
    if not _CAN_FORK:
        return base

    class ForkedKernelProvisioner(LocalProvisioner):
        async def launch_kernel(self, cmd, **kwargs):
            global _NEXT_AFRESH

            env = dict(kwargs.get("env") or os.environ)
            if not _is_ipykernel(cmd):
                return await super().launch_kernel(cmd, **kwargs)
            if _NEXT_AFRESH or not _forkable(env):
                _NEXT_AFRESH = False
                return await super().launch_kernel(cmd, **kwargs)
            if not kwargs.get("independent"):
                env["JPY_PARENT_PID"] = str(os.getpid())   # as jupyter_client's launcher does
            process = _KernelProcess(target=_kernel_main, args=(list(cmd), env, kwargs.get("cwd")),
                                     name=f"kernel-{self.kernel_id}")
            process.start()
            self.process = _ForkedProcess(process)
            self.pid = self.pgid = process.pid   # the kernel's setsid makes its group its pid
            return self.connection_info

    class ForkedKernelManager(base):
        async def _async_pre_start_kernel(self, **kw):
            if self.provisioner is None:
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                self.provisioner = ForkedKernelProvisioner(kernel_id=self.kernel_id,
                                                           kernel_spec=self.kernel_spec, parent=self)
            return await super()._async_pre_start_kernel(**kw)

    return ForkedKernelManager
