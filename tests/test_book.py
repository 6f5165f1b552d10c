"""The built book: a strict build (warnings are errors) and checks on its HTML.

The build runs once per test session (``python -m lib.book.build --strict``): every
page is re-rendered from the execution cache with ``-W -n --keep-going``, so a
Sphinx warning anywhere fails the suite.
"""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from lib import ROOT
from lib.book.run import runnable_chapters, toc_chapters

pytestmark = [pytest.mark.slow]

HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def built_site() -> Path:
    proc = subprocess.run([sys.executable, "-m", "lib.book.build", "--strict"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, (
        f"strict book build failed (exit {proc.returncode})\n--- stdout ---\n{proc.stdout[-6000:]}"
        f"\n--- stderr ---\n{proc.stderr[-6000:]}")
    return HTML


class _Assets(HTMLParser):
    """Collect img src, script src and stylesheet/link hrefs of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.scripts: list[str] = []
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag == "link" and a.get("href"):
            self.links.append((a.get("rel") or "", a["href"]))


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def _parse(page: Path) -> _Assets:
    parser = _Assets()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def test_every_toc_page_exists(built_site):
    missing = [c for c in toc_chapters() if not (built_site / "chapters" / f"{c}.html").exists()]
    assert not missing, f"toc pages missing from the built site: {missing}"
    assert (built_site / "index.html").exists()


ERROR_MARKERS = (
    "Traceback (most recent call last)",
    'class="output traceback"',
    "output error",
    "ansi-red-fg",  # coloured tracebacks
)


def test_no_error_output_in_any_page(built_site):
    bad = {}
    for page in _pages(built_site):
        if "reports" in page.parts or "_static" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        found = [m for m in ERROR_MARKERS if m in text]
        if found:
            bad[str(page.relative_to(built_site))] = found
    assert not bad, f"pages showing errors or tracebacks: {bad}"


def test_every_referenced_image_exists(built_site):
    missing = []
    for page in _pages(built_site):
        for src in _parse(page).images:
            if src.startswith("data:"):
                continue
            url = urlparse(src)
            assert not url.scheme, f"{page.name} loads an image from the internet: {src}"
            target = (page.parent / unquote(url.path)).resolve()
            if not target.exists():
                missing.append(f"{page.relative_to(built_site)} -> {src}")
    assert not missing, f"referenced images missing: {missing}"


def test_nothing_is_fetched_from_the_internet(built_site):
    """Scripts, stylesheets, fonts and MathJax are all served from the site itself."""
    remote = []
    for page in _pages(built_site):
        assets = _parse(page)
        for src in assets.scripts:
            if urlparse(src).scheme in ("http", "https") or src.startswith("//"):
                remote.append(f"{page.name}: script {src}")
        for rel, href in assets.links:
            if rel in ("canonical",):
                continue
            if urlparse(href).scheme in ("http", "https") or href.startswith("//"):
                remote.append(f"{page.name}: link {href}")
    assert not remote, f"assets fetched from the internet: {remote[:10]}"


def test_mathjax_is_served_locally(built_site):
    mathjax = built_site / "_static" / "mathjax" / "tex-chtml.js"
    assert mathjax.exists(), "MathJax was not copied into _static (sphinx-mathjax-offline)"
    math_pages = [p for p in _pages(built_site) if 'class="math' in p.read_text(encoding="utf-8")]
    assert math_pages, "no page with mathematics was found"
    for page in math_pages:
        assert re.search(r'src="[./]*_static/mathjax/tex-chtml\.js', page.read_text(encoding="utf-8")), \
            f"{page.name} does not load the local MathJax"
    assert (built_site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_citations_resolve(built_site):
    page = (built_site / "chapters" / "intro.html").read_text(encoding="utf-8")
    assert "Lyu" in page and "Truong" in page, "the intro's citations of the two papers did not render"
    assert "??" not in re.sub(r"<[^>]+>", "", page), "an unresolved reference rendered as ??"


def test_download_links_resolve(built_site):
    """Tables saved by chapters link to CSV/LaTeX copies that exist in the site."""
    broken = []
    for page in _pages(built_site):
        for href in re.findall(r'href="([^"]+\.(?:csv|tex))"', page.read_text(encoding="utf-8")):
            target = (page.parent / unquote(href)).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(built_site)} -> {href}")
    assert not broken, f"download links to missing files: {broken}"


def test_the_results_page_lists_every_printed_estimate_with_working_links(built_site):
    """Results at a glance: one row per estimate with a printed number, each linked to its chapter
    and its results JSON, quantities in words, the table's script served from the site."""
    import json

    page = built_site / "chapters" / "results.html"
    text = page.read_text(encoding="utf-8")
    body = text[text.index('id="results-at-a-glance"'):]
    body = body[:body.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)[1:]
    printed = sum(e.get("paper") is not None
                  for p in (built_site / "_static" / "results").glob("*.json")
                  for e in json.loads(p.read_text())["estimates"])
    assert printed >= 30 and len(rows) == printed
    for href in set(re.findall(r'href="([^"#]+)"', body)):
        assert (page.parent / unquote(href)).resolve().exists(), href
    assert 'href="../_static/results/baseline_did.json"' in body and "Truth" in text
    quantities = [re.sub(r"<[^>]+>", "", re.findall(r"<td>(.*?)</td>", r, re.S)[2]) for r in rows]
    # words, not record keys (a variable's own name may stand in parentheses or after a colon)
    words = [re.split(r"[(:]", q)[0] for q in quantities]
    assert not [w for w in words if "_" in w or re.match(r"(?i)table ?\d", w)], quantities
    assert "Column 2: CBEC" in quantities and "Sobel z" in quantities
    assert "companion Table 2" in body and "semi-synthetic" in text
    for asset in re.findall(r'(?:src|href)="(\.\./_static/itables/[^"]+)"', text):
        assert (page.parent / asset).resolve().exists(), asset


def test_pages_hold_no_checkout_path_and_timings_only_in_machine_dependent_elements(built_site):
    from lib.book.build import MACHINE_DEPENDENT_CLASS, page_problems

    assert page_problems(built_site) == []
    # the timings the chapters do show sit inside such an element, and it renders
    for chapter in ("did_placebo", "mechanisms", "psm_did"):
        html = (built_site / "chapters" / f"{chapter}.html").read_text(encoding="utf-8")
        block = re.search(rf'<div class="[^"]*\b{MACHINE_DEPENDENT_CLASS}\b[^"]*">(.*?)</div>', html, re.S)
        assert block and "seconds" in block.group(1), chapter


def test_no_page_carries_the_date_it_was_built(built_site):
    dated = [p.name for p in _pages(built_site) if "Last updated on" in p.read_text(encoding="utf-8")]
    assert not dated, f"pages with a build date (a build on another day would differ): {dated[:5]}"


def test_every_page_says_in_its_footer_that_the_default_data_are_semi_synthetic(built_site):
    themed = [p for p in _pages(built_site) if "bd-footer-content" in p.read_text(encoding="utf-8")]
    assert len(themed) >= len(toc_chapters())
    missing = [p.relative_to(built_site).as_posix() for p in themed
               if 'class="extra_footer"' not in (text := p.read_text(encoding="utf-8"))
               or "<b>semi-synthetic</b> panel" not in text]
    assert not missing, f"pages without the footer's semi-synthetic notice: {missing[:10]}"


#: Display formatting that must not reach a CSV download: stars on a number, thousands
#: separators, "estimate (s.e.)" and "t (p)" cells.
_FORMATTED = re.compile(r"^[−-]?\d[\d.]*\*+$|^\d{1,3}(,\d{3})+(\.\d+)?$|^[−-]?\d+\.\d+ \([−-]?\d+\.\d+\)$")
#: What a download may say it was computed on (lib.present.provenance and the real-data sources).
_SOURCES = ("the book's semi-synthetic", "the book's synthetic demonstration corpus", "real facts:",
            "the paper's printed numbers", "the paper's Table 2 keywords", "the growth model",
            "a diagram of the design")


def test_every_csv_download_holds_numbers_and_says_what_they_were_computed_on(built_site):
    import pandas as pd

    files = sorted((built_site / "_static" / "tables").glob("*.csv"))
    assert len(files) >= 60
    problems = []
    for f in files:
        d = pd.read_csv(f, dtype=str, keep_default_na=False)
        said = set(d["data"]) if "data" in d else set()
        if len(said) != 1 or not next(iter(said)).startswith(_SOURCES):
            problems.append(f"{f.name}: data column {sorted(said)[:2]}")
            continue
        if "semi-synthetic" in (text := next(iter(said))) and not text.endswith("not data about China"):
            problems.append(f"{f.name}: {text!r}")
        formatted = [(c, v) for c in d.columns.drop("data") for v in d[c] if _FORMATTED.match(v)]
        if formatted:
            problems.append(f"{f.name}: formatted cells {formatted[:3]}")
    assert not problems, problems


def test_every_figure_says_what_it_was_computed_on(built_site):
    from PIL import Image

    files = sorted((built_site / "_static" / "figures").glob("*.png"))
    assert len(files) >= 30
    unsaid = [f.name for f in files if not Image.open(f).text.get("Description", "").startswith(_SOURCES)]
    assert not unsaid, f"figures that do not say what they were computed on: {unsaid}"
    semi = Image.open(built_site / "_static" / "figures" / "fig1_event_study.png").text["Description"]
    assert semi.startswith("the book's semi-synthetic city panel") and semi.endswith("not data about China")


def test_the_intro_says_how_to_cite_and_no_citation_lacks_a_year(built_site):
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    intro = (built_site / "chapters" / "intro.html").read_text(encoding="utf-8")
    assert f"version {version}" in intro and "How to cite" in intro
    undated = [p.name for p in _pages(built_site) if "n.d." in p.read_text(encoding="utf-8")]
    assert not undated, f"pages citing a work without its year: {undated}"


def test_no_sentence_with_an_estimate_on_simulated_data_reads_as_a_finding(built_site):
    """Every paragraph that states a computed decimal number on a page built on simulated data
    says so: in its own words or by the qualifier the build adds (lib.book.sphinx_assets)."""
    import json

    checked, unsaid = 0, []
    for chapter in runnable_chapters():
        results = json.loads((built_site / "_static" / "results" / f"{chapter}.json").read_text())
        if not (results.get("data") or {}).get("synthetic"):
            continue
        page = (built_site / "chapters" / f"{chapter}.html").read_text(encoding="utf-8")
        # boxes that quote only the paper's printed numbers (class printed-numbers) are exempt
        page = re.sub(r'<div class="[^"]*printed-numbers[^"]*">.*?</div>', "", page, flags=re.S)
        for para in re.findall(r"<p>(.*?)</p>", page, re.S):
            glued = re.findall(r'<span class="pasted-text">(.*?)</span>', para, re.S)
            if any(re.search(r"\d\.\d", g) for g in glued):
                checked += 1
                if "synthetic" not in re.sub(r"<[^>]+>", "", para):
                    unsaid.append(f"{chapter}: {re.sub(r'<[^>]+>', '', para)[:120]}")
    assert checked >= 50 and not unsaid, (checked, unsaid[:5])
    baseline = (built_site / "chapters" / "baseline_did.html").read_text(encoding="utf-8")
    assert '<span class="data-qualifier"> (<a class="reference external" href="intro.html#what-the-data-are' \
           in baseline


def test_every_chapter_page_offers_its_executed_notebook(built_site):
    import nbformat

    for chapter in runnable_chapters():
        html = (built_site / "chapters" / f"{chapter}.html").read_text(encoding="utf-8")
        assert f'href="../_sources/chapters/{chapter}.ipynb"' in html, f"{chapter}: no .ipynb download"
        nb = nbformat.read(built_site / "_sources" / "chapters" / f"{chapter}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert any("parameters" in c.metadata.get("tags", []) for c in code), chapter
        assert any(c.get("outputs") for c in code), f"{chapter}: the notebook offered holds no outputs"


def test_a_downloaded_notebook_runs_by_hand_and_leaves_the_books_files_alone(built_site, monkeypatch):
    """README, "A chapter in Jupyter": change the parameters cell and run all cells."""
    import json

    import nbformat
    from nbclient import NotebookClient

    from lib.book.run import _kernel_manager_class

    nb = nbformat.read(built_site / "_sources" / "chapters" / "fdi_index.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert 'sample = "all"' in cell.source
    cell.source = cell.source.replace('sample = "all"', 'sample = "east"')
    book_file = ROOT / "outputs" / "results" / "fdi_index.json"
    before = book_file.read_bytes()
    by_hand = ROOT / "runs" / "jupyter" / "outputs" / "results" / "fdi_index.json"
    by_hand.unlink(missing_ok=True)
    monkeypatch.delenv("CBEC_BOOK_OUTPUTS", raising=False)  # as in a Jupyter server a reader starts
    NotebookClient(nb, kernel_name="python3", kernel_manager_class=_kernel_manager_class(),
                   resources={"metadata": {"path": str(ROOT / "chapters")}}, timeout=600).execute()
    assert json.loads(by_hand.read_text())["parameters"]["sample"] == "east"
    assert book_file.read_bytes() == before, "a run by hand replaced a file the built book links to"


# ------------------------------------------------------------------ in a real browser
import _browser  # noqa: E402  (tests/_browser.py)

_WHY_NOT = _browser.missing()


@pytest.fixture(scope="module")
def site_url(built_site):
    server, url = _browser.serve(built_site)
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    driver = _browser.chromium()
    yield driver
    driver.quit()


@pytest.mark.skipif(bool(_WHY_NOT), reason=f"browser tests skipped: {_WHY_NOT}")
@pytest.mark.parametrize("width, mode", _browser.SCREENS, ids=[f"{w}px-{m}" for w, m in _browser.SCREENS])
@pytest.mark.parametrize("page", _browser.pages() or ["index.html"])
def test_page_reads_in_a_browser(browser, site_url, page, width, mode):
    """Every page in headless Chromium at 1280, 1920 and 400 px, and at 1280 px in dark mode: no
    console error, every image loaded, table text readable; at 1280 px and wider every table fits
    the text column; at 400 px a wide table scrolls in its own box and the page is no wider than
    the screen (``tests/_browser.py``)."""
    problems = _browser.page_problems(browser, f"{site_url}/{page}", width, mode)
    assert not problems, f"{page} at {width} px, {mode} mode:\n  " + "\n  ".join(problems)
