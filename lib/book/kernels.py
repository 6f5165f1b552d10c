"""Chapter kernels forked from a warm process, so that no chapter pays for its imports.

A fresh IPython kernel spends about 2.5 s before a chapter's first result: starting Python and
ipykernel, then importing NumPy, pandas, SciPy, statsmodels, linearmodels, diff-diff and
``lib``. Nineteen chapters paid that 19 times, half of a cold build's CPU time. Here each
worker process keeps one *fork server* (:mod:`multiprocessing`'s ``forkserver``) that has
imported those modules once (:data:`PRELOAD`); every kernel is a fork of it, and starts with
them in memory.

The kernel itself is ipykernel's own, started with the command line and environment
``jupyter_client`` would have run it with (:func:`_kernel_main`); only the process it runs
in is made differently, by :class:`ForkedKernelProvisioner`. So the messages, the outputs
and the notebook are the same as from a kernel started by ``jupyter_client``:
``tests/test_kernels.py`` executes chapters both ways and compares every output.

What must *not* be preloaded: ``matplotlib.pyplot`` and its inline backend. Imported with no
IPython shell running, the backend does not hook itself into the shell that starts later,
and figures would no longer be shown after the cell that made them. ``lib`` imports pyplot
only inside functions, so all of ``lib`` can be preloaded.
"""

from __future__ import annotations

import atexit
import os
import sys
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
#: The environment the fork server imported :data:`PRELOAD` in (set when it starts).
_SERVER_ENV: dict[str, str] | None = None
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
        _CONTEXT.set_forkserver_preload(_preload())
    return _CONTEXT


def _import_time_environment(env) -> dict[str, str]:
    # an unset MPLBACKEND is the one ipykernel sets before anything imports matplotlib
    return {"MPLBACKEND": INLINE_BACKEND,
            **{k: v for k, v in env.items() if k.startswith(IMPORT_TIME_PREFIXES)}}


def _forkable(env: dict[str, str]) -> bool:
    """Whether a kernel with environment ``env`` may be a fork of this process's fork server:
    the server has the same :data:`IMPORT_TIME_PREFIXES` variables (or is not started yet,
    and starts with this process's)."""
    server = _SERVER_ENV if _SERVER_ENV is not None else dict(os.environ)
    return _import_time_environment(env) == _import_time_environment(server)


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
    finally:
        # what leaving the interpreter would run (multiprocessing ends a child with os._exit)
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()


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
        os.kill(self.pid, signum)

    def kill(self) -> None:
        self._process.kill()

    def terminate(self) -> None:
        self._process.terminate()


def forked_kernel_manager_class(base=None):
    """A kernel manager class (``base``: default :func:`lib.book.run._kernel_manager_class`)
    whose ipykernel kernels are forks of this process's warm fork server. Kernels of another
    language, and platforms without ``fork``, start as ``base`` starts them."""
    from jupyter_client.provisioning import LocalProvisioner

    from lib.book.run import _kernel_manager_class

    base = base or _kernel_manager_class()
    if os.name == "nt" or sys.platform == "darwin":  # no safe fork there
        return base

    class ForkedKernelProvisioner(LocalProvisioner):
        async def launch_kernel(self, cmd, **kwargs):
            global _SERVER_ENV

            env = dict(kwargs.get("env") or os.environ)
            if not _is_ipykernel(cmd) or not _forkable(env):
                return await super().launch_kernel(cmd, **kwargs)
            if not kwargs.get("independent"):
                env["JPY_PARENT_PID"] = str(os.getpid())   # as jupyter_client's launcher does
            context = _context()
            if _SERVER_ENV is None:   # the first kernel starts the server, with this environment
                _SERVER_ENV = dict(os.environ)
            process = context.Process(target=_kernel_main, args=(list(cmd), env, kwargs.get("cwd")),
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
