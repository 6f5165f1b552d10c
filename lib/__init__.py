"""Estimation library behind the book.

One module per method family (see ``METHODS.md``). Chapters import from here;
all numerics, formatting and data handling live in these modules and are tested
in ``tests/``.
"""

import os
from pathlib import Path

#: Repository root (the folder holding ``_config.yml``).
ROOT = Path(__file__).resolve().parent.parent
#: Shipped data.
DATA = ROOT / "data"


def outputs_dir() -> Path:
    """Where chapters write tables, figures and results.

    ``$CBEC_BOOK_OUTPUTS`` when set (the run command points it at a run-specific
    folder), else ``outputs/`` at the repository root, which the book copies
    into its ``_static`` folder so that download links resolve.
    """
    env = os.environ.get("CBEC_BOOK_OUTPUTS")
    return Path(env) if env else ROOT / "outputs"


__all__ = ["ROOT", "DATA", "outputs_dir"]
