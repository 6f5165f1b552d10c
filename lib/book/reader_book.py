"""``make book DATA=FILE COLUMNS=FILE.yml``: the whole book rebuilt on a reader's own panel.

Every chapter that reads the city panel is executed on ``FILE`` (through the run command, one
chapter per core), and the executed notebooks are rendered as a book of their own in
``_build/reader/<FILE stem>/`` (the default book is untouched). A chapter the panel cannot
support gets a page saying why; a chapter that fails gets a page with its error, and the
command exits non-zero. The chapters that do not read the city panel (the policy texts, the
model, the companion paper) say so in one line.

    python -m lib.book.reader_book my_panel.csv my_columns.yml [--out DIR] [--jobs N]
        [--provincial my_provinces.csv [--provincial-columns my_provinces.yml]]

With ``--provincial`` (``make book ... PROVINCIAL=FILE``) the companion paper's two chapters run
on the reader's provincial panel as well.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from lib import ROOT

__all__ = ["CITY_CHAPTERS", "PROVINCIAL_CHAPTERS", "STATIC_CHAPTERS", "build_reader_book", "main"]

#: The chapters that read the city panel (their ``data_path`` parameter is the reader's file).
CITY_CHAPTERS = ("data", "primer", "baseline_did", "did_event_study", "did_placebo", "psm_did", "did_staggered",
                 "heterogeneity", "mechanisms", "groups_mediators", "spec_curve")
#: Pages without code, copied as they are.
STATIC_CHAPTERS = ("intro", "results", "crosswalk")
#: The chapters that read the companion paper's provincial panel (run with ``--provincial``).
PROVINCIAL_CHAPTERS = ("fdi_index", "fdi_empirics")
#: Why each other chapter is left out of a reader's book.
OTHER_DATA = {
    "policy_text": "the paper's policy documents (its own `corpus_path` parameter)",
    "theory": "no data: it checks the paper's growth model symbolically",
    "paper_audit": "the papers' printed tables (its own `estimates_path` parameter audits yours)",
    "estimator_lab": "draws of the book's own generator, whose truth is known (`python -m lib.run lab` "
                     "runs more)",
    "fdi_index": "the companion paper's provincial panel (run it with its own `data_path`)",
    "fdi_empirics": "the companion paper's provincial panel (run it with its own `data_path`)",
}
#: Files and folders of the book's sources the reader's book needs.
BOOK_FILES = ("_toc.yml", "references.bib", "_static", "bib")


def _title_and_label(chapter: str) -> tuple[str, str]:
    text = (ROOT / "chapters" / f"{chapter}.md").read_text(encoding="utf-8")
    title = next((ln[2:].strip() for ln in text.splitlines() if ln.startswith("# ")), chapter)
    label = next((ln for ln in text.splitlines() if re.fullmatch(r"\(\S+\)=", ln.strip())), "")
    return title, label


def _page(chapter: str, body: str) -> str:
    title, label = _title_and_label(chapter)
    return f"{label}\n# {title}\n\n{body}\n"


def _config(source: Path, data_name: str, provincial_name: str = "") -> None:
    """The book's configuration with execution off (the chapters were executed on the reader's
    panel) and a title and footer that say what the numbers are."""
    import yaml

    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    cfg["title"] = f"{cfg['title']}, on {data_name}"
    cfg["execute"]["execute_notebooks"] = "off"
    also = f" (the companion paper's chapters on <code>{provincial_name}</code>)" if provincial_name else ""
    cfg["sphinx"]["config"]["html_theme_options"]["extra_footer"] = (f"<p>Every estimate in this book was computed on the reader's panel "
                                   f"<code>{data_name}</code>{also}. No true effect is known for these data, and "
                                   "the paper's printed numbers appear only where the column file says the "
                                   "panel is the paper's own.</p>")
    (source / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))


def build_reader_book(data_path: str, columns: str = "", *, out: Path | None = None,
                      jobs: int = 2, strict: bool = False,
                      overrides: dict[str, dict[str, object]] | None = None,
                      provincial: str = "", provincial_columns: str = "") -> int:
    """Build the reader's book; return the number of chapters that failed (0: all built or
    explained). A panel the loader rejects stops everything with the loader's message.
    ``provincial`` (and its column file) runs the companion paper's chapters on that panel too.

    ``strict`` makes Sphinx warnings errors (the tests use it); ``overrides`` adds parameters per
    chapter (the tests use small draws)."""
    from lib.data import DataContractError, load_panel

    data_path = str(Path(data_path).expanduser().resolve())
    columns = str(Path(columns).expanduser().resolve()) if columns else ""
    try:
        panel = load_panel(data_path, columns=columns or None)
    except DataContractError as err:
        print(f"make book DATA=...: the panel cannot be read.\n{err}", file=sys.stderr)
        return 1
    if provincial:
        from lib.data.provincial import load_provincial_panel

        provincial = str(Path(provincial).expanduser().resolve())
        provincial_columns = (str(Path(provincial_columns).expanduser().resolve())
                              if provincial_columns else "")
        try:
            load_provincial_panel(provincial, columns=provincial_columns or None)
        except DataContractError as err:
            print(f"make book PROVINCIAL=...: the provincial panel cannot be read.\n{err}", file=sys.stderr)
            return 1
    name = Path(data_path).name
    out = Path(out or ROOT / "_build" / "reader" / Path(data_path).stem).resolve()
    source, runs = out / "source", out / "runs"
    if source.exists():
        shutil.rmtree(source)
    (source / "chapters").mkdir(parents=True)
    (source / "outputs").mkdir()
    for item in BOOK_FILES:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, source / item)
        elif src.exists():
            shutil.copy2(src, source / item)
    _config(source, name, Path(provincial).name if provincial else "")
    for chapter in STATIC_CHAPTERS:
        shutil.copy2(ROOT / "chapters" / f"{chapter}.md", source / "chapters" / f"{chapter}.md")
    for chapter, why in OTHER_DATA.items():
        if provincial and chapter in PROVINCIAL_CHAPTERS:
            continue
        (source / "chapters" / f"{chapter}.md").write_text(_page(
            chapter, f"This chapter does not read the city panel: it uses {why}. Its pages are in the "
                     "default book (`make book`)."), encoding="utf-8")

    parameters = {"data_path": data_path, "columns": columns}
    print(f"Running the {len(CITY_CHAPTERS)} chapters that read the city panel on {name} "
          f"({panel.report['rows']:,} rows, {panel.report['units']:,} units), {jobs} at a time ...",
          flush=True)
    from lib.book.run import _worker   # run_chapter on (chapter, parameters, folder), picklable

    tasks = [(ch, {**parameters, **(overrides or {}).get(ch, {})}, str(runs / ch)) for ch in CITY_CHAPTERS]
    if provincial:
        print(f"... and the companion paper's {len(PROVINCIAL_CHAPTERS)} chapters on "
              f"{Path(provincial).name}", flush=True)
        tasks += [(ch, {"data_path": provincial, "columns": provincial_columns,
                        **(overrides or {}).get(ch, {})}, str(runs / ch)) for ch in PROVINCIAL_CHAPTERS]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_worker, tasks))
    else:
        results = [_worker(t) for t in tasks]
    failed = []
    for res in results:
        target = source / "chapters" / f"{res.chapter}.ipynb"
        if res.ok:
            shutil.copy2(res.notebook, target)
            shutil.copytree(res.folder / "outputs", source / "outputs", dirs_exist_ok=True)
            status = "built"
        elif res.unsupported:
            reason = res.error.split(": ", 1)[1] if ": " in res.error else res.error
            (source / "chapters" / f"{res.chapter}.md").write_text(_page(
                res.chapter, f"This chapter cannot run on `{name}`. {reason}"), encoding="utf-8")
            status = "not supported by this panel"
        else:
            failed.append(res)
            (source / "chapters" / f"{res.chapter}.md").write_text(_page(
                res.chapter, "This chapter **failed** on this panel; the error is below and the executed "
                             f"notebook is `{res.notebook}`.\n\n```text\n{res.error}\n```"), encoding="utf-8")
            status = "FAILED"
        print(f"  {res.chapter:<16} {status} ({res.seconds:.1f} s)", flush=True)
    # Jupyter Book's command line as the default book's build runs it (lib.book.jupyter_book)
    cmd = [sys.executable, "-m", "lib.book.jupyter_book", "build", str(source), "--builder", "html",
           *(["-W", "-n", "--keep-going"] if strict else [])]
    code = subprocess.call(cmd, cwd=source, stdout=subprocess.DEVNULL)
    index = source / "_build" / "html" / "index.html"
    if code != 0:
        print(f"jupyter-book failed (exit {code}) on {source}", file=sys.stderr)
        return max(1, len(failed))
    for res in failed:
        print(res.error, file=sys.stderr)
    print(f"\nThe book on {name}: file://{index}" + (f"\n{len(failed)} chapter(s) FAILED; their pages show "
                                                     "the error." if failed else ""))
    return len(failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.book.reader_book",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the reader's panel (CSV, .dta, .parquet, .xlsx)")
    parser.add_argument("columns", nargs="?", default="", help="its column file (YAML)")
    parser.add_argument("--out", default=None, help="output folder (default _build/reader/<stem>)")
    parser.add_argument("--jobs", type=int, default=2, help="chapters executed at once (default 2)")
    parser.add_argument("--provincial", default="", help="a provincial panel for the companion paper's chapters")
    parser.add_argument("--provincial-columns", default="", help="its column file (YAML)")
    args = parser.parse_args(argv)
    return build_reader_book(args.data, args.columns, out=Path(args.out) if args.out else None,
                             jobs=args.jobs, provincial=args.provincial,
                             provincial_columns=args.provincial_columns)


if __name__ == "__main__":
    raise SystemExit(main())
