"""``python -m lib.run``: the run command (re-run a chapter with new parameters or data).

The command lives in :mod:`lib.book.run`; this module keeps its short name.
"""

from lib.book.run import main

if __name__ == "__main__":
    raise SystemExit(main())
