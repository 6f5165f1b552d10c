"""Re-run a chapter with new parameters: ``python -m lib.run CHAPTER [-p NAME VALUE ...]``.

Each chapter's first code cell is tagged ``parameters`` and holds only literals.
This command reads those defaults, validates the reader's values against them
*before anything runs*, executes the chapter with papermill and writes

* ``DIR/CHAPTER.ipynb`` — the executed notebook,
* ``DIR/CHAPTER.json`` — every headline estimate (name, estimate, s.e., t, p, N,
  truth, paper) and the parameters used,
* ``DIR/outputs/`` — the chapter's tables and figures.

``--grid NAME=V1,V2 ...`` runs the cartesian product of values in parallel
processes (``--jobs``, default 2; or on a Dask cluster with ``--scheduler ADDRESS``)
and writes one tidy CSV of all runs' estimates, ``DIR/CHAPTER_grid.csv``.

Examples::

    python -m lib.run --list
    python -m lib.run baseline_did -p sample no_municipalities --out runs/
    python -m lib.run baseline_did -p data_path my.dta -p columns my_columns.yml
    python -m lib.run baseline_did -p data_path my.dta -p unit code -p time yr -p outcome patents
    python -m lib.run baseline_did --grid sample=all,east,no_municipalities
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lib import ROOT

CHAPTERS_DIR = ROOT / "chapters"


class RunError(ValueError):
    """A run request the command rejects before executing anything."""


# --------------------------------------------------------------------------- chapters
def toc_chapters() -> list[str]:
    """Chapter names (file stems) in ``_toc.yml`` order."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
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


def chapter_parameters(chapter: str) -> dict[str, Any]:
    """Defaults of the chapter's ``parameters`` cell (literal assignments only)."""
    nb = read_notebook(chapter_path(chapter))
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return _literal_assignments(cell.source, chapter)
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
        nb = read_notebook(CHAPTERS_DIR / f"{name}.md")
        if any(c.cell_type == "code" for c in nb.cells):
            out.append(name)
    return out


# --------------------------------------------------------------------------- values
#: Chapters on the companion paper's provincial panel use its own named samples.
PROVINCIAL_CHAPTER_PREFIX = "fdi_"


def sample_names(chapter: str = "") -> list[str]:
    """The named samples a chapter accepts (city panel, or provincial for ``fdi_*``)."""
    if chapter.startswith(PROVINCIAL_CHAPTER_PREFIX):
        from lib.provincial import SAMPLES
    else:
        from lib.samples import SAMPLES
    return list(SAMPLES)


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
PATH_PARAMETERS = ("data_path", "columns", "corpus_path", "themes_path")
#: Column roles accepted by every chapter that reads a panel (it has a ``columns``
#: parameter): ``-p outcome my_outcome`` is folded into the column file.
ROLE_PARAMETERS = ("unit", "time", "outcome", "treatment", "adoption", "cluster")


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
            roles[name] = str(raw)
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


def _column_file(roles: dict[str, str], columns: str) -> str:
    """Write the role parameters (merged over a given column file) as a YAML column file."""
    import hashlib

    import yaml

    spec: dict[str, Any] = {}
    if columns:
        loaded = yaml.safe_load(Path(columns).read_text()) or {}
        role_keys = {"unit", "time", "outcome", "treatment", "adoption", "cluster", "controls",
                     "mediators", "groups", "columns"}
        # a plain rename map becomes the `columns:` entry of a full spec
        spec = loaded if role_keys & set(loaded) else {"columns": loaded}
    spec.update(roles)
    text = yaml.safe_dump(spec, sort_keys=True, allow_unicode=True)
    path = Path(tempfile.gettempdir()) / f"cbec-columns-{hashlib.sha256(text.encode()).hexdigest()[:16]}.yml"
    path.write_text(text)
    return str(path)


# --------------------------------------------------------------------------- running
@dataclass(frozen=True)
class RunResult:
    chapter: str
    parameters: dict[str, Any]
    notebook: Path
    results: Path | None
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_chapter(chapter: str, parameters: dict[str, Any], out_dir: Path) -> RunResult:
    """Execute one chapter with papermill into ``out_dir`` (already validated parameters)."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("CBEC_BOOK_OUTPUTS")
    os.environ["CBEC_BOOK_OUTPUTS"] = str(out_dir / "outputs")  # read by the kernel papermill starts
    try:
        return _execute(chapter, parameters, out_dir)
    finally:
        if previous is None:
            os.environ.pop("CBEC_BOOK_OUTPUTS", None)
        else:
            os.environ["CBEC_BOOK_OUTPUTS"] = previous


def _execute(chapter: str, parameters: dict[str, Any], out_dir: Path) -> RunResult:
    import nbformat
    import papermill

    results_src = out_dir / "outputs" / "results" / f"{chapter}.json"
    if results_src.exists():
        results_src.unlink()
    started = time.perf_counter()
    nb = read_notebook(chapter_path(chapter))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    output = out_dir / f"{chapter}.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{chapter}.ipynb"
        nbformat.write(nb, source)
        error = None
        for attempt in range(KERNEL_START_ATTEMPTS):
            try:
                papermill.execute_notebook(
                    str(source), str(output), parameters=parameters, cwd=str(CHAPTERS_DIR),
                    kernel_name="python3", progress_bar=False, log_output=False,
                )
                break
            except papermill.PapermillExecutionError as err:
                error = f"{err.ename}: {err.evalue}\n" + "".join(err.traceback[-3:])
                break
            except RuntimeError as err:
                # Concurrent kernels can race for the same TCP port, and the kernel then
                # never answers; that is not the chapter's failure, so start it again.
                if "Kernel didn't respond" not in str(err) or attempt == KERNEL_START_ATTEMPTS - 1:
                    raise
    results = None
    if error is None:
        if results_src.exists():
            results = out_dir / f"{chapter}.json"
            results.write_text(results_src.read_text())
        else:
            error = (f"{chapter} ran but wrote no results file; the chapter must end with "
                     f"lib.book.save_results()")
    return RunResult(chapter, parameters, output, results, time.perf_counter() - started, error)


def _grid_runs(chapter: str, grid: dict[str, list[str]], base: dict[str, Any]) -> list[dict[str, Any]]:
    names = list(grid)
    runs = []
    for values in itertools.product(*(grid[n] for n in names)):
        params = dict(base)
        params.update(resolve_parameters(chapter, list(zip(names, values))))
        runs.append(params)
    return runs


def _run_label(params: dict[str, Any], grid_names: list[str]) -> str:
    parts = [f"{n}={Path(str(params[n])).name if n in PATH_PARAMETERS else params[n]}" for n in grid_names]
    return "__".join(parts) or "default"


def _worker(args: tuple[str, dict[str, Any], str]) -> RunResult:
    chapter, params, out_dir = args
    return run_chapter(chapter, params, Path(out_dir))


def run_grid(chapter: str, grid: dict[str, list[str]], base: dict[str, Any], out_dir: Path, *,
             jobs: int = 2, scheduler: str | None = None) -> tuple[list[RunResult], Path]:
    """Run the cartesian product of ``grid`` and write ``CHAPTER_grid.csv``."""
    import pandas as pd

    runs = _grid_runs(chapter, grid, base)
    names = list(grid)
    labels = [_run_label(p, names) for p in runs]
    tasks = [(chapter, p, str(Path(out_dir) / label)) for p, label in zip(runs, labels)]
    if scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise RunError("--scheduler needs dask.distributed (pip install 'dask[distributed]')") from None
        with Client(scheduler) as client:
            results = client.gather(client.map(_worker, tasks, pure=False))
    elif jobs > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_worker, tasks))
    else:
        results = [_worker(t) for t in tasks]
    rows = []
    for params, label, res in zip(runs, labels, results):
        if not res.ok:
            continue
        payload = json.loads(res.results.read_text())
        for est in payload["estimates"]:
            row = {"run": label, **{n: params[n] for n in names}}
            row.update({k: est.get(k) for k in ("name", "estimate", "std_error", "t", "p", "nobs",
                                               "truth", "paper")})
            rows.append(row)
    table = Path(out_dir) / f"{chapter}_grid.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    return results, table


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
    try:
        from lib.samples import describe_samples

        lines.append("\nnamed samples (-p sample NAME):")
        for row in describe_samples().itertuples(index=False):
            lines.append(f"    {row.name:<22} {row.description}")
    except ImportError:  # pragma: no cover - samples module always present in the book
        pass
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.run", description=__doc__.splitlines()[0],
                                     epilog="See the module docstring for examples.")
    parser.add_argument("chapter", nargs="?", help="chapter name (file stem in chapters/)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="override one parameter (repeatable)")
    parser.add_argument("--out", default="runs", help="output folder (default: runs/)")
    parser.add_argument("--grid", nargs="+", default=[], metavar="NAME=V1,V2",
                        help="run the cartesian product of these values in parallel")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes for --grid (default 2)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address for --grid")
    parser.add_argument("--list", action="store_true", help="list chapters and their parameters")
    args = parser.parse_args(argv)

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
            print(f"running {args.chapter}: {len(runs)} runs, {args.jobs} processes", flush=True)
            results, table = run_grid(args.chapter, grid, base, out_dir, jobs=args.jobs,
                                      scheduler=args.scheduler)
        else:
            print(f"[1/1] {args.chapter} {base or '(defaults)'} ...", flush=True)
            results, table = [run_chapter(args.chapter, base, out_dir)], None
    except RunError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    failed = 0
    for i, res in enumerate(results, 1):
        status = "ok" if res.ok else "FAILED"
        print(f"[{i}/{len(results)}] {res.chapter} {res.parameters or '(defaults)'}: {status} "
              f"in {res.seconds:.1f} s -> {res.notebook}", flush=True)
        if not res.ok:
            failed += 1
            print(res.error, file=sys.stderr)
        elif res.results:
            print(f"    results: {res.results}")
    if table is not None:
        print(f"grid estimates: {table}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
