"""What every panel shares: it displays as its widget, and runs long work on one background thread."""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

__all__ = ["Panel", "panel_box"]

# ipywidgets' HTML output is a flex item that never shrinks below its content, so a wide table pushed the panel
# past the notebook's edge and was clipped. Allowed to shrink, it leaves the table's own box (the kit's table
# renderer, ``nxs_lab._html``) as wide as the panel, and that box scrolls sideways.
# Its line height is also a form row's (28 px), which spreads a paragraph or a table row far apart.
_FIT = (
    "<style>.nxs-panel .widget-html, .nxs-panel .widget-html-content { min-width: 0; max-width: 100%; }"
    " .nxs-panel .widget-html-content { line-height: 1.4; }</style>"
)


def panel_box(children: list[widgets.Widget], css_class: str) -> widgets.VBox:
    """A panel's outer box: its children, classed ``nxs-panel`` and ``css_class``, with wide tables that scroll."""
    box = widgets.VBox([widgets.HTML(_FIT), *children])
    box.add_class("nxs-panel")
    box.add_class(css_class)
    return box


class Panel:
    """Base of the panels: ``widget`` is what shows; ``status`` is its one status line, where every panel says
    what it is doing and shows any error; :meth:`_background` keeps the kernel free."""

    widget: widgets.Widget
    status: widgets.HTML
    _thread: threading.Thread | None = None
    error: BaseException | None = None

    def _repr_mimebundle_(self, **kw: Any) -> Any:
        return self.widget._repr_mimebundle_(**kw)

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _background(self, target: Callable[..., Any], *args: Any, wait: bool = False) -> None:
        """Run ``target(*args)`` on a daemon thread (``wait=True`` blocks: for scripts and tests).

        Targets handle the errors they expect. Anything else still ends the work visibly: it is kept in
        ``error``, logged with its traceback, and shown by :meth:`_unexpected`, so a panel never stays busy.
        """

        def run() -> None:
            try:
                target(*args)
            except Exception as exc:  # kept, logged and shown: the thread must not die silently
                self.error = exc
                logging.getLogger("nxs_lab.ui").exception("%s: background work failed", type(self).__name__)
                self._unexpected(exc)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if wait:
            self.wait()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running work (if any) ends."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _say_error(self, text: str) -> None:
        """An error on the status line, in red."""
        self.status.value = f"<span style='color:#b00020'>{html.escape(text)}</span>"

    def _unexpected(self, exc: Exception) -> None:
        """Show an error the work did not expect on the panel's status line."""
        self._say_error(f"failed: {type(exc).__name__}: {str(exc)[:300]}")
