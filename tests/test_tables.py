"""Tables as a notebook, pandas and a paper see them: HTML for Jupyter, a DataFrame, booktabs LaTeX.

User text (class, model and image names, titles, notes) is hostile until escaped: it must read as
itself, never become markup, a script or a LaTeX command."""

from __future__ import annotations

import html
import math
import re
import sys

import pytest

from fourier_masks.core import ConfigError, Table

HOSTILE = "<script>alert('x')</script> & \"q\" $x^2$ 50% #1 a_b {c} ~d \\e"


def _accuracy_table() -> Table:
    table = Table.build(
        "accuracy",
        "Masked accuracy of model N",
        [("model", ""), ("masked accuracy", "%"), ("images", "count")],
        notes="Measured on the held-out half.",
    )
    table.add_row("N", 93.456, 128)
    table.add_row("A", -1.5, 64)
    return table


def _hostile_table() -> Table:
    table = Table.build("hostile", f"Title {HOSTILE}", [(f"name {HOSTILE}", "%&"), ("value", "")], notes=HOSTILE)
    table.add_row(HOSTILE, 0.125)
    table.add_row("line\nbreak\x1b[31m", 2.0)
    return table


def test_html_escapes_every_user_text_and_keeps_its_meaning():
    markup = _hostile_table()._repr_html_()
    assert "<script>" not in markup and "<script" not in markup.replace("&lt;script", "")
    # The only tags are ours.
    tags = set(re.findall(r"</?([a-z]+)", markup))
    assert tags <= {"div", "table", "caption", "thead", "tbody", "tr", "th", "td", "p", "small", "br"}
    # Unescaped, each cell reads exactly as the user wrote it.
    cells = [html.unescape(c) for c in re.findall(r"<td(?: [^>]*)?>(.*?)</td>", markup)]
    assert cells[0] == HOSTILE and cells[1] == "0.12"  # floats as to_text writes them
    assert cells[2] == "line\\nbreak\\x1b[31m"  # control characters shown, not obeyed
    headers = [html.unescape(h) for h in re.findall(r"<th(?: [^>]*)?>(.*?)</th>", markup)]
    assert headers == [f"name {HOSTILE} [%&]", "value"]
    assert html.unescape(re.search(r"<caption[^>]*>(.*?)</caption>", markup).group(1)) == f"Title {HOSTILE}"
    assert "mathjax_ignore" in markup  # "$x^2$" is a name, not maths


def test_html_shows_title_units_rows_and_notes():
    markup = _accuracy_table()._repr_html_()
    for text in ("Masked accuracy of model N", "masked accuracy [%]", "images [count]", "93.46", "-1.50", "128"):
        assert text in markup
    assert "Measured on the held-out half." in markup


def test_latex_escapes_every_special_character():
    latex = _hostile_table().to_latex()
    expected = (
        r"\textless{}script\textgreater{}alert('x')\textless{}/script\textgreater{} \& "
        '"q" '
        r"\$x\textasciicircum{}2\$ 50\% \#1 a\_b \{c\} \textasciitilde{}d \textbackslash{}e"
    )
    assert rf"\caption{{Title {expected}}}" in latex
    assert rf"{expected} & 0.12 \\" in latex
    assert rf"name {expected} [\%\&] & value \\" in latex
    assert r"line\textbackslash{}nbreak\textbackslash{}x1b[31m & 2.00 \\" in latex
    # Outside our own commands, no user character is left that LaTeX would act on.
    body = latex.replace(expected, "").replace(r"\textbackslash{}", "")
    for command in re.findall(r"\\[a-zA-Z]+", body):
        assert command in {
            r"\begin", r"\end", r"\centering", r"\caption", r"\toprule", r"\midrule", r"\bottomrule",
            r"\par", r"\smallskip", r"\footnotesize",
        }  # fmt: skip


def test_latex_of_a_known_table_is_exact():
    assert _accuracy_table().to_latex() == (
        "\\begin{table}\n"
        "\\centering\n"
        "\\caption{Masked accuracy of model N}\n"
        "\\begin{tabular}{lrr}\n"
        "\\toprule\n"
        "model & masked accuracy [\\%] & images [count] \\\\\n"
        "\\midrule\n"
        "N & 93.46 & 128 \\\\\n"
        "A & $-$1.50 & 64 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
        "\\par\\smallskip{\\footnotesize Measured on the held-out half.\\par}\n"
        "\\end{table}\n"
    )
    bare = _accuracy_table().to_latex(digits=1, float_env=False)
    assert bare.startswith("\\begin{tabular}{lrr}\n") and bare.endswith("\\end{tabular}\n")
    assert "N & 93.5 & 128 \\\\" in bare


def test_to_pandas_round_trips_values_with_unit_headers_and_title():
    pytest.importorskip("pandas")
    table = _hostile_table()
    table.add_row("nan", math.nan)
    frame = table.to_pandas()
    assert list(frame.columns) == table.headers()
    assert frame.attrs["title"] == table.title and frame.attrs["notes"] == table.notes
    assert frame.attrs["name"] == "hostile"
    values = frame.values.tolist()
    assert values[:2] == table.rows[:2]  # exact: floats are not rounded, names not escaped
    assert values[2][0] == "nan" and math.isnan(values[2][1])
    assert frame["value"].dtype.kind == "f"
    assert frame[table.headers()[0]].tolist()[0] == HOSTILE


def test_to_pandas_without_pandas_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # importing it now fails
    with pytest.raises(ConfigError, match="pip install pandas"):
        _accuracy_table().to_pandas()


def test_empty_and_none_cells_render():
    table = Table.build("t", "Empty", [("a", ""), ("b", "s")])
    assert "<tbody></tbody>" in table._repr_html_()
    assert "\\begin{tabular}{ll}" in table.to_latex()
    table.add_row(None, 1.0)
    assert "<td></td>" in table._repr_html_() and "\n & 1.00 \\\\\n" in table.to_latex()  # None: empty, as in the CSV
    assert table.to_text().splitlines()[-1].split() == ["1.00"] and "None" not in table.to_text()


def test_ipython_plain_text_display_is_to_text():
    pretty = pytest.importorskip("IPython.lib.pretty")
    table = _accuracy_table()
    assert pretty.pretty(table) == table.to_text()
