"""Result tables with units, exportable as CSV.

A :class:`Table` is a list of rows under named columns, each column with a unit. CSV headers
read ``name [unit]`` (e.g. ``masked accuracy [%]``); a column without a unit (a model name)
has a bare header. The same object feeds the CLI's printed tables, the app's table views and
the CSV files in the results store. It shows itself in Jupyter (HTML) and LaTeX (booktabs),
escaping every user text so that it reads as written and never becomes markup, and converts
to a pandas DataFrame.

Text from users (class, model and image names) is written as it is: CSV and JSON quote it, so
commas, quotes and newlines round-trip exactly. A cell starting with ``=``, ``+``, ``-`` or
``@`` is not neutralised against spreadsheet formulas: these files are data for analysis code
(pandas, R) and a prefix would change a class named ``-1`` or ``+90°`` for every reader, while
the text comes from the user's own folders and files. The terminal rendering
(:meth:`Table.to_text`) shows control characters as escapes, so a name cannot move the cursor
or break a row.
"""

from __future__ import annotations

import csv
import html
import importlib
import io
import numbers
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError

__all__ = ["Column", "Table"]


@dataclass(frozen=True)
class Column:
    name: str
    unit: str = ""

    @property
    def header(self) -> str:
        return f"{self.name} [{self.unit}]" if self.unit else self.name


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    notes: str = ""

    def add_row(self, *values: Any) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"{self.name}: row has {len(values)} values for {len(self.columns)} columns")
        self.rows.append(list(values))

    def column(self, name: str) -> list[Any]:
        index = [c.name for c in self.columns].index(name)
        return [row[index] for row in self.rows]

    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.headers())
        for row in self.rows:
            writer.writerow([_csv_value(v) for v in row])
        return buffer.getvalue()

    def to_text(self, digits: int = 2) -> str:
        """A plain-text rendering for terminals and logs."""
        cells = [[_printable(h) for h in self.headers()]] + [[_text_value(v, digits) for v in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        lines = [_printable(self.title), ""]
        for k, row in enumerate(cells):
            lines.append(
                "  ".join(c.rjust(w) if k and _numeric(c) else c.ljust(w) for c, w in zip(row, widths)).rstrip()
            )
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        if self.notes:
            lines += ["", self.notes]
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text display (a terminal, a notebook saved as text): :meth:`to_text`."""
        printer.text(self.to_text())

    def _repr_html_(self) -> str:
        """The table as Jupyter shows it: title, ``name [unit]`` headers, rows, notes."""
        return self.to_html()

    def to_html(self, digits: int = 2) -> str:
        """An HTML table (floats as :meth:`to_text` writes them, None empty as in the CSV); every
        text HTML-escaped and kept from MathJax, so a class named ``$x$`` or ``<b>`` reads as it is."""
        numeric = self._numeric_columns()
        right = ' style="text-align:right"'
        head = "".join(f"<th{right if n else ''}>{_html(h)}</th>" for h, n in zip(self.headers(), numeric))
        body = "".join(
            "<tr>"
            + "".join(f"<td{right if n else ''}>{_html(_cell_text(v, digits))}</td>" for v, n in zip(row, numeric))
            + "</tr>"
            for row in self.rows
        )
        caption = f'<caption style="caption-side:top;text-align:left;font-weight:bold">{_html(self.title)}</caption>'
        markup = (
            f'<table class="fourier-masks-table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
        )
        if self.notes:
            markup += "<p><small>" + "<br>".join(_html(line) for line in self.notes.split("\n")) + "</small></p>"
        return f'<div class="tex2jax_ignore mathjax_ignore">{markup}</div>'  # "$" is text, not maths

    def to_pandas(self) -> Any:
        """A :class:`pandas.DataFrame` with the CSV's ``name [unit]`` column names; the title,
        name and notes in ``df.attrs``. Needs pandas (not a dependency of the engine)."""
        try:
            pd = importlib.import_module("pandas")
        except ImportError:
            raise ConfigError(
                f"table {self.name!r}: to_pandas() needs pandas, which is not installed; "
                "install it with: pip install pandas"
            ) from None
        frame = pd.DataFrame([list(row) for row in self.rows], columns=self.headers())
        frame.attrs.update(name=self.name, title=self.title, notes=self.notes)
        return frame

    def to_latex(self, digits: int = 2, *, float_env: bool = True) -> str:
        """A booktabs table for papers (``\\usepackage{booktabs}``), LaTeX's special characters
        escaped in every text. ``float_env``: inside a ``table`` with the title as caption and
        the notes below; False gives the bare ``tabular`` to place yourself."""
        numeric = self._numeric_columns()
        spec = "".join("r" if n else "l" for n in numeric)
        lines = [
            f"\\begin{{tabular}}{{{spec}}}",
            "\\toprule",
            " & ".join(_latex(h) for h in self.headers()) + " \\\\",
            "\\midrule",
        ]
        lines += [" & ".join(_latex_value(v, digits) for v in row) + " \\\\" for row in self.rows]
        lines += ["\\bottomrule", "\\end{tabular}"]
        if not float_env:
            return "\n".join(lines) + "\n"
        head = ["\\begin{table}", "\\centering", f"\\caption{{{_latex(self.title)}}}"]
        notes = " \\newline ".join(_latex(line) for line in self.notes.split("\n"))
        tail = [f"\\par\\smallskip{{\\footnotesize {notes}\\par}}"] if self.notes else []
        return "\n".join(head + lines + tail + ["\\end{table}"]) + "\n"

    def _numeric_columns(self) -> list[bool]:
        """Per column: right-aligned, its cells all numbers (and at least one)."""
        columns = [[row[i] for row in self.rows if row[i] is not None] for i in range(len(self.columns))]
        return [bool(cells) and all(_is_number(v) for v in cells) for cells in columns]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "columns": [{"name": c.name, "unit": c.unit} for c in self.columns],
            "rows": self.rows,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Table:
        return cls(
            name=data["name"],
            title=data.get("title", data["name"]),
            columns=[Column(c["name"], c.get("unit", "")) for c in data["columns"]],
            rows=[list(r) for r in data.get("rows", [])],
            notes=data.get("notes", ""),
        )

    @classmethod
    def build(cls, name: str, title: str, columns: Sequence[tuple[str, str]], notes: str = "") -> Table:
        return cls(name=name, title=title, columns=[Column(n, u) for n, u in columns], notes=notes)


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def _text_value(value: Any, digits: int) -> str:
    if value is None:  # not measured (a curve that never halves): an empty cell, as in the CSV
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _printable(str(value))


def _cell_text(value: Any, digits: int) -> str:
    """A cell as HTML and LaTeX show it: as :meth:`Table.to_text`, but None empty (as in the CSV)."""
    return "" if value is None else _text_value(value, digits)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _html(text: str) -> str:
    return html.escape(_printable(text), quote=True)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_LATEX_TABLE = str.maketrans(_LATEX_SPECIAL)


def _latex(text: str) -> str:
    """``text`` as LaTeX prints it literally (control characters as :func:`_printable` writes them)."""
    return _printable(text).translate(_LATEX_TABLE)


def _latex_value(value: Any, digits: int) -> str:
    if _is_number(value):
        text = _text_value(value, digits)
        return "$-$" + text[1:] if text.startswith("-") else text  # a minus sign, not a hyphen
    return _latex(_cell_text(value, digits))


def _printable(text: str) -> str:
    """``text`` with control characters (newlines, escape codes) written as ``\\n``, ``\\x1b``."""
    return "".join(repr(ch)[1:-1] if unicodedata.category(ch) == "Cc" else ch for ch in text)


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
