"""The book as a reader meets it: the site that `make docs` builds, served on loopback and read
with Debian's headless Chromium through Selenium.

The site is built once into a temporary folder, exactly as the Makefile builds it (Sphinx
warnings are errors), and served by `http.server` on 127.0.0.1 on a free port. Chromium and
chromedriver are Debian's (`/usr/bin/chromium`, `/usr/bin/chromedriver`); Selenium Manager is
kept offline, so nothing is ever downloaded. Each page must load without a console error, every
figure must be visible, non-empty and inside its column (and in a chapter shown at its own
size, not scaled down), every internal link must resolve, every chapter must link glossary
terms and each must reach its entry, and a search must find the chapters that use
`t_inject_branches`. Screenshots of every page and every figure are kept in
`build/screenshots/` (one full-page PNG per page, hidden cells opened) for a person to look at.
"""

from __future__ import annotations

import base64
import functools
import html.parser
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, require_tool

sys.path.insert(0, str(ROOT / "docs" / "_ext"))

from docstring_layout import layout  # noqa: E402
from rfc_links import rfc_link  # noqa: E402

SCREENSHOTS = ROOT / "build" / "screenshots"
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
#: pages whose figures must all fit the column and so show at their own size, not scaled down:
#: every chapter (`pushinject.figures.BOOK_WIDTH` is the widest that fits)
AT_OWN_SIZE = {f"notebooks/{c}.html" for c in CHAPTERS}
#: how long a page may take to finish its own scripts (search), in seconds
PATIENCE = 20.0


# -- the small helpers of the book's configuration --------------------------------------------


def test_rfc_role_names_the_rfc_and_section_and_links_the_rfc_editor_page() -> None:
    assert rfc_link("3261#section-16.7") == (
        "RFC 3261 §16.7", "https://www.rfc-editor.org/rfc/rfc3261#section-16.7")
    assert rfc_link("8599") == ("RFC 8599", "https://www.rfc-editor.org/rfc/rfc8599")
    assert rfc_link("3261#appendix-A") == (
        "RFC 3261 Appendix A", "https://www.rfc-editor.org/rfc/rfc3261#appendix-A")
    with pytest.raises(ValueError, match="not an RFC target"):
        rfc_link("RFC3261 section 16")


def test_docstring_layout_turns_titles_into_rubrics_and_separates_lists() -> None:
    lines = ["Theory of operation", "-------------------", "Rules:", "- one", "  continued",
             "- two", "After the list."]
    assert layout(lines) == [".. rubric:: Theory of operation", "", "Rules:", "", "- one",
                             "  continued", "- two", "", "After the list."]
    assert layout(["A line.", "", "- already apart", ""]) == ["A line.", "", "- already apart",
                                                               ""]


# -- the built and served site ----------------------------------------------------------------


def _docs_command(out: Path, doctrees: Path) -> list[str]:
    """The Makefile's `docs` recipe, writing into `out` and `doctrees` instead of build/."""
    recipe = next(line.strip() for line in (ROOT / "Makefile").read_text().splitlines()
                  if "sphinx-build" in line)
    words = recipe.split()
    assert words[0] == "$(BIN)/sphinx-build" and words[-2:] == [".", "build/site"], recipe
    words[words.index("build/doctrees")] = str(doctrees)
    return [sys.executable, "-m", "sphinx", *words[1:-1], str(out)]


def test_the_docs_recipe_builds_html_with_warnings_as_errors(tmp_path: Path) -> None:
    command = _docs_command(tmp_path / "site", tmp_path / "doctrees")
    assert command[3:] == ["-q", "-b", "html", "-c", "docs", "-d", str(tmp_path / "doctrees"),
                           "-W", "--keep-going", ".", str(tmp_path / "site")]


@pytest.fixture(scope="module")
def site() -> Iterator[Path]:
    """A fresh build of the book by the `make docs` recipe, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="pushinject-site-") as tmp:
        out = Path(tmp) / "site"
        done = subprocess.run(_docs_command(out, Path(tmp) / "doctrees"), cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        yield out


def test_the_book_has_every_chapter_the_appendices_and_a_front_door(site: Path) -> None:
    pages = sorted(str(p.relative_to(site)) for p in site.rglob("*.html"))
    assert [p for p in pages if p.startswith("notebooks/")] == [
        f"notebooks/{c}.html" for c in CHAPTERS]
    assert {"index.html", "search.html", "genindex.html", "docs/index.html",
            "docs/glossary.html", "docs/catalogue.html", "docs/api.html"} <= set(pages)
    front = (site / "index.html").read_text()
    assert 'content="0; url=docs/index.html"' in front
    toc = (site / "docs" / "index.html").read_text()
    order = [toc.index(f'href="../notebooks/{c}.html"') for c in CHAPTERS]
    assert order == sorted(order)


def test_no_page_asks_for_anything_outside_the_site(site: Path) -> None:
    """Offline: scripts, styles, fonts and images all come from the site itself."""
    pattern = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""")
    for page in site.rglob("*.html"):
        text = page.read_text()
        for tag in re.findall(r"<link\b[^>]*>", text):
            if re.search(r"""rel=["'](?:stylesheet|preload|icon)""", tag):
                assert not re.search(r"""href=["'](?:https?:)?//""", tag), (page, tag)
        for tag in pattern.findall(text):
            assert tag.startswith("<link"), (page, tag)
    for css in site.rglob("*.css"):
        assert not re.search(r"""(?:@import|url\()\s*["']?(?:https?:)?//""", css.read_text()), css


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The site on http://127.0.0.1:PORT/ (a free port), stopped at the end."""
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium under Debian's chromedriver; Selenium Manager stays offline."""
    chromium = require_tool("chromium")
    chromedriver = require_tool("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with tempfile.TemporaryDirectory(prefix="pushinject-chromium-") as profile, \
            pytest.MonkeyPatch.context() as env:
        env.setenv("SE_OFFLINE", "true")  # Selenium Manager must not look for anything online
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                     f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver),
                                  options=options)
        try:
            driver.set_page_load_timeout(60)
            yield driver
        finally:
            driver.quit()


def _pages(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html"))


def _shot_name(page: str) -> str:
    return page.removesuffix(".html").replace("/", "__")


#: every figure in the page's main column, with what decides whether a reader can see it whole
_FIGURES_JS = """
const main = document.querySelector('article') || document.body;
main.querySelectorAll('details').forEach(d => { d.open = true; });
const box = main.getBoundingClientRect();
const out = [];
main.querySelectorAll('img, svg, object').forEach((el, i) => {
    if (el.tagName.toLowerCase() === 'svg' && el.parentElement.closest('svg')) return;
    const r = el.getBoundingClientRect();
    const clipped = [];
    for (let up = el.parentElement; up && up !== main.parentElement; up = up.parentElement) {
        const style = getComputedStyle(up);
        if (style.overflowX !== 'visible' && up.scrollWidth > up.clientWidth + 1)
            clipped.push(up.tagName + '.' + up.className);
    }
    out.push({index: i, tag: el.tagName.toLowerCase(), src: el.getAttribute('src') || '',
              width: r.width, height: r.height, left: r.left, right: r.right,
              natural: el.tagName.toLowerCase() === 'img' ? el.naturalWidth : r.width,
              boxLeft: box.left, boxRight: box.right,
              loaded: el.tagName.toLowerCase() !== 'img' || (el.complete && el.naturalWidth > 0),
              visible: getComputedStyle(el).visibility !== 'hidden' && el.offsetParent !== null,
              clipped: clipped});
});
return out;
"""


def _full_page_shot(browser: Any, path: Path) -> None:
    """The whole page (up to 20,000 pixels down), hidden solutions opened, as a PNG."""
    height = browser.execute_script(
        "return Math.min(document.documentElement.scrollHeight, 20000);")
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


def test_every_page_loads_cleanly_and_shows_its_figures_whole(site: Path, served: str,
                                                               browser: Any) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors: dict[str, list[str]] = {}
    bad_figures: list[tuple[str, dict[str, Any]]] = []
    shrunk: list[tuple[str, str, int, int]] = []
    seen = 0
    for page in _pages(site):
        browser.get_log("browser")  # drop what earlier pages left
        browser.get(served + page)
        severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        if severe:
            errors[page] = severe
        figures = browser.execute_script(_FIGURES_JS)
        for fig in figures:
            seen += 1
            whole = (fig["visible"] and fig["loaded"] and fig["width"] > 0 and fig["height"] > 0
                     and fig["left"] >= fig["boxLeft"] - 0.5
                     and fig["right"] <= fig["boxRight"] + 0.5 and not fig["clipped"])
            if not whole:
                bad_figures.append((page, fig))
            if page in AT_OWN_SIZE and fig["width"] < fig["natural"] - 0.5:
                shrunk.append((page, fig["src"], round(fig["width"]), fig["natural"]))
        _full_page_shot(browser, SCREENSHOTS / f"{_shot_name(page)}.png")
    assert errors == {}
    assert bad_figures == []
    assert shrunk == []
    chapter_figures = sum(1 for p in CHAPTERS for f in
                          (ROOT / "notebooks" / f"{p}.ipynb").read_text().split('"image/svg+xml"')[1:])
    assert seen >= chapter_figures > 0


class _Anchors(html.parser.HTMLParser):
    """The ids and names an HTML page defines, and the links it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if values.get(key):
                self.ids.add(str(values[key]))
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))


#: a glossary term as a chapter's Markdown links it: {term}`text` or {term}`text <term>`
_TERM_ROLE = re.compile(r"\{term\}`([^`<]*?)(?:\s*<([^`>]+)>)?`")


def _term_roles(chapter: str) -> list[str]:
    """The glossary terms a chapter's Markdown cells link, in order."""
    import json

    cells = json.loads((ROOT / "notebooks" / f"{chapter}.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return [(target or shown).strip() for shown, target in _TERM_ROLE.findall(text)]


def test_chapters_link_the_first_use_of_their_terms_to_the_glossary(site: Path) -> None:
    """Each {term} role of a chapter is a link to its entry on the glossary page, each term is
    linked once (its first use), and every chapter links some."""
    glossary = _Anchors()
    glossary.feed((site / "docs" / "glossary.html").read_text())
    entries = {i for i in glossary.ids if i.startswith("term-")}
    assert {"term-AoR", "term-branch", "term-injection", "term-HEP", "term-rotated-capture"} <= entries
    linking = set()
    for chapter in CHAPTERS:
        page = _Anchors()
        page.feed((site / "notebooks" / f"{chapter}.html").read_text())
        # links to one entry of the glossary (a link to the page itself has no fragment)
        targets = [href.partition("#")[2] for href in page.links
                   if href.partition("#")[0] == "../docs/glossary.html" and "#" in href]
        roles = _term_roles(chapter)
        assert len(targets) == len(roles), chapter
        assert [t for t in targets if t not in entries] == [], chapter
        assert len(set(targets)) == len(targets), chapter
        assert targets == [_term_anchor(term, entries) for term in roles], chapter
        if targets:
            linking.add(chapter)
    assert linking == set(CHAPTERS)


def _term_anchor(term: str, entries: set[str]) -> str:
    """The glossary anchor of a term as the role names it (terms match regardless of case)."""
    wanted = "term-" + re.sub(r"[^A-Za-z0-9_]+", "-", term).strip("-")
    (anchor,) = [e for e in entries if e.lower() == wanted.lower()]
    return anchor


def _read(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_every_internal_link_resolves_to_a_page_and_an_existing_anchor(site: Path,
                                                                       served: str) -> None:
    parsed: dict[str, _Anchors] = {}
    broken: list[tuple[str, str, str]] = []
    links = 0

    def page_at(url: str) -> _Anchors | None:
        if url not in parsed:
            status, text = _read(url)
            if status != 200:
                return None
            parsed[url] = _Anchors()
            parsed[url].feed(text)
        return parsed[url]

    for page in _pages(site):
        here = served + page
        source = page_at(here)
        assert source is not None, page
        for href in source.links:
            target = urllib.parse.urljoin(here, href)
            if not target.startswith(served):
                continue  # another site (an RFC, the theme's home): not fetched here
            links += 1
            address, _, fragment = target.partition("#")
            found = page_at(address)
            if found is None:
                broken.append((page, href, "not found"))
            elif fragment and urllib.parse.unquote(fragment) not in found.ids:
                broken.append((page, href, "no such anchor"))
    assert broken == []
    assert links > 100


def test_searching_t_inject_branches_lists_the_chapters_that_use_it(site: Path, served: str,
                                                                    browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get_log("browser")
    browser.get(served + "search.html?q=t_inject_branches")
    deadline = time.monotonic() + PATIENCE
    summary = ""
    while time.monotonic() < deadline:
        summary = browser.execute_script(
            "const s = document.querySelector('#search-results .search-summary');"
            "return s ? s.textContent : '';")
        if summary.strip():
            break
        time.sleep(0.2)
    assert summary.strip(), "the search did not finish"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "search-t_inject_branches.png"))
    found = {urllib.parse.urlsplit(a.get_attribute("href")).path.lstrip("/")
             for a in browser.find_elements(By.CSS_SELECTOR, "#search-results ul.search li a")}
    # every page whose text uses the word (the index keeps stems: "t_inject_branch")
    using = {page for page in _pages(site) if page.startswith(("notebooks/", "docs/"))
             and "t_inject_branch" in _text(site / page).lower()}
    chapters = {p for p in using if p.startswith("notebooks/")}
    assert "notebooks/04_push_branch_injection.html" in chapters
    assert "notebooks/00_course.html" in chapters
    assert {p for p in found if p.startswith("notebooks/")} == chapters
    assert [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def _text(page: Path) -> str:
    """The text of a page's main column, as the search index sees it."""
    text = page.read_text()
    start, end = text.find("<article"), text.find("</article>")
    body = text[start:end] if start >= 0 else text
    return re.sub(r"<[^>]+>", "", body)


#: each text of an SVG document that lies partly outside its canvas, and each two texts that
#: touch or cover each other (less than a pixel apart side by side: they read as one string)
_SVG_OVERFLOW_JS = """
const root = document.documentElement.getBoundingClientRect();
const out = [];
document.querySelectorAll('text').forEach(t => {
    const r = t.getBoundingClientRect();
    if (r.width === 0) return;
    const over = Math.max(root.left - r.left, r.right - root.right,
                          root.top - r.top, r.bottom - root.bottom);
    if (over > 1) out.push([t.textContent.trim(), Math.round(over)]);
});
const boxes = Array.from(document.querySelectorAll('text'))
    .map(t => [t.textContent.trim(), t.getBoundingClientRect()]).filter(b => b[1].width > 0);
boxes.forEach(([a, ra], i) => boxes.slice(i + 1).forEach(([b, rb]) => {
    const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
    const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
    if (w > -1 && h > 2) out.push([a + ' / ' + b, Math.round(w)]);
}));
return out;
"""


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_figure_draws_its_text_inside_its_canvas(site: Path, served: str, browser: Any,
                                                       chapter: str) -> None:
    """What the page test cannot see: text cut off by the figure's own edge. Each SVG figure
    is opened on its own and each of its texts must lie on the canvas."""
    page = f"notebooks/{chapter}.html"
    figures = sorted(set(re.findall(r'<img[^>]*src="([^"]+\.svg)"', (site / page).read_text())))
    cut: dict[str, list[list[Any]]] = {}
    for src in figures:
        browser.get(urllib.parse.urljoin(served + page, src))
        over = browser.execute_script(_SVG_OVERFLOW_JS)
        if over:
            cut[src] = over
    assert cut == {}
