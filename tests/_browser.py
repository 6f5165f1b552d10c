"""The built book in a real browser, for ``tests/test_book.py``: headless Chromium (Debian's
``chromium`` and ``chromium-driver``, driven by selenium) over a loopback HTTP server.

:func:`page_problems` lists what a reader would see wrong on one page at one width: a console
error, an image that did not load, mathematics MathJax did not typeset, table text whose contrast
with its background is below 4.5:1 (in light and dark mode); at 1280 px and wider a table wider
than the text column; on a narrower screen a wide table that does not scroll inside its own box,
or a page wider than the screen. :func:`missing` says why the browser tests cannot run here (they are then skipped with
that reason; ``.ci/run`` installs the two Debian packages).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

from lib import ROOT

SITE = ROOT / "_build" / "html"
#: The screens every page is read on: (width in px, colour mode).
SCREENS = ((1280, "light"), (1920, "light"), (400, "light"), (1280, "dark"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

try:
    import selenium  # noqa: F401
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:  # pragma: no cover - the pinned environment has it
    webdriver = None


def missing() -> str:
    if webdriver is None:
        return "selenium is not installed (make env installs it)"
    if not CHROMIUM or not DRIVER:
        return "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    if not (SITE / "index.html").exists():
        return f"the book is not built ({SITE.relative_to(ROOT)}/index.html missing; make book)"
    return ""


def pages() -> list[str]:
    if not SITE.exists():
        return []
    skip = {"genindex.html", "search.html"}
    return sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html")
                  if not p.relative_to(SITE).parts[0].startswith("_") and p.name not in skip)


#: What one page reports: the page's and the viewport's widths, every table wider than its
#: column (caption, widths, and whether a scrolling box holds it), and images that did not load.
_PROBE = r"""
const col = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
const cw = col.clientWidth;
const tables = [];
for (const t of col.querySelectorAll("table")) {
  if (t.closest(".MathJax, mjx-container")) continue;
  const w = t.scrollWidth;
  if (w <= cw + 1) continue;
  let box = t.parentElement, scrolls = false;
  while (box && box !== col) {
    const ox = getComputedStyle(box).overflowX;
    if ((ox === "auto" || ox === "scroll") && box.clientWidth <= cw + 1) { scrolls = true; break; }
    box = box.parentElement;
  }
  const cap = t.querySelector("caption");
  const label = (cap ? cap.innerText : (t.closest("figure, div.cell, section")?.id || "")).slice(0, 90);
  tables.push({label: label, width: w, column: cw, scrolls: scrolls});
}
const images = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
const math = col.querySelectorAll(".math").length;
const typeset = col.querySelectorAll("mjx-container").length;
return {page: document.documentElement.scrollWidth, viewport: window.innerWidth, tables: tables,
        images: images, math: math, typeset: typeset};
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports what matters
        pass


def serve(directory: Path):
    """A loopback HTTP server of ``directory`` in a thread: ``(server, base_url)``."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def chromium():
    """Headless Chromium through its driver, with the console log kept."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-extensions", "--no-first-run"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    return driver


#: Text a reader must read on tables (captions, headers, cells, notes) whose contrast with the
#: background behind it is below WCAG's 4.5:1 (colours as computed, alpha blended on white or black).
_CONTRAST = r"""
function rgba(c) { const m = c.match(/[\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; }
function lum([r, g, b]) {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}
function background(el) {
  const dark = document.documentElement.dataset.theme === "dark";
  let base = dark ? [0, 0, 0] : [255, 255, 255], layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  for (const c of layers.reverse()) base = base.map((v, i) => v * (1 - c[3]) + c[i] * c[3]);
  return base;
}
const low = [];
const col = document.querySelector("article.bd-article") || document.body;
for (const el of col.querySelectorAll("table caption, table th, table td, .book-table-notes, .data-qualifier a")) {
  if (!el.innerText.trim() || el.closest(".MathJax, mjx-container")) continue;
  const fg = rgba(getComputedStyle(el).color), bg = background(el);
  const text = bg.map((v, i) => v * (1 - fg[3]) + fg[i] * fg[3]);
  const [a, b] = [lum(text), lum(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  if (ratio < 4.5) low.push(el.tagName.toLowerCase() + " " + ratio.toFixed(2) + ": " + el.innerText.slice(0, 50));
}
return low;
"""


def _visit(browser, url: str, width: int, mode: str = "light") -> dict:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    # the book's default mode is "auto": it follows the reader's system setting, emulated here
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                            {"features": [{"name": "prefers-color-scheme", "value": mode}]})
    browser.get_log("browser")            # drop what an earlier page left
    browser.get(url)
    browser.execute_script("return document.fonts ? document.fonts.ready.then(() => true) : true")
    browser.execute_script("return (window.MathJax && MathJax.startup && MathJax.startup.promise) ? "
                           "MathJax.startup.promise.then(() => true) : true")
    out = browser.execute_script(_PROBE)
    out["theme"] = browser.execute_script("return document.documentElement.dataset.theme")
    out["themed"] = browser.execute_script("return !!document.querySelector('article.bd-article')")
    out["low_contrast"] = browser.execute_script(_CONTRAST)
    out["console"] = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    return out


def page_problems(browser, url: str, width: int, mode: str = "light") -> list[str]:
    """What is wrong with the page at ``url`` on a screen ``width`` px wide in colour ``mode``
    (empty: nothing)."""
    seen = _visit(browser, url, width, mode)
    problems = [f"console error: {m}" for m in seen["console"]]
    if seen["themed"] and seen["theme"] != mode:
        problems.append(f"the page did not switch to {mode} mode (data-theme={seen['theme']!r})")
    problems += [f"text hard to read ({mode} mode, contrast below 4.5): {t}" for t in seen["low_contrast"]]
    problems += [f"image did not load: {src}" for src in seen["images"]]
    if seen["math"] and not seen["typeset"]:
        problems.append(f"{seen['math']} formulas on the page, none typeset (MathJax did not run)")
    if width >= 1280:
        problems += [f"table wider than the text column ({t['width']} > {t['column']} px): {t['label']!r}"
                     for t in seen["tables"]]
    else:
        problems += [f"wide table does not scroll in its own box ({t['width']} px): {t['label']!r}"
                     for t in seen["tables"] if not t["scrolls"]]
        if seen["page"] > seen["viewport"] + 1:
            problems.append(f"the page is {seen['page']} px wide on a {seen['viewport']} px screen")
    return problems
