"""Re-run a chapter with new parameters: ``python -m lib.run CHAPTER [-p NAME VALUE ...]``.

Each chapter's first code cell is tagged ``parameters`` and holds only literals.
This command reads those defaults, validates the reader's values against them
*before anything runs*, executes the chapter with papermill and writes, in
``DIR/CHAPTER/`` (``DIR`` is ``--out``, default ``runs/``):

* ``CHAPTER.ipynb`` — the executed notebook,
* ``CHAPTER.json`` — every headline estimate (name, estimate, s.e., t, p, N,
  truth, paper) and the parameters used,
* ``outputs/`` — the chapter's tables and figures.

``--grid NAME=V1,V2 ...`` runs the cartesian product of values in parallel
processes (``--jobs``, default 2; or on a Dask cluster with ``--scheduler ADDRESS``)
into ``DIR/CHAPTER_grid/``: one folder per run and one tidy CSV of all runs,
``CHAPTER_grid.csv``, with each run's status, error and full parameters.

A run never mixes with, or half-overwrites, an earlier one: it writes into a
hidden folder that replaces ``DIR/CHAPTER/`` (or the grid's folder) only when it
is complete. A failed run is kept in ``DIR/CHAPTER.failed/``, an interrupted one
(Ctrl-C) in ``DIR/CHAPTER.interrupted/``; Ctrl-C also ends the Jupyter kernels.

Exit codes: 0 all runs succeeded; 1-99 that many runs failed; 100 the request
was rejected before anything ran (unknown chapter or parameter, bad value,
unreachable ``--scheduler``); 130 interrupted.

Examples::

    python -m lib.run --list
    python -m lib.run baseline_did -p sample no_municipalities --out runs/
    python -m lib.run baseline_did -p data_path my.dta -p columns my_columns.yml
    python -m lib.run baseline_did -p data_path my.dta -p unit code -p time yr -p outcome patents
    python -m lib.run baseline_did --grid sample=all,east,no_municipalities
    python -m lib.run lab --scenario homogeneous --scenario dynamic --reps 10000 [--scheduler ADDR]
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from lib import ROOT, shown_path

CHAPTERS_DIR = ROOT / "chapters"


class RunError(ValueError):
    """A run request the command rejects before executing anything."""


# --------------------------------------------------------------------------- chapters
def toc_chapters(root: Path = ROOT) -> list[str]:
    """Chapter names (file stems) in the order of ``_toc.yml`` (the book's, or the book at ``root``)."""
    import yaml

    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return [Path(f).name for f in files]


def chapter_path(chapter: str) -> Path:
    path = CHAPTERS_DIR / f"{chapter}.md"
    if not path.exists():
        raise RunError(f"unknown chapter {chapter!r}; chapters are: {', '.join(runnable_chapters())}")
    return path


def read_notebook(path: Path):
    import jupytext

    return jupytext.read(path)


#: A MyST code cell: its opening fence, its body, its closing fence (jupytext's MyST format).
_CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


def code_cells(path: Path) -> list[tuple[list[str], str]]:
    """``(tags, source)`` of each code cell of a MyST notebook, read without jupytext.

    Every chapter's setup reads its own ``parameters`` cell; importing jupytext (and the
    JSON-schema validators nbformat pulls in) costs about 3 s per kernel, more than most
    chapters' own computations. Options are the ``:key: value`` lines (or a ``---`` YAML
    block) at the top of the cell, as jupytext writes them; ``tests/test_run.py`` checks
    this reader against jupytext on every chapter.
    """
    import yaml

    cells = []
    for match in _CODE_CELL.finditer(path.read_text(encoding="utf-8")):
        lines = match.group(1).split("\n")[:-1]
        options: dict[str, Any] = {}
        if lines and lines[0].strip() == "---":
            end = lines.index("---", 1)
            options = yaml.safe_load("\n".join(lines[1:end])) or {}
            lines = lines[end + 1:]
        else:
            while lines and re.match(r"^:[\w-]+:", lines[0]):
                key, _, value = lines.pop(0)[1:].partition(":")
                options[key] = yaml.safe_load(value) if value.strip() else None
            if options and lines and not lines[0].strip():
                lines = lines[1:]
        tags = options.get("tags") or []
        cells.append((list(tags) if isinstance(tags, list) else [tags], "\n".join(lines)))
    return cells


def chapter_parameters(chapter: str) -> dict[str, Any]:
    """Defaults of the chapter's ``parameters`` cell (literal assignments only)."""
    for tags, source in code_cells(chapter_path(chapter)):
        if "parameters" in tags:
            return _literal_assignments(source, chapter)
    return {}


def _literal_assignments(source: str, chapter: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError as err:
                raise RunError(f"chapter {chapter!r}: parameter {node.targets[0].id!r} is not a literal") from err
    return out


def runnable_chapters() -> list[str]:
    """Chapters that have code (and so a ``parameters`` cell)."""
    out = []
    for name in toc_chapters():
        if code_cells(CHAPTERS_DIR / f"{name}.md"):
            out.append(name)
    return out


# --------------------------------------------------------------------------- values
#: Chapters on the companion paper's provincial panel use its own named samples.
PROVINCIAL_CHAPTER_PREFIX = "fdi_"


def sample_names(chapter: str = "") -> list[str]:
    """The named samples a chapter accepts (city panel, or provincial for ``fdi_*``)."""
    from lib.data.samples import PROVINCIAL_SAMPLES, SAMPLES

    return list(PROVINCIAL_SAMPLES if chapter.startswith(PROVINCIAL_CHAPTER_PREFIX) else SAMPLES)


def _validate_sample(value: Any, chapter: str = "") -> None:
    valid = sample_names(chapter)
    if value not in valid:
        raise RunError(f"sample {value!r} is not a named sample of {chapter or 'the city panel'}; "
                       f"valid: {', '.join(valid)}")


def _validate_existing_path(name: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value in (None, ""):
            return
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = (Path.cwd() / path).resolve()
        if not path.exists():
            raise RunError(f"parameter {name}: {value!r} does not exist (looked at {path})")
    return check


#: Checks of parameter values beyond their type, shared by all chapters.
VALIDATORS: dict[str, Callable[[Any], None]] = {
    "data_path": _validate_existing_path("data_path"),
    "columns": _validate_existing_path("columns"),
    "corpus_path": _validate_existing_path("corpus_path"),
    "themes_path": _validate_existing_path("themes_path"),
}
#: Kernel start-ups tried before a run gives up (see ``_execute``).
KERNEL_START_ATTEMPTS = 3
#: Parameters whose value is a file path: made absolute so the chapter finds them.
PATH_PARAMETERS = ("data_path", "columns", "corpus_path", "themes_path", "registry")
#: Column roles and loader options accepted by every chapter that reads a panel (it has a
#: ``columns`` parameter): ``-p outcome my_outcome`` or ``-p drop_singletons true`` is folded
#: into the column file (see lib.data.contract).
ROLE_PARAMETERS = ("unit", "time", "outcome", "treatment", "adoption", "cluster", "weights", "sheet", "sep",
                   "decimal", "drop_missing_outcome", "allow_always_treated", "drop_singletons",
                   "paper_panel", "book_roles")
_FLAG_ROLES = ("drop_missing_outcome", "allow_always_treated", "drop_singletons", "paper_panel",
               "book_roles")


def coerce(name: str, raw: str, default: Any, chapter: str) -> Any:
    """Parse the command-line string ``raw`` to the type of the default value."""
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise RunError(f"{chapter}: parameter {name} expects true/false, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise RunError(f"{chapter}: parameter {name} expects an integer, got {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise RunError(f"{chapter}: parameter {name} expects a number, got {raw!r}") from None
    if isinstance(default, (list, tuple, dict)):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            raise RunError(f"{chapter}: parameter {name} expects a Python literal like {default!r}, "
                           f"got {raw!r}") from None
        if not isinstance(value, type(default)):
            raise RunError(f"{chapter}: parameter {name} expects a {type(default).__name__}, got {raw!r}")
        return value
    return raw  # strings and None defaults take the string as given


def resolve_parameters(chapter: str, pairs: list[tuple[str, str]] | dict[str, Any]) -> dict[str, Any]:
    """Validate ``pairs`` against the chapter's parameters; return the typed overrides."""
    defaults = chapter_parameters(chapter)
    items = pairs.items() if isinstance(pairs, dict) else pairs
    out: dict[str, Any] = {}
    roles: dict[str, str] = {}
    for name, raw in items:
        if name in ROLE_PARAMETERS and name not in defaults and "columns" in defaults:
            roles[name] = _role_value(name, raw, chapter)
            continue
        if name not in defaults:
            valid = ", ".join(defaults) or "(none)"
            raise RunError(f"{chapter}: unknown parameter {name!r}; this chapter's parameters are: {valid}")
        value = coerce(name, raw, defaults[name], chapter) if isinstance(raw, str) else raw
        if name == "sample":
            _validate_sample(value, chapter)
        elif name in VALIDATORS:
            VALIDATORS[name](value)
        if name in PATH_PARAMETERS and value:
            value = str(Path(value).expanduser().resolve())
        out[name] = value
    if roles:
        out["columns"] = _column_file(roles, out.get("columns") or defaults.get("columns") or "")
    return out


def _role_value(name: str, raw: Any, chapter: str) -> Any:
    """A role parameter's value as the column file holds it (true/false for the flags)."""
    if name in _FLAG_ROLES:
        return coerce(name, raw, False, chapter) if isinstance(raw, str) else bool(raw)
    if name == "sheet" and isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    return str(raw)


def _column_file(roles: dict[str, Any], columns: str) -> str:
    """Write the role parameters (merged over a given column file) as a YAML column file.

    Without a column file, ``-p`` roles rename the book's own panel, so its controls,
    mediators and groups are kept (``book_roles: true``)."""
    import yaml

    from lib.data.contract import COLUMN_FILE_KEYS

    spec: dict[str, Any] = {}
    if columns:
        loaded = yaml.safe_load(Path(columns).read_text()) or {}
        # a plain rename map becomes the `columns:` entry of a full spec
        spec = loaded if set(COLUMN_FILE_KEYS) & set(loaded) else {"columns": loaded}
    else:
        spec["book_roles"] = True
    spec.update(roles)
    text = yaml.safe_dump(spec, sort_keys=True, allow_unicode=True)
    path = Path(tempfile.gettempdir()) / f"cbec-columns-{hashlib.sha256(text.encode()).hexdigest()[:16]}.yml"
    path.write_text(text)
    return str(path)


# --------------------------------------------------------------------------- running
#: Exit codes of the command: 0 when every run succeeded, else the number of failed
#: runs (at most 99); these two mean nothing ran to the end.
EXIT_REJECTED = 100     # the request was rejected before anything ran
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
#: Seconds to wait for a reader's Dask scheduler before giving up.
SCHEDULER_TIMEOUT = 10
#: Columns of each estimate in a grid's CSV.
ESTIMATE_FIELDS = ("name", "estimate", "std_error", "t", "p", "nobs", "truth", "paper")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class RunResult:
    """One chapter run: where it wrote, how long it took and, if it failed, why.

    ``folder`` holds ``CHAPTER.ipynb`` (the executed notebook), ``CHAPTER.json``
    (its estimates) and ``outputs/``. A failed run's folder ends in ``.failed`` and
    never replaces an earlier successful run's folder.
    """

    chapter: str
    parameters: dict[str, Any]
    folder: Path
    seconds: float
    error: str | None = None
    unsupported: bool = False  # the panel cannot support the chapter (its error says why)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def notebook(self) -> Path:
        return self.folder / f"{self.chapter}.ipynb"

    @property
    def results(self) -> Path | None:
        return self.folder / f"{self.chapter}.json" if self.ok else None

    def moved(self, old: Path, new: Path) -> "RunResult":
        """The same result after its enclosing folder ``old`` was renamed ``new``."""
        return replace(self, folder=new / self.folder.relative_to(old))


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; ``partial`` is where its unfinished output was kept."""

    def __init__(self, what: str, partial: Path):
        super().__init__(what)
        self.what, self.partial = what, partial


def _swap_into_place(partial: Path, target: Path) -> None:
    """Rename the finished ``partial`` folder to ``target``, replacing an older ``target``."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    partial.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _keep_aside(partial: Path, target: Path, suffix: str) -> Path:
    """Rename an unfinished ``partial`` folder to ``target`` + ``suffix`` (``.failed``,
    ``.interrupted``), replacing an older one; ``target`` itself is left as it was."""
    kept = target.with_name(target.name + suffix)
    shutil.rmtree(kept, ignore_errors=True)
    partial.rename(kept)
    return kept


def _new_partial(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))


def run_chapter(chapter: str, parameters: dict[str, Any], out_dir: Path) -> RunResult:
    """Execute one chapter with papermill; its files end up in ``out_dir`` only if it succeeds.

    The run writes into a hidden sibling folder and renames it to ``out_dir`` when
    the chapter ran to the end and wrote its results, so ``out_dir`` always holds
    one complete run. A failed run's output goes to ``out_dir.failed`` (the
    notebook there shows the traceback) and an interrupted one's to
    ``out_dir.interrupted``; an earlier run in ``out_dir`` is left as it was.
    """
    target = Path(out_dir).resolve()
    partial = _new_partial(target)
    previous = os.environ.get("CBEC_BOOK_OUTPUTS")
    os.environ["CBEC_BOOK_OUTPUTS"] = str(partial / "outputs")  # read by the kernel papermill starts
    try:
        seconds, error = _execute(chapter, parameters, partial)
    except KeyboardInterrupt:
        raise RunInterrupted(chapter, _keep_aside(partial, target, ".interrupted")) from None
    finally:
        if previous is None:
            os.environ.pop("CBEC_BOOK_OUTPUTS", None)
        else:
            os.environ["CBEC_BOOK_OUTPUTS"] = previous
    if error is None:
        _swap_into_place(partial, target)
        return RunResult(chapter, parameters, target, seconds)
    return RunResult(chapter, parameters, _keep_aside(partial, target, ".failed"), seconds, error,
                     unsupported=error.startswith(UNSUPPORTED_PREFIX.format(chapter=chapter)))


#: How a run that the panel cannot support begins its message.
UNSUPPORTED_PREFIX = "chapter {chapter} cannot run on this panel: "


def _cell_error(chapter: str, err, nb) -> str:
    """A failed cell as the reader needs it: the chapter, the cell, the message (with its fix).

    The cell is counted among the chapter's code cells (papermill's injected
    parameters cell shifts execution counts, so those would mislead).
    """
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    number = next((i for i, s in enumerate(code, 1) if s.strip() == str(err.source).strip()), None)
    cell = f"code cell {number}" if number else f"the cell executed {err.exec_count}th"
    frames = _ANSI.sub("", "\n".join(err.traceback or []))
    # IPython marks the failing line of the cell's frame with an arrow: "----> 7     raise ..."
    line = re.search(r"^Cell In\[\d+\], line (\d+)\n(?:.*\n)*?-+> *\d+ (.*)$", frames, re.M)
    if line:
        where = f"{cell}, line {line.group(1)} (`{line.group(2).strip()[:80]}`)"
    else:
        source = [ln for ln in str(err.source).splitlines() if ln.strip()]
        where = cell + (f" (`{source[0].strip()[:80]}`)" if source else "")
    if err.ename == "ChapterUnsupported":  # not a bug: the chapter says what the panel lacks
        return UNSUPPORTED_PREFIX.format(chapter=chapter) + _ANSI.sub("", str(err.evalue)).strip()
    message = _ANSI.sub("", f"{err.ename}: {err.evalue}").strip()
    return f"chapter {chapter}, {where} failed:\n    {message}"


#: Environment variable naming the command's kernel sockets (see ``_kernel_manager_class``).
_RUN_TAG = "CBEC_RUN_TAG"


def _kernel_socket_prefix(tag: str) -> Path:
    return Path(tempfile.gettempdir()) / f"cbec-kernel-{tag}-"


def _remove_kernel_sockets(tag: str) -> None:
    prefix = _kernel_socket_prefix(tag)
    for sock in prefix.parent.glob(prefix.name + "*"):
        sock.unlink(missing_ok=True)


def _kernel_manager_class():
    """A kernel manager whose kernel talks over Unix sockets rather than TCP ports, and that
    does not sleep where jupyter_client's does (:func:`_prompt_kernel_manager_class`).

    With TCP, jupyter_client picks five free ports and the kernel binds them a moment
    later; kernels started at once by a grid (or by tests on two workers) can lose
    that race ("Address already in use"). Sockets under a fresh temporary name cannot
    collide. Windows has no such sockets and keeps TCP.
    """
    from traitlets import default

    base = _prompt_kernel_manager_class()
    if os.name == "nt":
        return base

    class IPCKernelManager(base):
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc"

        @default("ip")
        def _ip_default(self) -> str:
            # Absolute, short (a socket path has a ~100-byte limit) and unique; the
            # kernel runs in chapters/, so a relative name would point elsewhere.
            # Named after the command (inherited by grid workers), so that Ctrl-C, which
            # kills kernels before they remove their sockets, can remove them.
            return str(_kernel_socket_prefix(os.environ.get(_RUN_TAG, str(os.getpid())))
                       ) + os.urandom(4).hex()

    return IPCKernelManager


#: How long the IOPub channel of a new kernel must be quiet before its first cell is sent.
IOPUB_QUIET_SECONDS = 0.02
#: How often a kernel asked to shut down is checked for having ended.
SHUTDOWN_POLL_SECONDS = 0.01


def _prompt_kernel_manager_class():
    """jupyter_client's ``AsyncKernelManager`` without two fixed waits of every kernel (measured
    with jupyter_client 8.10 and a forked kernel, whose whole run of a short chapter takes
    about a second):

    - a new kernel's client flushed its IOPub channel until it had been quiet for 0.2 s, half
      of the 0.38 s from start to first cell; here for :data:`IOPUB_QUIET_SECONDS` (what a
      kernel publishes at start-up is a welcome and two status messages, sent at once; nbclient
      matches every later message to its cell's request, so one that came late would be
      ignored either way);
    - a kernel asked to shut down was checked every 0.1 s, and ends 0.06-0.25 s after the
      request; here every :data:`SHUTDOWN_POLL_SECONDS`.
    """
    import time
    from queue import Empty

    from jupyter_client import AsyncKernelManager
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.client import KernelClient
    from traitlets import Type

    class PromptKernelClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            # jupyter_client 8.10's KernelClient._async_wait_for_ready for a client its kernel
            # manager made, with a shorter flush at the end
            deadline = time.time() + (float("inf") if timeout is None else timeout)
            while True:
                self.kernel_info()
                try:
                    msg = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    pass
                else:
                    if msg["msg_type"] == "kernel_info_reply":
                        try:   # IOPub is connected once it delivers the reply's status message
                            await self.iopub_channel.get_msg(timeout=0.2)
                        except Empty:
                            pass
                        else:
                            self._handle_kernel_info_reply(msg)
                            break
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.time() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
            while True:
                try:
                    await self.iopub_channel.get_msg(timeout=IOPUB_QUIET_SECONDS)
                except Empty:
                    break

    class PromptKernelManager(AsyncKernelManager):
        client_factory = Type(PromptKernelClient, klass=KernelClient)

        async def _async_finish_shutdown(self, waittime=None, pollinterval=0.1, restart=False):
            await super()._async_finish_shutdown(waittime, SHUTDOWN_POLL_SECONDS, restart)

    return PromptKernelManager


#: How far the notebook of a run in progress may lag behind its kernel, in seconds.
PROGRESS_SAVE_SECONDS = 5.0
#: The papermill engine of :func:`_papermill_engine`, registered under this name.
ENGINE_NAME = "cbec-nbclient"


@functools.cache
def _papermill_engine() -> str:
    """Register papermill's nbclient engine with the notebook written at most every
    :data:`PROGRESS_SAVE_SECONDS` while the chapter runs, and always when it ends (finished,
    failed or interrupted); return its name.

    papermill writes the whole notebook before and after every cell: 119 writes of a notebook
    growing to 0.5 MB for ``did_staggered``, about a second of the run command's CPU per
    run, which a second worker's kernel would have had. The notebook a run leaves is the same.
    """
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class ProgressManager(NotebookExecutionManager):
        def save(self, **kwargs):
            # papermill sets end_time when the run ends, before its last save
            ended = self.end_time is not None
            if ended or (self.now() - self.last_save_time).total_seconds() >= PROGRESS_SAVE_SECONDS:
                super().save(**kwargs)

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True,
                             log_output=False, autosave_cell_every=30, **kwargs):
            # papermill's Engine.execute_notebook, with the manager above
            nb_man = ProgressManager(nb, output_path=output_path, progress_bar=progress_bar,
                                     log_output=log_output, autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(ENGINE_NAME, ProgressEngine)
    return ENGINE_NAME


def _execute(chapter: str, parameters: dict[str, Any], out_dir: Path) -> tuple[float, str | None]:
    """Run the chapter into ``out_dir``; return (seconds, error message or None)."""
    import nbformat
    import papermill

    from lib.book.kernels import forked_kernel_manager_class

    started = time.perf_counter()
    nb = read_notebook(chapter_path(chapter))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    output = out_dir / f"{chapter}.ipynb"
    source = out_dir / f".{chapter}.source.ipynb"
    nbformat.write(nb, source)
    error = None
    try:
        for attempt in range(KERNEL_START_ATTEMPTS):
            try:
                papermill.execute_notebook(
                    str(source), str(output), parameters=parameters, cwd=str(CHAPTERS_DIR),
                    kernel_name="python3", progress_bar=False, log_output=False,
                    engine_name=_papermill_engine(),
                    # a fork of a warm process where one was started (lib.book.kernels)
                    kernel_manager_class=forked_kernel_manager_class(),
                )
                break
            except papermill.PapermillExecutionError as err:
                error = _cell_error(chapter, err, nb)
                break
            except RuntimeError as err:
                # A kernel that never answers (on Windows, where kernels still use TCP,
                # two can race for one port) is not the chapter's failure: start it again.
                if "Kernel didn't respond" not in str(err) or attempt == KERNEL_START_ATTEMPTS - 1:
                    error = f"chapter {chapter}: the Jupyter kernel failed: {_ANSI.sub('', str(err))}"
                    break
    finally:
        source.unlink(missing_ok=True)
    results_src = out_dir / "outputs" / "results" / f"{chapter}.json"
    if error is None:
        if results_src.exists():
            (out_dir / f"{chapter}.json").write_text(results_src.read_text())
        else:
            error = (f"chapter {chapter} ran but wrote no results file; the chapter must end with "
                     f"lib.book.save_results()")
    return time.perf_counter() - started, error


def _grid_runs(chapter: str, grid: dict[str, list[str]], base: dict[str, Any]) -> list[dict[str, Any]]:
    names = list(grid)
    runs = []
    for values in itertools.product(*(grid[n] for n in names)):
        params = dict(base)
        params.update(resolve_parameters(chapter, list(zip(names, values))))
        runs.append(params)
    return runs


def run_labels(runs: list[dict[str, Any]], grid_names: list[str]) -> list[str]:
    """A distinct, file-safe folder name per run.

    Readable (``sample=east__seed=2``; a path shows its file name), and where two
    runs would share a name (two ``panel.csv`` in different folders) each of them
    gets a short hash of its full parameters, so no run overwrites another.
    """
    def readable(params):
        parts = [f"{n}={Path(str(params[n])).name if n in PATH_PARAMETERS else params[n]}"
                 for n in grid_names]
        return re.sub(r"[^A-Za-z0-9_.=,+-]", "_", "__".join(parts)) or "default"

    labels = [readable(p) for p in runs]
    counts = {label: labels.count(label) for label in labels}
    for i, params in enumerate(runs):
        if counts[labels[i]] > 1:
            key = json.dumps({n: params[n] for n in grid_names}, sort_keys=True, default=str)
            labels[i] += "-" + hashlib.sha256(key.encode()).hexdigest()[:8]
    return labels


def _warm_kernels(several: bool) -> None:
    """Where this process will run several chapters, start its kernels' fork server
    (:func:`lib.book.kernels.start_server`): the first run starts afresh meanwhile, the next
    ones start with the libraries imported."""
    if several:
        from lib.book.kernels import start_server

        start_server(first_afresh=True)


def _worker(args: tuple[str, dict[str, Any], str]) -> RunResult:
    chapter, params, out_dir = args
    return run_chapter(chapter, params, Path(out_dir))


def _dask_client(address: str):
    """A client of the reader's Dask scheduler, or a one-line :class:`RunError`."""
    if not re.fullmatch(r"(?:(?:tcp|tls|ws|wss|ucx)://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}/?", address):
        raise RunError(f"--scheduler {address!r} is not a Dask scheduler address; give "
                       f"tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786")
    try:
        import logging

        from dask.distributed import Client
    except ImportError:
        raise RunError("--scheduler needs dask.distributed (pip install 'dask[distributed]')") from None
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its retries would print a traceback per attempt
    try:
        return Client(address, timeout=f"{SCHEDULER_TIMEOUT}s")
    except (OSError, TimeoutError, ValueError) as err:
        raise RunError(f"--scheduler {address!r}: no Dask scheduler answered there within "
                       f"{SCHEDULER_TIMEOUT} s ({type(err).__name__}); start one with "
                       f"`dask scheduler` or check the address") from None
    finally:
        quiet.setLevel(level)


def _stop_descendants(grace: float = 5.0) -> int:
    """Terminate every process this one started (pool workers, Jupyter kernels); return the count.

    Kernels run in sessions of their own, so Ctrl-C in a terminal does not reach
    them; without this they would outlive the command.
    """
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    return len(children)


def _grid_rows(chapter, runs, labels, results) -> list[dict[str, Any]]:
    """One row per estimate of each run, with all its parameters (defaults included);
    a failed run gets one row with its error."""
    defaults = chapter_parameters(chapter)
    shown = sorted(set(defaults).union(*runs))
    rows = []
    for params, label, res in zip(runs, labels, results):
        full = {**defaults, **params}
        head = {"run": label, "status": "ok" if res.ok else "failed", "error": res.error or "",
                **{k: full.get(k, "") for k in shown}}
        if not res.ok:
            rows.append(head)
            continue
        for est in json.loads(res.results.read_text())["estimates"]:
            rows.append({**head, **{k: est.get(k) for k in ESTIMATE_FIELDS}})
    return rows


def run_grid(chapter: str, grid: dict[str, list[str]], base: dict[str, Any], out_dir: Path, *,
             jobs: int = 2, scheduler: str | None = None) -> tuple[list[RunResult], Path]:
    """Run the cartesian product of ``grid`` into ``out_dir`` and write ``CHAPTER_grid.csv`` there.

    ``out_dir`` is replaced as a whole when the grid has run (its CSV lists every
    run, failed ones with status and error, and each run's full parameters), so it
    never mixes runs of two grids. Each run's folder is named by :func:`run_labels`.
    """
    import pandas as pd

    target = Path(out_dir).resolve()
    runs = _grid_runs(chapter, grid, base)
    names = list(grid)
    labels = run_labels(runs, names)
    client = _dask_client(scheduler) if scheduler else None
    partial = _new_partial(target)
    tasks = [(chapter, p, str(partial / label)) for p, label in zip(runs, labels)]
    try:
        if client is not None:
            with client:
                results = client.gather(client.map(_worker, tasks, pure=False))
        elif jobs > 1 and len(tasks) > 1:
            # a worker with several runs starts its kernels from a warm process
            with ProcessPoolExecutor(max_workers=jobs, initializer=_warm_kernels,
                                     initargs=(len(tasks) > jobs,)) as pool:
                results = list(pool.map(_worker, tasks))
        else:
            _warm_kernels(len(tasks) > 1)
            results = [_worker(t) for t in tasks]
    except KeyboardInterrupt:
        _stop_descendants()  # the workers must be gone before their folder moves
        raise RunInterrupted(f"{chapter} grid", _keep_aside(partial, target, ".interrupted")) from None
    table = partial / f"{chapter}_grid.csv"
    pd.DataFrame(_grid_rows(chapter, runs, labels, results)).to_csv(table, index=False)
    _swap_into_place(partial, target)
    return [r.moved(partial, target) for r in results], target / table.name


# --------------------------------------------------------------------------- CLI
def _parse_grid(items: list[str]) -> dict[str, list[str]]:
    grid: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise RunError(f"--grid expects NAME=V1,V2,..., got {item!r}")
        name, values = item.split("=", 1)
        grid[name.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    return grid


def list_chapters() -> str:
    lines = []
    for chapter in runnable_chapters():
        lines.append(chapter)
        for name, value in chapter_parameters(chapter).items():
            lines.append(f"    {name} = {value!r}")
    lines.append("\ncolumn roles of your own panel (-p ROLE YOUR_COLUMN; chapters with a `columns` "
                 "parameter): " + ", ".join(ROLE_PARAMETERS))
    from lib.data.samples import PROVINCIAL_SAMPLES, describe_samples

    for title, registry in (("named samples of the city panel (-p sample NAME)", None),
                            (f"named samples of the provincial panel ({PROVINCIAL_CHAPTER_PREFIX}* chapters)",
                             PROVINCIAL_SAMPLES)):
        lines.append(f"\n{title}:")
        for row in describe_samples(registry).itertuples(index=False):
            lines.append(f"    {row.name:<22} {row.description}")
    return "\n".join(lines)


_STOPPED = [0]


def _on_ctrl_c(signum, frame):
    """Ctrl-C: end the kernels and workers first, so none writes on or logs over a
    closed channel, then interrupt the command where it is."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
    _STOPPED[0] = _stop_descendants(grace=3.0)
    raise KeyboardInterrupt


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2, which would read as "2 runs failed"
        self.print_usage(sys.stderr)
        self.exit(EXIT_REJECTED, f"error: {message}\n")


def _report(results: list[RunResult]) -> int:
    failed = 0
    for i, res in enumerate(results, 1):
        status = "ok" if res.ok else "NOT SUPPORTED BY THIS PANEL" if res.unsupported else "FAILED"
        print(f"[{i}/{len(results)}] {res.chapter} {res.parameters or '(defaults)'}: {status} "
              f"in {res.seconds:.1f} s -> {res.folder}", flush=True)
        if not res.ok:
            failed += 1
            print(res.error if res.unsupported else
                  f"{res.error}\n    The executed notebook, with the full traceback: {res.notebook}",
                  file=sys.stderr)
    return failed


def lab_main(argv: list[str]) -> int:
    """``python -m lib.run lab``: the estimator lab on the command line (see
    :mod:`lib.book.lab`). Draws only what the registry lacks, prints the summary."""
    from lib.book import lab
    from lib.data.synthetic import SCENARIOS

    parser = _Parser(prog="python -m lib.run lab",
                     description="Run every estimator of the book on draws of the city generator; "
                                 "store each run in the results registry and print bias, RMSE, "
                                 "coverage and pre-test rejection with their Monte-Carlo s.e.")
    parser.add_argument("--scenario", action="append", default=[], choices=list(SCENARIOS),
                        help="scenario (repeatable; default: all)")
    parser.add_argument("--reps", type=int, default=200, help="draws per scenario (default 200)")
    parser.add_argument("--estimator", action="append", default=[], choices=list(lab.ESTIMATORS),
                        metavar="NAME", help="estimator (repeatable; default: all): "
                        + ", ".join(lab.ESTIMATORS))
    parser.add_argument("--jobs", type=int, default=2, help="local worker processes (default 2)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://HOST:PORT)")
    parser.add_argument("--registry", default=None,
                        help=f"registry file (default {lab.DEFAULT_REGISTRY.relative_to(ROOT)}, "
                             "backed by the one the book ships)")
    parser.add_argument("--summary", default=None, help="write the summary table to this CSV")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error(f"--reps must be a positive integer, got {args.reps}")
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive integer, got {args.jobs}")
    scenarios = args.scenario or list(SCENARIOS)
    registry = lab.lab_registry(args.registry)
    tasks, wanted = lab.lab_tasks(scenarios, args.reps, args.estimator or list(lab.ESTIMATORS), registry)
    try:
        client = _dask_client(args.scheduler) if args.scheduler else None
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REJECTED
    where = (f"Dask scheduler {args.scheduler}" if client is not None
             else f"{args.jobs} process{'es' if args.jobs != 1 else ''}")
    print(f"lab: {len(wanted)} runs requested, {len(wanted) - sum(len(t.estimators) for t in tasks)} "
          f"already in the registry; drawing {len(tasks)} panels on {where}", flush=True)
    start = time.perf_counter()
    try:
        run = lab.run_lab(scenarios, args.reps, estimators=args.estimator or None, registry=registry,
                          workers=args.jobs, scheduler=client, progress=True)
    except KeyboardInterrupt:
        print(f"\ninterrupted: the finished draws are stored in {shown_path(registry.path)}; the same "
              "command goes on from there", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if client is not None:
            client.close()
    seconds = time.perf_counter() - start
    summary = lab.lab_summary(run.rows)
    failed = int(summary["failed"].sum())
    print(lab.summary_text(summary))
    rate = f", {len(tasks) / seconds:.2f} draws/s" if tasks else ""
    print(f"computed {run.computed} runs in {seconds:.1f} s{rate}; registry: {shown_path(run.registry)}"
          + (f"; {failed} runs failed (their errors are in the registry's `error` column)" if failed else ""))
    if args.summary:
        Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
        summary.to_csv(args.summary, index=False)
        print(f"summary: {args.summary}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["lab"]:
        return lab_main(argv[1:])
    parser = _Parser(prog="python -m lib.run", description=__doc__.splitlines()[0],
                     epilog="See the module docstring for examples and exit codes.")
    parser.add_argument("chapter", nargs="?", help="chapter name (file stem in chapters/)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="override one parameter (repeatable)")
    parser.add_argument("--out", default="runs", help="output folder (default: runs/); a run "
                        "writes OUT/CHAPTER/, a grid OUT/CHAPTER_grid/")
    parser.add_argument("--grid", nargs="+", default=[], metavar="NAME=V1,V2",
                        help="run the cartesian product of these values in parallel")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes for --grid (default 2)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address for --grid")
    parser.add_argument("--list", action="store_true", help="list chapters and their parameters")
    args = parser.parse_args(argv)

    table = None
    own_tag = _RUN_TAG not in os.environ  # a command run inside another keeps the outer tag
    tag = os.environ.setdefault(_RUN_TAG, str(os.getpid()))
    previous_handler = signal.signal(signal.SIGINT, _on_ctrl_c)
    try:
        if args.list:
            print(list_chapters())
            return 0
        if not args.chapter:
            parser.error("give a CHAPTER or --list")
        chapter_path(args.chapter)
        base = resolve_parameters(args.chapter, [tuple(p) for p in args.parameter])
        out_dir = Path(args.out).resolve()
        if args.grid:
            grid = _parse_grid(args.grid)
            runs = _grid_runs(args.chapter, grid, base)  # validates every value before running
            where = (f"Dask scheduler {args.scheduler}" if args.scheduler
                     else f"{args.jobs} process{'es' if args.jobs != 1 else ''}")
            print(f"running {args.chapter}: {len(runs)} runs on {where}", flush=True)
            results, table = run_grid(args.chapter, grid, base, out_dir / f"{args.chapter}_grid",
                                      jobs=args.jobs, scheduler=args.scheduler)
        else:
            print(f"[1/1] {args.chapter} {base or '(defaults)'} ...", flush=True)
            results = [run_chapter(args.chapter, base, out_dir / args.chapter)]
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REJECTED
    except KeyboardInterrupt as err:
        stopped = _stop_descendants()
        _remove_kernel_sockets(tag)
        where = (f"; its unfinished output is in {err.partial}, and no earlier result was replaced"
                 if isinstance(err, RunInterrupted) else "")
        print(f"\ninterrupted: {getattr(err, 'what', args.chapter)} stopped{where} "
              f"({_STOPPED[0] + stopped} child processes ended)", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        if own_tag:
            os.environ.pop(_RUN_TAG, None)

    failed = _report(results)
    if table is not None:
        print(f"grid estimates: {table}" + (f" ({failed} of {len(results)} runs failed, "
                                            "listed with their errors)" if failed else ""))
    return min(failed, 99)


if __name__ == "__main__":
    raise SystemExit(main())
