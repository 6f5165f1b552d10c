"""A results registry: every run keyed by what determines it, stored as one Parquet table.

A *run* is one estimator on one data set: a simulated draw (scenario, parameters, seed)
or a reader's file (its SHA-256). Its key hashes exactly those inputs and the library
versions (:func:`run_key`), so a lab or a specification curve re-run with more draws or
more choices computes only the keys the registry lacks (:meth:`Registry.missing`), and
a registry built by one worker or by twenty is the same table: rows are sorted by key
and every run is seeded by its key, never by a worker.

:func:`run_tasks` is the executor: in this process, on local processes (joblib's loky
backend) or on a Dask cluster (``scheduler=ADDRESS`` or a ``distributed.Client``), with
a progress bar and an ETA; results come back in task order whatever finished first.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["KEY_COLUMNS", "VALUE_COLUMNS", "COLUMNS", "run_key", "key_seed", "versions",
           "Registry", "run_tasks"]

#: What identifies a run (hashed into ``key``).
KEY_COLUMNS = ("key", "source", "params", "seed", "estimator", "version")
#: What a run records; ``error`` is empty unless the run failed (then the numbers are NaN).
VALUE_COLUMNS = {"estimate": "float64", "std_error": "float64", "ci_low": "float64",
                 "ci_high": "float64", "truth": "float64", "target": "float64",
                 "pretest_p": "float64", "nobs": "int64", "error": "string"}
COLUMNS = KEY_COLUMNS + tuple(VALUE_COLUMNS)
_KEY_DTYPES = {"key": "string", "source": "string", "params": "string", "seed": "int64",
               "estimator": "string", "version": "string"}


def versions() -> str:
    """The library versions a run depends on: this book's ``lib`` and the pinned diff-diff."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("cbec-book-lib", "diff-diff"):
        try:
            out.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist}==unknown")
    return ";".join(out)


def canonical(params: Mapping[str, Any]) -> str:
    """``params`` as canonical JSON (sorted keys, no spaces; tuples as lists)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def run_key(*, source: str, params: Mapping[str, Any] | str, seed: int, estimator: str,
            version: str) -> str:
    """SHA-256 (first 32 hex digits) of a run's inputs: data ``source`` (a scenario name or
    ``sha256:<file hash>``), ``params``, ``seed``, ``estimator`` and library ``version``."""
    p = params if isinstance(params, str) else canonical(params)
    blob = "\x1f".join([source, p, str(int(seed)), estimator, version])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def key_seed(*parts: Any) -> int:
    """A seed in [0, 2**31) from ``parts`` (e.g. scenario, base seed, replication): the same
    parts give the same seed on any machine and in any worker."""
    blob = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little") & 0x7FFFFFFF


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"registry rows lack column(s) {missing}")
    out = frame.loc[:, list(COLUMNS)].copy()
    for c, t in {**_KEY_DTYPES, **VALUE_COLUMNS}.items():
        out[c] = out[c].fillna("") if t == "string" else out[c]
        out[c] = out[c].astype(t)
    return out


def empty_rows() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS}))


@dataclass
class Registry:
    """One writable Parquet table of runs (``path``), with optional read-only ones behind it.

    ``path`` need not exist yet. ``read_only`` tables (e.g. the registry shipped with the
    book) are looked up after ``path`` and never written. Rows are unique by ``key`` and
    sorted by it, so the file's bytes depend only on which runs it holds.
    """

    path: Path
    read_only: Sequence[Path] = ()

    def __post_init__(self):
        self.path = Path(self.path)
        self.read_only = tuple(Path(p) for p in self.read_only)

    @staticmethod
    def _read(path: Path) -> pd.DataFrame:
        if not path.exists():
            return empty_rows()
        try:
            return _typed(pd.read_parquet(path))
        except Exception as err:  # a truncated or foreign file: say which, and how to recover
            raise ValueError(f"{path}: not a results registry ({err}); delete it to start a new "
                             "one, or pass another --registry") from err

    def rows(self) -> pd.DataFrame:
        """Every run in the registry (the writable table wins a duplicated key)."""
        parts = [self._read(p) for p in (self.path, *self.read_only)]
        parts = [p for p in parts if len(p)]
        if not parts:
            return empty_rows()
        out = pd.concat(parts, ignore_index=True).drop_duplicates("key", keep="first")
        return out.sort_values("key", kind="stable").reset_index(drop=True)

    def get(self, keys: Iterable[str]) -> pd.DataFrame:
        """The stored runs among ``keys`` (in key order)."""
        rows = self.rows()
        return rows[rows["key"].isin(list(keys))].reset_index(drop=True)

    def missing(self, keys: Iterable[str]) -> list[str]:
        """``keys`` not yet in the registry, in the order given."""
        have = set(self.rows()["key"])
        return [k for k in keys if k not in have]

    def add(self, rows: pd.DataFrame) -> int:
        """Store ``rows`` (columns :data:`COLUMNS`) in the writable table; returns how many
        keys were new. The table is rewritten sorted by key, then moved into place."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        new = _typed(rows)
        if new["key"].duplicated().any():
            raise ValueError(f"registry rows repeat key(s) {list(new.loc[new['key'].duplicated(), 'key'][:3])}")
        old = self._read(self.path)
        fresh = ~new["key"].isin(old["key"])
        merged = pd.concat([old, new[fresh]], ignore_index=True) if len(old) else new[fresh]
        merged = merged.sort_values("key", kind="stable").reset_index(drop=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        table = pa.Table.from_pandas(merged, preserve_index=False)
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, self.path)
        return int(fresh.sum())


# ------------------------------------------------------------------------ executor
def _single_threaded(fn: Callable, task: Any) -> Any:
    """``fn(task)`` with BLAS and OpenMP at one thread: a run's floats must not depend on how
    many threads its worker happened to have."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return fn(task)


def _progress(total: int, progress: bool | str, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="draw", disable=progress == "off",
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]")


def run_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], *, workers: int = 1,
              scheduler: Any = None, progress: bool = False, desc: str = "runs",
              on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``[fn(t) for t in tasks]``, in task order, on ``workers`` local processes or a Dask cluster.

    ``fn`` must be importable (a module-level function) and seed itself from its task.
    ``workers=1`` runs in this process; more use joblib's loky processes. ``scheduler``
    (an address such as ``tcp://10.0.0.5:8786`` or a ``distributed.Client``) sends the
    tasks to a Dask cluster instead. Every task runs with single-threaded BLAS (and, as
    :mod:`lib` sets for every process, single-threaded Rust kernels), so the results are the
    same floats whichever way they ran. ``progress`` shows a bar with ETA;
    ``on_result(i, value)`` is called as each task finishes (e.g. to store results as they come).
    """
    tasks = list(tasks)
    if not tasks:
        return []
    bar = _progress(len(tasks), progress, desc)
    out: list[Any] = [None] * len(tasks)

    def done(i: int, value: Any) -> None:
        out[i] = value
        if on_result is not None:
            on_result(i, value)
        if bar is not None:
            bar.update(1)
    try:
        if scheduler is not None:
            from dask.distributed import Client, as_completed

            client = scheduler if isinstance(scheduler, Client) else Client(scheduler, timeout=30)
            try:
                futures = client.map(_single_threaded, [fn] * len(tasks), tasks, pure=False)
                index = {f.key: i for i, f in enumerate(futures)}
                for fut in as_completed(futures):
                    done(index[fut.key], fut.result())
            finally:
                if client is not scheduler:
                    client.close()
        elif workers > 1:
            from joblib import Parallel, delayed

            jobs = Parallel(n_jobs=int(workers), backend="loky", return_as="generator_unordered")
            results = jobs(delayed(_indexed)(fn, i, t) for i, t in enumerate(tasks))
            for i, value in results:
                done(i, value)
        else:
            for i, t in enumerate(tasks):
                done(i, _single_threaded(fn, t))
    finally:
        if bar is not None:
            bar.close()
    return out


def _indexed(fn: Callable, i: int, task: Any) -> tuple[int, Any]:
    return i, _single_threaded(fn, task)
