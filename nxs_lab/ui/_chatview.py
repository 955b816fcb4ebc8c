"""The ChatPanel's conversation view and input box: an anywidget with its own small front end
(``static/chatview.js``), because ipywidgets has no Enter-to-send box, no per-message copy button and no way
to repaint one message of many.

Finished messages are one synced list, replaced when a message ends; the message being streamed is a
separate small trait (``live``), so a token sends only that message to the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

__all__ = ["ChatView"]

_STATIC = Path(__file__).with_name("static")


class ChatView(anywidget.AnyWidget):
    """``messages``: dicts with ``role``, ``html`` (the rendered answer), ``text`` (what copy copies),
    ``thinking``, ``meta`` (who answered) and ``mark`` (cut, stopped, interrupted). ``live``: the same for the
    answer being streamed (``html``, ``thinking``). ``value``: the input box's text, synced both ways."""

    _esm = _STATIC / "chatview.js"
    _css = _STATIC / "chatview.css"
    messages = traitlets.List(traitlets.Dict()).tag(sync=True)
    live = traitlets.Dict().tag(sync=True)
    value = traitlets.Unicode("").tag(sync=True)

    def on_send(self, callback: Callable[[str], Any]) -> None:
        """Call ``callback(text)`` when the user presses Enter in the box."""

        def handle(_widget: Any, content: Any, _buffers: Any) -> None:
            if isinstance(content, dict) and content.get("event") == "send":
                callback(str(content.get("text", "")))

        self.on_msg(handle)
