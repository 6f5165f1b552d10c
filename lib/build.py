"""Build the book: ``python -m lib.build [--strict]`` (what ``make book`` runs).

Why a wrapper around ``jupyter-book build``:

* **Cache invalidation.** Jupyter Book's execution cache (jupyter-cache) keys a
  notebook on its own code cells only, so a change in ``lib/`` or ``data/``
  would leave stale outputs in the book. We fold a content hash of everything
  the chapters depend on (``lib/``, ``data/``, the pinned requirements) into the
  build: when it changes, the cache is cleared and every chapter re-executes.
  A change confined to one chapter re-executes that chapter only (the cache
  does that by itself).
* **No-change rebuilds cost nothing.** A content hash of all book inputs is
  stored after each successful build; when nothing changed the build is skipped.
* **Strict mode** (``--strict``, used by the tests) rebuilds every page from the
  cache with warnings as errors (``-W -n --keep-going``), so a warning in any page
  fails, not only in pages that happened to be re-read.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from lib import ROOT

BUILD_DIR = ROOT / "_build"
CACHE_DIR = BUILD_DIR / ".jupyter_cache"
DEPS_STAMP = BUILD_DIR / ".deps.sha256"
INPUTS_STAMP = BUILD_DIR / ".inputs.sha256"

#: What every chapter depends on besides its own cells.
DEPENDENCY_PATHS = ("lib", "data", "requirements.txt", "requirements-lock.txt", "pyproject.toml")
#: Everything else the rendered book depends on.
BOOK_PATHS = ("chapters", "_config.yml", "_toc.yml", "references.bib", "bib", "_static")
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}


def content_hash(paths: tuple[str, ...], root: Path = ROOT) -> str:
    """SHA-256 over the relative names and bytes of all files under ``paths``."""
    digest = hashlib.sha256()
    for rel in paths:
        base = root / rel
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if _SKIP_PARTS.intersection(path.parts) or path.suffix == ".pyc":
                continue
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def _read(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def build(strict: bool = False, force: bool = False) -> int:
    """Build ``_build/html``; return the process exit code."""
    started = time.perf_counter()
    deps = content_hash(DEPENDENCY_PATHS)
    inputs = hashlib.sha256((deps + content_hash(BOOK_PATHS)).encode()).hexdigest()
    index = BUILD_DIR / "html" / "index.html"

    if not (strict or force) and index.exists() and _read(INPUTS_STAMP) == inputs:
        print(f"Book is up to date (no input changed); nothing executed.\n"
              f"Open file://{index}")
        return 0

    rebuild_all = strict or force
    if _read(DEPS_STAMP) != deps:
        if CACHE_DIR.exists():
            print("lib/, data/ or requirements changed: clearing the execution cache "
                  "so every chapter re-executes.")
            shutil.rmtree(CACHE_DIR)
        rebuild_all = True

    # html_static_path lists outputs/; it must exist before Sphinx starts.
    for sub in ("tables", "figures", "results"):
        (ROOT / "outputs" / sub).mkdir(parents=True, exist_ok=True)

    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(ROOT), "--builder", "html"]
    if rebuild_all:
        cmd.append("--all")
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    print("$ " + " ".join(cmd), flush=True)
    # The book's tables and figures always go to outputs/ (served as _static), whatever
    # a caller's environment says.
    env = {k: v for k, v in os.environ.items() if k != "CBEC_BOOK_OUTPUTS"}
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    if code != 0:
        reports = BUILD_DIR / "html" / "reports"
        print(f"\nBook build FAILED (exit {code}). Execution reports, if any: {reports}",
              file=sys.stderr)
        return code

    BUILD_DIR.mkdir(exist_ok=True)
    DEPS_STAMP.write_text(deps + "\n")
    INPUTS_STAMP.write_text(inputs + "\n")
    print(f"\nBuilt in {time.perf_counter() - started:.1f} s. Open file://{index}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.build", description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true",
                        help="rebuild every page, warnings are errors (-W -n --keep-going)")
    parser.add_argument("--force", action="store_true",
                        help="rebuild every page even if no input changed")
    args = parser.parse_args(argv)
    return build(strict=args.strict, force=args.force)


if __name__ == "__main__":
    raise SystemExit(main())
