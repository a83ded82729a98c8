"""Result tables with units, exportable as CSV.

A :class:`Table` is a list of rows under named columns, each column with a unit. CSV headers
read ``name [unit]`` (e.g. ``masked accuracy [%]``); a column without a unit (a model name)
has a bare header. The same object feeds the CLI's printed tables, the app's table views and
the CSV files in the results store.

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
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _printable(str(value))


def _printable(text: str) -> str:
    """``text`` with control characters (newlines, escape codes) written as ``\\n``, ``\\x1b``."""
    return "".join(repr(ch)[1:-1] if unicodedata.category(ch) == "Cc" else ch for ch in text)


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
