"""Preview chapters in a throw-away book: ``python -m lib.book.preview CHAPTER [CHAPTER ...]``.

Builds ``intro``, ``data`` and the given chapters with the book's own
configuration into ``/tmp/cbec-preview/<name>/`` (or ``--out``), strictly
(``-W -n --keep-going``), without touching the book's ``_build`` folder. Use
it while writing a chapter, so that several chapters can be checked at once
without racing on one build folder. The book itself is built with
``python -m lib.book.build``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from lib import ROOT

BASE_CHAPTERS = ("intro", "data")


def preview(chapters: list[str], out: Path | None = None, strict: bool = True) -> int:
    names = [c for c in BASE_CHAPTERS if c not in chapters] + list(chapters)
    out = out or Path("/tmp/cbec-preview") / "-".join(chapters or ["base"])
    book = out / "book"
    if book.exists():
        shutil.rmtree(book)
    (book / "chapters").mkdir(parents=True)
    for name in ("_config.yml", "references.bib"):
        shutil.copy(ROOT / name, book / name)
    for folder in ("_static", "bib"):
        if (ROOT / folder).exists():
            shutil.copytree(ROOT / folder, book / folder)
    (book / "outputs").mkdir()
    for name in names:
        src = ROOT / "chapters" / f"{name}.md"
        if not src.exists():
            print(f"error: no chapter chapters/{name}.md", file=sys.stderr)
            return 2
        shutil.copy(src, book / "chapters" / f"{name}.md")
    toc = ["format: jb-book", "root: chapters/intro", "chapters:"]
    toc += [f"  - file: chapters/{n}" for n in names if n != "intro"]
    (book / "_toc.yml").write_text("\n".join(toc) + "\n")
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(book)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    env_note = f"(outputs of the chapters go to {book / 'outputs'})"
    print("$ " + " ".join(cmd), env_note, flush=True)
    import os

    env = dict(os.environ, CBEC_BOOK_OUTPUTS=str(book / "outputs"))
    code = subprocess.call(cmd, env=env)
    print(f"\npreview {'built' if code == 0 else 'FAILED'}: file://{book / '_build' / 'html' / 'index.html'}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.book.preview", description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="+", help="chapter names (file stems in chapters/)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the preview book")
    parser.add_argument("--lenient", action="store_true", help="do not turn warnings into errors")
    args = parser.parse_args(argv)
    return preview(args.chapters, args.out, strict=not args.lenient)


if __name__ == "__main__":
    raise SystemExit(main())
