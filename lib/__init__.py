"""Estimation library behind the book.

One module per method family (see ``METHODS.md``). Chapters import from here;
all numerics, formatting and data handling live in these modules and are tested
in ``tests/``.
"""

import os
import re
import sys
from pathlib import Path

# jsonschema, which nbformat, papermill and myst-nb's glue import, imports the optional
# rfc3987_syntax when it is installed (Jupyter's own packages pull it in), and that module
# compiles 38 parser grammars at import: 2-3 s in every chapter kernel and every process, for
# the "iri" string format, which nothing here validates. Marked absent, jsonschema leaves
# that one format checker out (as it does wherever the package is not installed).
sys.modules.setdefault("rfc3987_syntax", None)
# diff-diff's Rust kernels run on a rayon thread pool as wide as the machine unless told
# otherwise. The book parallelises over chapters and draws, one process per core: pools as
# wide as the machine in each process fight for the same cores (two lab workers ran 1.6x one
# worker's draws per second with them, 1.95x without), and a pool's width must not depend on
# the machine if results are to be. A reader who wants wider pools sets RAYON_NUM_THREADS.
os.environ.setdefault("RAYON_NUM_THREADS", "1")

#: Repository root (the folder holding ``_config.yml``).
ROOT = Path(__file__).resolve().parent.parent
#: Shipped data.
DATA = ROOT / "data"


def outputs_dir() -> Path:
    """Where chapters write tables, figures and results.

    ``$CBEC_BOOK_OUTPUTS`` when set: the book's build points it at ``outputs/`` at the
    repository root (copied into the site's ``_static`` folder, so download links
    resolve), the run command at a run-specific folder. Unset, as when a reader opens
    a chapter in Jupyter and runs it by hand, it is ``runs/jupyter/outputs/``, so that
    such a run never replaces the files the built book links to.
    """
    env = os.environ.get("CBEC_BOOK_OUTPUTS")
    return Path(env) if env else ROOT / "runs" / "jupyter" / "outputs"


#: Where the book's build has its chapters write (see :func:`outputs_dir`).
BOOK_OUTPUTS = ROOT / "outputs"


def shown_path(path: str | Path) -> str:
    """``path`` as a message shows it: relative to the working folder when inside it.

    Keeps messages short, and keeps a build machine's absolute checkout path out
    of the pages (two machines' builds must give the same page text).
    """
    resolved = Path(path).expanduser().resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(resolved)


_STEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def output_folder(name: str | None, kind: str, directory: str | Path | None = None, *,
                  example: str) -> Path:
    """Check an output's file stem and return its (created) folder.

    ``kind`` is the sub-folder of :func:`outputs_dir` used when ``directory``
    is not given (``"tables"``, ``"figures"``); the stem must be letters,
    digits, ``_ - .`` so that it is a safe file name and link.
    """
    if not name or not _STEM.match(name):
        raise ValueError(f"{kind.rstrip('s')} name must be a file stem of letters, digits, '_', '-' "
                         f"or '.', got {name!r}; e.g. {example}")
    folder = Path(directory) if directory is not None else outputs_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


__all__ = ["ROOT", "DATA", "BOOK_OUTPUTS", "outputs_dir", "output_folder", "shown_path"]
