"""What every panel shares: it displays as its widget, and runs long work on one background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

__all__ = ["Panel"]


class Panel:
    """Base of the panels: ``widget`` is what shows; :meth:`_background` keeps the kernel free."""

    widget: widgets.Widget
    _thread: threading.Thread | None = None

    def _repr_mimebundle_(self, **kw: Any) -> Any:
        return self.widget._repr_mimebundle_(**kw)

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _background(self, target: Callable[..., Any], *args: Any, wait: bool = False) -> None:
        """Run ``target(*args)`` on a daemon thread (``wait=True`` blocks: for scripts and tests)."""
        self._thread = threading.Thread(target=target, args=args, daemon=True)
        self._thread.start()
        if wait:
            self.wait()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running work (if any) ends."""
        if self._thread is not None:
            self._thread.join(timeout)
