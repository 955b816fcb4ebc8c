"""Tiny HTML renderers shared by result objects, so each renders as a table in a notebook."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["kv_table", "rows_table"]

_STYLE = "border-collapse:collapse;font-family:var(--jp-code-font-family,monospace);font-size:12px"
_CELL = "border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    if len(text) > 400:
        text = text[:400] + "…"
    return html.escape(text).replace("\n", "<br>")


def kv_table(title: str, items: Mapping[str, Any]) -> str:
    """A two-column table: one row per key."""
    rows = "".join(
        f"<tr><th style='{_CELL}'>{html.escape(k)}</th><td style='{_CELL}'>{_fmt(v)}</td></tr>"
        for k, v in items.items()
    )
    return (
        f"<table style='{_STYLE}'><caption style='text-align:left'><b>{html.escape(title)}</b></caption>{rows}</table>"
    )


def rows_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A table with a header row."""
    head = "".join(f"<th style='{_CELL}'>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td style='{_CELL}'>{_fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    return (
        f"<table style='{_STYLE}'><caption style='text-align:left'><b>{html.escape(title)}</b></caption>"
        f"<tr>{head}</tr>{body}</table>"
    )
