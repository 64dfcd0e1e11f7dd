"""Aligned text tables for people: a column as wide as its widest cell, up to a bound.

The widths are measured on every row first, then the rows printed: a caller whose rows are many
(a suppression file) measures them in a first pass and prints them in a second, holding none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

EMPTY = "-"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    limit: int = 60  # a longer cell is cut, with "…": a diagnostic must not push the row off the screen
    right: bool = False  # numbers


@dataclass
class Table:
    columns: Sequence[Column]
    widths: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.widths = [len(column.title) for column in self.columns]

    def measure(self, row: dict[str, object]) -> None:
        for index, column in enumerate(self.columns):
            self.widths[index] = max(self.widths[index], min(len(cell(row.get(column.key))), column.limit))

    def measure_all(self, rows: Iterable[dict[str, object]]) -> None:
        for row in rows:
            self.measure(row)

    def header(self) -> str:
        return self._line([column.title for column in self.columns])

    def line(self, row: dict[str, object]) -> str:
        texts = []
        for column in self.columns:
            text = cell(row.get(column.key))
            texts.append(text if len(text) <= column.limit else text[: column.limit - 1] + "…")
        return self._line(texts)

    def _line(self, texts: Sequence[str]) -> str:
        padded = [
            text.rjust(width) if column.right else text.ljust(width)
            for text, width, column in zip(texts, self.widths, self.columns, strict=True)
        ]
        return "  ".join(padded).rstrip()


def cell(value: object) -> str:
    if value is None or value == "":
        return EMPTY
    return " ".join(str(value).split())  # a line break in a value must not break the row


def render(columns: Sequence[Column], rows: Sequence[dict[str, object]]) -> list[str]:
    """A whole table (header first) of rows already in memory."""
    table = Table(columns)
    table.measure_all(rows)
    return [table.header(), *(table.line(row) for row in rows)]
