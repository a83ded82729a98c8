"""report.html: one self-contained page per report, that parses, holds every table and figure,
fetches nothing, escapes the run's names, and opens in a real headless browser."""

from __future__ import annotations

import html
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from fourier_masks.core import figures
from fourier_masks.core.runs.store import ResultsStore
from fourier_masks.core.study.report_html import PAGE_NAME, figure_caption, figure_size, write_report_page
from fourier_masks.core.tables import Table

HOSTILE = "<script>alert('x')</script>"
NAMES = [HOSTILE, "$x^2$", 'a "quoted" & <b>bold</b> class']
CHROMIUM = Path("/usr/bin/chromium")


class PageParser(HTMLParser):
    """Every start tag with its attributes, the page's text, and the tags left open."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    assert parser.open == [], f"unclosed tags: {parser.open}"
    return parser


def _tables() -> dict[str, Table]:
    findings = Table.build(
        "findings",
        "Findings of the paper, as measured in this run",
        [("finding", ""), ("model", ""), ("verdict", "")],
        notes="Data: builtin.",
    )
    findings.add_row("dataset mask keeps accuracy", HOSTILE, "agrees")
    findings.add_row("sparse masks", "N", "inconclusive")
    table1 = Table.build("table1", "Table 1: dataset masks", [("model", ""), ("masked accuracy", "%")])
    table1.add_row(HOSTILE, 51.25)
    table1.add_row("$x^2$", float("nan"))
    table2 = Table.build("table2", "Table 2: single-image masks", [("model", ""), ("kept fraction", "%")])
    table2.add_row("N", 12.5)
    table3 = Table.build("table3", "Table 3: linear probe", [("mask group", ""), ("accuracy", "%")])
    table3.add_row("N-clean", 80.0)
    energy = Table.build(
        "energy-radial", "Per-band radial energy of the dataset masks <&>", [("band", "index"), ("N", "1")]
    )
    for band in range(4):
        energy.add_row(band, 0.25 * band)
    exceedance = Table.build(
        "exceedance-A-vs-N", "Images whose band energy is higher for model A's masks", [("band", "index")]
    )
    exceedance.add_row(0)
    return {t.name: t for t in (findings, table1, table2, table3, energy, exceedance)}


@pytest.fixture(scope="module")
def _report_template(tmp_path_factory):
    """A run holding the tables and figures a report writes (built directly: no study)."""
    store = ResultsStore(tmp_path_factory.mktemp("template") / "run")
    tables = _tables()
    for table in tables.values():
        store.save_table(table)
    rng = np.random.default_rng(0)
    folder = store.figures_dir
    drawn = {
        "set-masks": figures.masks_figure(
            {HOSTILE: rng.random((1, 8, 8)), "N": rng.random((1, 8, 8))}, "Dataset masks"
        ),
        "umap-probe-N": figures.embedding_figure(rng.random((9, 2)), np.arange(9) % 3, NAMES, "UMAP"),
        "exceedance-A-vs-N": figures.exceedance_figure(
            rng.random(4) * 100, rng.random(4) * 100, np.linspace(0, 8, 5), "Images"
        ),
    }
    for name, fig in drawn.items():
        figures.save_figure(fig, folder, name, formats=("png", "svg"), write=store.write_derived, dpi=60)
    return store.root, tables, list(drawn)


@pytest.fixture
def report_run(_report_template, tmp_path):
    """A copy of the template run, its page written."""
    template, tables, drawn = _report_template
    store = ResultsStore(shutil.copytree(template, tmp_path / "run"))
    return store, tables, drawn, write_report_page(store, tables, drawn)


def test_the_page_parses_and_holds_every_table_and_figure(report_run):
    store, tables, drawn, page = report_run
    assert page == store.root / PAGE_NAME
    parser = parse(page.read_text(encoding="utf-8"))
    text = "".join(parser.text)
    for table in tables.values():
        assert table.title in text, table.name
        assert f"table-{table.name}" in {attrs.get("id") for attrs in parser.all("table")}
    images = parser.all("img")
    assert len(images) == len(drawn) == len(parser.all("figure"))
    for attrs, name in zip(images, drawn):
        assert re.fullmatch(r"data:image/(png|svg\+xml);base64,[A-Za-z0-9+/=]+", attrs["src"] or "")
        assert figure_caption(name, tables) in text
    assert "Per-band radial energy of the dataset masks <&>" in text  # a title with markup, shown as text
    assert {attrs.get("id") for attrs in parser.all("details")} >= {"details-energy-radial"}  # folded
    assert "Images whose band energy is higher for model A's masks." in text  # its table's title as caption
    assert "Findings of the paper" in text and "created" in text  # findings and run.json


def test_the_page_fetches_nothing(report_run):
    *_, page = report_run
    source = page.read_text(encoding="utf-8")
    parser = parse(source)
    assert not re.search(r"(?i)\b(https?|ftp|file):", source)
    assert not re.search(r"(?i)url\(|@import", source)
    for tag, attrs in parser.tags:
        for key in ("src", "srcset", "data", "poster", "background"):
            value = attrs.get(key)
            assert value is None or value.startswith("data:"), (tag, key, value[:40])
        if tag == "a":
            assert (attrs.get("href") or "").startswith("#")
        assert tag not in ("link", "iframe", "object", "embed")
    assert [attrs for attrs in parser.all("script") if attrs.get("src")] == []


def test_names_from_the_run_are_escaped(report_run):
    *_, page = report_run
    source = page.read_text(encoding="utf-8")
    parser = parse(source)
    assert HOSTILE not in source and "<b>bold</b>" not in source
    assert html.escape(HOSTILE) in source
    assert len(parser.all("script")) == 1  # the page's own (unfold the tables before printing)
    assert parser.all("b") == [{}] * len(parser.all("figure"))  # only "Figure n." labels
    text = "".join(parser.text)
    assert HOSTILE in text and "$x^2$" in text  # shown as the text they are


def test_the_smaller_figure_file_is_embedded_and_a_missing_one_is_said(tmp_path):
    store = ResultsStore(tmp_path / "run")
    folder = store.figures_dir
    (folder / "a.png").write_bytes(b"\x89PNG" + b"0" * 100)
    (folder / "a.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    (folder / "b.png").write_bytes(b"\x89PNG")
    (folder / "b.svg").write_bytes(b"<svg>" + b" " * 100 + b"</svg>")
    parser = parse(write_report_page(store, {}, ["a", "b", "gone"]).read_text(encoding="utf-8"))
    sources = [attrs["src"] or "" for attrs in parser.all("img")]
    assert [s.split(";")[0] for s in sources] == ["data:image/svg+xml", "data:image/png"]
    assert "missing from the run" in "".join(parser.text)


def test_figures_are_shown_at_their_printed_size_scaled(tmp_path):
    """A 2 × 1 inch figure is 192 × 96 CSS pixels printed, read from its SVG or, alone, its PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1])
    figures.save_figure(fig, tmp_path, "both", formats=("png", "svg"), dpi=50)
    figures.save_figure(fig, tmp_path, "png-only", formats=("png",), dpi=50)
    assert figure_size(tmp_path, "both") == figure_size(tmp_path, "png-only") == (192, 96)
    assert figure_size(tmp_path, "missing") is None


def test_the_page_is_rewritten_when_the_run_moves_on(report_run):
    store, tables, drawn, page = report_run
    store.update_manifest(status="finished")
    write_report_page(store, tables, drawn)  # no --force needed: the page is only a view
    assert "status finished" in page.read_text(encoding="utf-8")
    assert not list(store.root.glob(".report.html.*"))  # no temporary file left


def test_a_provenance_record_is_shown_when_the_run_has_one(report_run):
    store, tables, drawn, page = report_run
    raw = (store.root / "run.json").read_text(encoding="utf-8")
    (store.root / "run.json").write_text(raw.replace("{", '{"provenance": {"git": "<abc>", "python": "3.11"},', 1))
    text = "".join(parse(write_report_page(store, tables, drawn).read_text(encoding="utf-8")).text)
    assert "Provenance" in text and "<abc>" in text and "python3.11" in text


# --- in a real browser ---------------------------------------------------------------------

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_or_skip():
    """Playwright's sync API driving Debian's Chromium; without them, skip, unless
    FOURIER_MASKS_REQUIRE_BROWSER=1 (CI installs both) makes that a failure."""
    required = os.environ.get("FOURIER_MASKS_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "Python Playwright is not installed (pip install playwright)"
    else:
        if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
            return sync_playwright
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    if required:
        pytest.fail(f"FOURIER_MASKS_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def open_in_browser(page_file: Path, screenshot: Path, *, viewport_screenshot: Path | None = None) -> dict:
    """Open ``page_file`` in headless Chromium, wait for it to load, and return what it shows:
    the images (loaded, their natural width), the requests it made, its size; save a
    full-page screenshot."""
    sync_playwright = _browser_or_skip()
    url = page_file.resolve().as_uri()
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            page = context.new_page()

            def record(route):
                requests.append(route.request.url)
                if route.request.url == url or route.request.url.startswith("data:"):
                    route.continue_()
                else:
                    route.abort()

            page.route("**/*", record)
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url, wait_until="load")
            shown = page.evaluate(
                """() => ({
                    images: Array.from(document.images).map(i => ({
                        complete: i.complete, width: i.naturalWidth, shown: i.getBoundingClientRect().width,
                        kind: i.src.slice(0, 20)})),
                    svgs: Array.from(document.querySelectorAll('svg')).map(s => s.getBoundingClientRect().width),
                    height: document.documentElement.scrollHeight,
                    tables: document.querySelectorAll('table').length,
                    scripts: Array.from(document.scripts).map(s => s.src),
                })"""
            )
            if viewport_screenshot is not None:
                page.screenshot(path=str(viewport_screenshot))
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    shown["requests"] = sorted({r for r in requests if not r.startswith("data:")})
    return shown


@pytest.mark.slow
def test_the_page_opens_in_a_headless_browser(report_run, screenshots):
    store, tables, drawn, page = report_run
    shown = open_in_browser(page, screenshots / "report-html.png")
    assert len(shown["images"]) == len(drawn)
    for image in shown["images"]:
        assert image["complete"] and image["width"] > 0 and image["shown"] > 0, image
    assert all(width > 0 for width in shown["svgs"])
    assert shown["requests"] == [page.resolve().as_uri()]  # only the page itself
    assert shown["tables"] == len(tables) and shown["scripts"] == [""]
    assert (screenshots / "report-html.png").stat().st_size > 1000


if __name__ == "__main__":
    # A screenshot of a real report page, for people: `python tests/test_report_html.py
    # RUN/report.html OUT.png` (the top of the page, 1200×900; the full page beside it).
    import sys

    page_file, out = Path(sys.argv[1]), Path(sys.argv[2])
    shown = open_in_browser(page_file, out.with_name(f"{out.stem}-full.png"), viewport_screenshot=out)
    loaded = sum(image["complete"] and image["width"] > 0 for image in shown["images"])
    print(
        f"{page_file}: {loaded}/{len(shown['images'])} figures loaded, {shown['tables']} tables, requests {shown['requests']}"
    )
