"""``report.html``: the whole report of a run on one page that opens offline in any browser.

One self-contained file beside ``run.json``: the findings, Tables 1–3, the other tables
(folded), every figure the report drew and what the run was made from. Figures go in as
``data:`` URIs inside ``<img>`` elements rather than inline ``<svg>``: matplotlib's SVG
element ids (clip paths, markers) repeat across figures, and in one document a ``url(#id)``
would find another figure's definition; an image is its own document, so its ids cannot
collide and its text can run nothing. Each figure is the smaller of its stored SVG and PNG
(line plots are small as SVG, image grids as PNG), so the page stays a few MB. Every piece
of text from the run (class, model and file names, settings) is HTML-escaped; the page
loads nothing: no links to fetch, no fonts, one small inline style sheet and a line of
script that unfolds the tables before printing.
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from ..files import atomic_write_text
from ..runs.store import ResultsStore
from ..tables import Table
from .findings import AGREES, DISAGREES, INCONCLUSIVE

PAGE_NAME = "report.html"

# Tables shown open, in this order (the paper's); the others are folded under them.
MAIN_TABLES = ("table1", "table2", "table3")

# What each standard figure shows, by name (the longest matching prefix wins; a figure
# named after a table, the per-image comparisons, takes that table's title).
FIGURE_CAPTIONS = {
    "set-masks": "Dataset masks: each model's one mask for the whole data set (bright: frequency kept).",
    "partitions": "The radial and angular bands the energies are measured in, over the reference dataset mask.",
    "set-mask-differences": "Differences between each model's dataset mask and the reference's (centred spectrum).",
    "energy-differences": "Per-band energy of each dataset mask minus the reference's, radial and angular.",
    "set-mask-convergence-": "How the dataset mask's learning converged, epoch by epoch",
    "exceedance-": "Per band, the share of images whose second mask holds more energy",
    "single-image-examples-": "Single-image masks: images, their masks and the images filtered by them",
    "class-and-image-masks-": "Class masks beside single-image masks of the same classes",
    "umap-probe-permuted-": "The control: UMAP of the linear probe's outputs for permuted labels (no class structure should survive)",
    "umap-probe-": "UMAP of the out-of-fold linear-probe outputs, coloured by predicted class",
    "umap-masks-": "UMAP of the single-image masks themselves, coloured by predicted class",
}

_STYLE = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: #1d1d1f; background: #fff; max-width: 1100px; margin: 0 auto; padding: 1.5em 1.2em 3em; }
h1 { font-size: 1.6em; margin: 0 0 .2em; }
h2 { font-size: 1.25em; margin: 2em 0 .6em; padding-bottom: .2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin: 1.4em 0 .4em; }
.sub { color: #555; margin: 0; overflow-wrap: anywhere; }
nav { margin: 1em 0; font-size: .95em; }
nav a { margin-right: 1em; }
a { color: #0b5cad; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85em; margin: .3em 0 .4em; }
th, td { border: 1px solid #d0d0d0; padding: .25em .5em; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.unit { font-weight: normal; color: #666; }
.notes { color: #444; font-size: .85em; margin: .2em 0 1em; max-width: 60em; }
.agrees { background: #e3f4e1; }
.disagrees { background: #fbe3e1; }
.inconclusive { background: #f4f1e1; }
details { margin: .4em 0; }
summary { cursor: pointer; font-weight: 600; }
summary .count { font-weight: normal; color: #666; }
figure { margin: 1.5em 0; break-inside: avoid; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #333; margin-top: .4em; }
dl.settings { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1em; font-size: .85em; }
dl.settings dt { font-weight: 600; }
dl.settings dd { margin: 0; overflow-wrap: anywhere; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.empty { color: #666; font-style: italic; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  nav, summary .hint { display: none; }
  h2 { break-after: avoid; }
  table, figure { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""

# Folded tables are unfolded for printing (a closed <details> would print as one line).
_PRINT_SCRIPT = (
    "window.addEventListener('beforeprint',function(){"
    "document.querySelectorAll('details').forEach(function(d){d.open=true;});});"
)


def write_report_page(store: ResultsStore, tables: Mapping[str, Table], figures: Sequence[str]) -> Path:
    """Write ``report.html`` into the run folder from ``tables`` (by name) and the stored files
    of ``figures`` (names under ``figures/``); returns its path.

    Written whole or not at all, and replaced freely: the page is only a view of the tables,
    figures and run.json, which the store already guards against silent replacement, and a
    run.json that moved on (a later session's record) must not need ``--force``."""
    store.check_writable()
    path = store.root / PAGE_NAME
    atomic_write_text(path, report_page(store, tables, figures))
    return path


def report_page(store: ResultsStore, tables: Mapping[str, Table], figures: Sequence[str]) -> str:
    """The page's HTML (see :func:`write_report_page`)."""
    run = _run_record(store)
    sections = [
        ("findings", "Findings", _findings_section(tables)),
        ("tables", "Tables 1–3", _main_tables_section(tables)),
        ("more-tables", "Other tables", _other_tables_section(tables)),
        ("figures", "Figures", _figures_section(store, figures, tables)),
        ("run", "Run", _run_section(run)),
    ]
    nav = " ".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in sections)
    body = "\n".join(
        f'<section id="{key}">\n<h2>{escape(title)}</h2>\n{html}\n</section>' for key, title, html in sections
    )
    folder = store.root.resolve()
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # Nothing on the page may be fetched: images are data: URIs, styles inline.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
        f"<title>Fourier Masks report: {escape(folder.name)}</title>\n"
        f"<style>{_STYLE}</style>\n<script>{_PRINT_SCRIPT}</script>\n</head>\n<body>\n"
        "<header>\n<h1>Fourier Masks report</h1>\n"
        f'<p class="sub">Run folder: {escape(str(folder))}</p>\n'
        f'<p class="sub">{escape(_run_line(run))}</p>\n'
        f"<nav>{nav}</nav>\n</header>\n{body}\n</body>\n</html>\n"
    )


# --- tables --------------------------------------------------------------------------------


def table_html(table: Table, *, verdicts: bool = False) -> str:
    """A :class:`Table` as an HTML table: the title as its caption, units under the column
    names, numbers right-aligned, the notes below. ``verdicts``: shade the ``verdict`` cells."""
    head = "".join(
        f"<th>{escape(c.name)}" + (f' <span class="unit">[{escape(c.unit)}]</span>' if c.unit else "") + "</th>"
        for c in table.columns
    )
    verdict = [c.name for c in table.columns].index("verdict") if verdicts and table.columns else -1
    rows = []
    for row in table.rows:
        cells = []
        for k, value in enumerate(row):
            text, numeric = _cell(value)
            classes = ["num"] if numeric else []
            if k == verdict and value in (AGREES, DISAGREES, INCONCLUSIVE):
                classes.append(str(value))
            attribute = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{attribute}>{escape(text)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    body = "\n".join(rows) if rows else f'<tr><td colspan="{len(table.columns)}" class="empty">no rows</td></tr>'
    notes = f'<p class="notes">{escape(table.notes)}</p>' if table.notes else ""
    return (
        f'<div class="scroll"><table id="table-{escape(table.name)}">\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>\n{notes}"
    )


def _cell(value: Any) -> tuple[str, bool]:
    """A cell's text (numbers as the terminal shows them, to a few significant digits) and
    whether it is a number."""
    if isinstance(value, bool) or value is None:
        return ("" if value is None else str(value)), False
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value), True
        return (f"{value:.2f}" if 0.01 <= abs(value) < 1e5 or value == 0 else f"{value:.3g}"), True
    return str(value), False


def _titled(table: Table, verdicts: bool = False) -> str:
    return f"<h3>{escape(table.title)}</h3>\n{table_html(table, verdicts=verdicts)}"


def _findings_section(tables: Mapping[str, Table]) -> str:
    findings = tables.get("findings")
    if findings is None:
        return '<p class="empty">This report judged no findings (the run holds none of the tables they need).</p>'
    return _titled(findings, verdicts=True)


def _main_tables_section(tables: Mapping[str, Table]) -> str:
    shown = [_titled(tables[name]) for name in MAIN_TABLES if name in tables]
    return "\n".join(shown) if shown else '<p class="empty">The run holds none of Tables 1–3.</p>'


def _other_tables_section(tables: Mapping[str, Table]) -> str:
    others = [t for name, t in tables.items() if name not in MAIN_TABLES and name != "findings"]
    if not others:
        return '<p class="empty">No other tables.</p>'
    return "\n".join(
        f'<details id="details-{escape(t.name)}"><summary>{escape(t.title)} '
        f'<span class="count">({len(t.rows)} row{"" if len(t.rows) == 1 else "s"}; tables/{escape(t.name)}.csv)'
        f"</span></summary>\n{table_html(t)}</details>"
        for t in others
    )


# --- figures -------------------------------------------------------------------------------


def figure_caption(name: str, tables: Mapping[str, Table]) -> str:
    """What the figure ``name`` shows: the matching table's title for a per-image comparison,
    the standard caption otherwise (with the model its name ends in), or its name."""
    if name in tables and name.startswith("exceedance-"):
        return tables[name].title + "."
    for prefix in sorted(FIGURE_CAPTIONS, key=len, reverse=True):
        if name == prefix or (prefix.endswith("-") and name.startswith(prefix)):
            caption = FIGURE_CAPTIONS[prefix]
            rest = name[len(prefix) :]
            return f"{caption} (model {rest})." if rest and prefix != "exceedance-" else caption
    return name


def figure_uri(folder: Path, name: str) -> str | None:
    """The stored figure as a ``data:`` URI: the smaller of its SVG and PNG; None when
    neither file is there."""
    choices = []
    for suffix, mime in (("svg", "image/svg+xml"), ("png", "image/png")):
        path = folder / f"{name}.{suffix}"
        if path.is_file():
            choices.append((path.stat().st_size, mime, path))
    if not choices:
        return None
    _, mime, path = min(choices)
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


# Figures are shown at this multiple of their printed size (matplotlib's 7–8 pt text is small
# on a screen at 1:1), never wider than the page.
DISPLAY_SCALE = 1.5
_SVG_SIZE = re.compile(rb'<svg[^>]*?\swidth="([0-9.]+)pt"[^>]*?\sheight="([0-9.]+)pt"')


def figure_size(folder: Path, name: str) -> tuple[int, int] | None:
    """The figure's printed size in CSS pixels (96 per inch), from its SVG's ``width`` and
    ``height`` (in pt), else its PNG's pixels and resolution; None when neither tells."""
    svg = folder / f"{name}.svg"
    if svg.is_file():
        with open(svg, "rb") as handle:
            found = _SVG_SIZE.search(handle.read(4096))
        if found:
            return round(float(found[1]) * 96 / 72), round(float(found[2]) * 96 / 72)
    png = folder / f"{name}.png"
    if png.is_file():
        with open(png, "rb") as handle:
            head = handle.read(4096)
        width, height = struct.unpack(">II", head[16:24]) if head[12:16] == b"IHDR" else (0, 0)
        at = head.find(b"pHYs")
        if width and at > 0:
            per_metre, _, unit = struct.unpack(">IIB", head[at + 4 : at + 13])
            if unit == 1 and per_metre:
                inch = per_metre * 0.0254
                return round(width / inch * 96), round(height / inch * 96)
    return None


def _figures_section(store: ResultsStore, figures: Sequence[str], tables: Mapping[str, Table]) -> str:
    if not figures:
        return '<p class="empty">This report drew no figures.</p>'
    folder = store.root / "figures"
    parts = []
    for number, name in enumerate(figures, 1):
        caption = f"<b>Figure {number}.</b> {escape(figure_caption(name, tables))} <i>(figures/{escape(name)})</i>"
        uri = figure_uri(folder, name)
        if uri is None:
            parts.append(
                f'<figure><p class="empty">missing from the run</p><figcaption>{caption}</figcaption></figure>'
            )
            continue
        size = figure_size(folder, name)
        shown = f' width="{round(size[0] * DISPLAY_SCALE)}" height="{round(size[1] * DISPLAY_SCALE)}"' if size else ""
        parts.append(
            f'<figure id="figure-{escape(name)}"><img src="{uri}"{shown} alt="{escape(figure_caption(name, tables))}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    return "\n".join(parts)


# --- the run -------------------------------------------------------------------------------


def _run_record(store: ResultsStore) -> dict[str, Any]:
    """run.json as it is, every field (the store checked it when the run was opened)."""
    try:
        record = json.loads((store.root / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _run_line(run: Mapping[str, Any]) -> str:
    parts = []
    for key, label in (("created", "created"), ("updated", "updated"), ("status", "status")):
        if run.get(key) is not None:
            parts.append(f"{label} {run[key]}")
    data = run.get("data")
    if isinstance(data, dict) and data.get("spec"):
        parts.append(f"data {data['spec']}")
    return " · ".join(parts)


def _run_section(run: Mapping[str, Any]) -> str:
    """What run.json records: the run's summary, its provenance (when recorded), the study's
    settings, the data, then any other field, each as it is stored."""
    if not run:
        return '<p class="empty">run.json could not be read.</p>'
    summary_keys: tuple[str, ...] = ("format", "version", "created", "updated", "status", "seconds")
    summary_keys += ("train_images", "val_images", "single_image_set")
    parts = [_settings({k: run[k] for k in summary_keys if k in run})]
    for key, title in (("provenance", "Provenance"), ("study", "Study settings"), ("data", "Data")):
        if key in run:
            parts.append(f"<h3>{title}</h3>\n{_settings(run[key])}")
    if isinstance(run.get("classes"), list):
        names = run["classes"]
        listing = escape(", ".join(str(n) for n in names))
        parts.append(
            f'<details><summary>Classes <span class="count">({len(names)})</span></summary>'
            f'<p class="notes">{listing}</p></details>'
        )
    rest = {k: v for k, v in run.items() if k not in {*summary_keys, "provenance", "study", "data", "classes"}}
    if rest:
        parts.append(f"<h3>Other records</h3>\n{_settings(rest)}")
    return "\n".join(parts)


def _settings(value: Any) -> str:
    """A JSON value as a list of dotted keys and values."""
    flat = list(_flatten(value, ""))
    if not flat:
        return '<p class="empty">none recorded</p>'
    rows = "".join(f"<dt>{escape(k or '(value)')}</dt><dd>{escape(v)}</dd>" for k, v in flat)
    return f'<dl class="settings">{rows}</dl>'


def _flatten(value: Any, prefix: str):
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        for k, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{k}]")
    elif isinstance(value, str):
        yield prefix, value
    else:
        yield prefix, json.dumps(value, ensure_ascii=False)
