"""``python -m lib.book.jupyter_book ARGS``: Jupyter Book's command line, as the book's build runs it.

The same as the ``jupyter-book`` command, but started after :mod:`lib`, which marks the
optional ``rfc3987_syntax`` absent: Jupyter Book validates its configuration with jsonschema,
whose import otherwise compiles that package's 38 parser grammars, 3-4 s of every build
(Jupyter Book's schema checks no "iri" string, the one format that package serves). It
ends without the interpreter's teardown, once every page is written.
"""

from __future__ import annotations

import os
import sys

import lib  # noqa: F401  (imported for its side effect, before jsonschema)


def main(argv: list[str] | None = None) -> int:
    from jupyter_book.cli.main import main as jupyter_book

    try:
        jupyter_book(args=sys.argv[1:] if argv is None else argv, prog_name="jupyter-book")
    except SystemExit as done:  # click exits; a build's code is its exit status
        return int(done.code or 0) if not isinstance(done.code, str) else 1
    return 0


if __name__ == "__main__":
    code = main()
    # Sphinx has written and closed every file; tearing down the interpreter's thousands of
    # modules would add most of a second to every build
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
