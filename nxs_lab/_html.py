"""The kit's one table renderer: every result object's ``_repr_html_`` and every panel's table come from here.

A table sits in a box that scrolls sideways when it is wider than its cell or panel (ipywidgets' HTML output
clips instead), numbers are right-aligned in tabular figures (units are in the column names: ``ms``,
``tok/s``, ``GB``), and long text wraps.

    >>> rows_table("t", ["model", "tok/s"], [["a", 41.5]]).count("text-align:right")
    1
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["Table", "kv_table", "rows_table"]

# The scrolling box: as wide as its container, a scrollbar when the table is wider.
_BOX = "overflow-x:auto;max-width:100%"
_WIDE_BOX = "overflow-x:scroll;max-width:100%;padding-bottom:4px"  # the scrollbar shows before anyone scrolls
_STYLE = "border-collapse:collapse;font-family:var(--jp-code-font-family,monospace);font-size:12px;line-height:1.35"
_CELL = "border:1px solid #ccc;padding:2px 6px;vertical-align:top"
_TEXT = f"{_CELL};text-align:left"
_SHORT = f"{_TEXT};white-space:nowrap"  # names, URLs, kinds: one line each; longer text wraps
_SHORT_CHARS = 48
_NUMBER = f"{_CELL};text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    if len(text) > 400:
        text = text[:400] + "…"
    return html.escape(text).replace("\n", "<br>")


def _style(value: Any) -> str:
    if _is_number(value):
        return _NUMBER
    return _SHORT if value is None or len(str(value)) <= _SHORT_CHARS else _TEXT


def _one_line(style: str) -> str:
    return style if "white-space:nowrap" in style else f"{style};white-space:nowrap"


def _td(value: Any) -> str:
    style = _style(value)
    return f"<td style='{style}'>{_fmt(value)}</td>"


def _boxed(title: str, inner: str, box: str = _BOX) -> str:
    caption = f"<caption style='text-align:left'><b>{html.escape(title)}</b></caption>"
    return f"<div class='nxs-table' style='{box}'><table style='{_STYLE}'>{caption}{inner}</table></div>"


def kv_table(title: str, items: Mapping[str, Any]) -> str:
    """A two-column table: one row per key."""
    rows = "".join(f"<tr><th style='{_SHORT}'>{html.escape(k)}</th>{_td(v)}</tr>" for k, v in items.items())
    return _boxed(title, rows)


def rows_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, notes: Iterable[str] = (), wide: bool = False
) -> str:
    """A table with a header row. ``notes``: lines shown under the table (long text that would make every row
    tall). ``wide``: a table of many figures: every cell on one line, and the sideways scrollbar always shown."""
    cell = (lambda v: f"<td style='{_one_line(_style(v))}'>{_fmt(v)}</td>") if wide else _td
    head = "".join(f"<th style='{_SHORT}'>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    table = _boxed(title, f"<tr>{head}</tr>{body}", box=_WIDE_BOX if wide else _BOX)
    below = "".join(f"<div style='font-size:12px;color:#444'>{html.escape(n)}</div>" for n in notes)
    return table + below


class Table:
    """Rows (dicts with the same keys) that show as the kit's table in a notebook (one line per row with
    ``wide``), and become a DataFrame on request: what a runbook shows instead of a plain pandas table."""

    def __init__(
        self, title: str, rows: Sequence[Mapping[str, Any]], *, notes: Sequence[str] = (), wide: bool = False
    ) -> None:
        self.title, self.rows, self.notes, self.wide = title, [dict(r) for r in rows], list(notes), wide

    def __len__(self) -> int:
        return len(self.rows)

    def to_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows)

    def _repr_html_(self) -> str:
        columns = list(self.rows[0]) if self.rows else []
        return rows_table(self.title, columns, [list(r.values()) for r in self.rows], notes=self.notes, wide=self.wide)
