"""ChatPanel: pick a provider (or the whole fallback chain), type, watch tokens stream in.

    >>> from nxs_lab.ui import ChatPanel
    >>> ChatPanel([local, kimi], transcript="runs/chat.jsonl")      # doctest: +SKIP

Streaming runs on a background thread, so the kernel stays free; the panel
shows which provider answered, any failovers on the way, and a context meter
(tokens used of the model's window). It only drives core objects.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from ..client.provider import Provider
from ..context.counting import TokenCounter, counter_for
from ..errors import NxsLabError
from ..resilience.fallback import FallbackChain
from ..tools.transcript import Transcript
from ._base import Panel

__all__ = ["ChatPanel"]

CHAIN = "all, in order (fallback chain)"
# Keys the panel keeps on its messages for display; they are never sent to a server.
_PANEL_ONLY = frozenset({"stopped", "interrupted", "reasoning"})


class ChatPanel(Panel):
    """A chat box over one or more providers. ``messages`` is the conversation so far."""

    def __init__(
        self,
        providers: Provider | FallbackChain | Sequence[Provider],
        *,
        max_tokens: int = 256,
        system: str | None = None,
        transcript: str | None = None,
    ) -> None:
        if isinstance(providers, FallbackChain):
            self.chain: FallbackChain | None = providers
            self._providers = list(providers.providers)
        else:
            self._providers = [providers] if isinstance(providers, Provider) else list(providers)
            self.chain = FallbackChain(self._providers) if len(self._providers) > 1 else None
        if not self._providers:
            raise ValueError("ChatPanel needs at least one provider")
        self.max_tokens = max_tokens
        self.transcript = Transcript.load(transcript) if transcript else None
        self.messages: list[dict[str, Any]] = list(self.transcript.messages) if self.transcript else []
        if system and not self.messages:
            self._append({"role": "system", "content": system})
        self.choice = widgets.Dropdown(description="provider", layout=widgets.Layout(width="420px"))
        self._refresh_choices()
        self.input = widgets.Textarea(
            placeholder="Type a message…", layout=widgets.Layout(width="520px", height="70px")
        )
        self.send_button = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.clear_button = widgets.Button(description="Clear", icon="trash")
        self.conversation = widgets.HTML()
        self.answered_by = widgets.HTML()
        self.meter = widgets.FloatProgress(value=0, min=0, max=1, description="context")
        self.meter_label = widgets.HTML()
        self.widget = widgets.VBox(
            [
                widgets.HTML("<b>Chat</b>"),
                self.choice,
                self.conversation,
                self.input,
                widgets.HBox([self.send_button, self.stop_button, self.clear_button]),
                self.answered_by,
                widgets.HBox([self.meter, self.meter_label]),
            ]
        )
        self.widget.add_class("nxs-chat-panel")
        self._stop = threading.Event()
        self._active: Any = None  # the stream being read, so Stop can close it from the UI thread
        self._partial = self._thinking = ""
        self._counters: dict[str, TokenCounter] = {}
        self.last_result: Any = None
        self.error: BaseException | None = None
        self.send_button.on_click(lambda _b: self.send())
        self.stop_button.on_click(lambda _b: self.stop())
        self.clear_button.on_click(lambda _b: self.clear())
        self._render()

    # -------------------------------------------------------------- providers

    def _refresh_choices(self) -> None:
        options = [p.name for p in self._providers] + ([CHAIN] if self.chain is not None else [])
        self.choice.options = options
        self.choice.value = CHAIN if self.chain is not None else options[0]

    def use(self, provider: Provider) -> None:
        """Add a provider (e.g. from the DiscoveryPanel's ``on_select``) and select it."""
        self._providers = [p for p in self._providers if p.name != provider.name] + [provider]
        self.chain = FallbackChain(self._providers) if len(self._providers) > 1 else None
        self._refresh_choices()
        self.choice.value = provider.name

    @property
    def target(self) -> Provider | FallbackChain:
        if self.choice.value == CHAIN and self.chain is not None:
            return self.chain
        return next(p for p in self._providers if p.name == self.choice.value)

    # ---------------------------------------------------------------- actions

    def _append(self, message: dict[str, Any]) -> None:
        if self.transcript is not None:
            self.transcript.append(message)
        self.messages.append(message)

    def send(self, text: str | None = None, wait: bool = False) -> None:
        """Send the box's text (or ``text``); the answer streams in on a background thread."""
        if self.busy:
            self.answered_by.value = (
                "<span style='color:#b00020'>still answering: press Stop or wait, then send again "
                "(your message is still in the box)</span>"
            )
            return
        content = (text if text is not None else self.input.value).strip()
        if not content:
            self.answered_by.value = "<span style='color:#b00020'>type a message first</span>"
            return
        self.input.value = ""
        self._append({"role": "user", "content": content})
        self._stop.clear()
        self.error = None
        self.send_button.disabled, self.stop_button.disabled = True, False
        self._background(self._stream, self.target, wait=wait)

    def stop(self) -> None:
        """Stop the answer now: the stream is closed at once, even while the server says nothing."""
        self._stop.set()
        stream = self._active
        if stream is not None:
            stream.stop()

    def clear(self) -> None:
        self.messages = [m for m in self.messages if m["role"] == "system"]
        self._partial = self._thinking = ""
        self.answered_by.value = ""
        self._render()

    def _stream(self, target: Provider | FallbackChain) -> None:
        self._partial = self._thinking = ""
        last_paint = 0.0
        stopped = False
        try:
            wire = [{k: v for k, v in m.items() if k not in _PANEL_ONLY} for m in self.messages]
            stream = self._active = target.stream(wire, max_tokens=self.max_tokens)
            if self._stop.is_set():  # Stop came before the stream existed
                stream.stop()
            for delta in stream.deltas():
                if delta.reasoning:
                    self._thinking += delta.text
                else:
                    self._partial += delta.text
                if time.monotonic() - last_paint > 0.05:  # repaint at most 20 times a second
                    self._render()
                    last_paint = time.monotonic()
            stopped = self._stop.is_set()
        except NxsLabError as exc:
            self.error = exc
            partial = getattr(exc, "partial_text", "") or self._partial
            thinking = getattr(exc, "partial_reasoning", "") or self._thinking
            if partial or thinking:
                self._append({"role": "assistant", "content": partial, "interrupted": True, "reasoning": thinking})
            self.answered_by.value = (
                f"<span style='color:#b00020'>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</span>"
            )
        else:
            result = getattr(stream, "result", None)
            self.last_result = result
            if stopped:
                self._append(
                    {"role": "assistant", "content": self._partial, "stopped": True, "reasoning": self._thinking}
                )
                self.answered_by.value = "stopped: the partial answer is kept and marked as stopped"
            elif result is not None:
                self._append({**result.message(), "reasoning": result.reasoning})
                self.answered_by.value = self._describe(result)
        finally:
            self._active = None
            self._partial = self._thinking = ""
            self._render()
            if self.error is None and not stopped:
                # Only after an answer: a provider that just failed is not asked again (for its window) from here.
                self._update_meter(target)
            self.send_button.disabled, self.stop_button.disabled = False, True

    @staticmethod
    def _describe(result: Any) -> str:
        hops = [a for a in result.attempts if a.provider != result.provider]
        via = "".join(
            f" · {html.escape(a.provider)}: {html.escape(a.outcome.value)}"
            + (f" ({html.escape(a.error)})" if a.error else "")
            for a in hops
        )
        cut = (
            f" <span style='color:#b00020'>⚠ the server cut the prompt: it counted {result.usage.prompt_tokens} of "
            f"~{result.prompt_tokens_sent} tokens sent (its window is smaller than it says)</span>"
            if result.prompt_truncated
            else ""
        )
        return (
            f"answered by <b>{html.escape(result.provider)}</b> ({html.escape(result.model)}) in "
            f"{result.latency_s:.2f} s" + (f"; failovers:{via}" if hops else "") + cut
        )

    def _update_meter(self, target: Provider | FallbackChain) -> None:
        provider = self._providers[0] if isinstance(target, FallbackChain) else target
        if self.last_result is not None and isinstance(target, FallbackChain):
            provider = next((p for p in self._providers if p.name == self.last_result.provider), provider)
        try:
            window, _ = provider.context_window_info()
            counter = self._counters.get(provider.name) or counter_for(provider, calibrate=False)
        except NxsLabError as exc:
            self.meter_label.value = f"context: unknown ({html.escape(type(exc).__name__)})"
            return
        self._counters[provider.name] = counter
        used = counter.count_messages(self.messages)
        if window:
            self.meter.max = window
            self.meter.value = min(used.tokens, window)
            self.meter_label.value = f"{used.tokens} / {window} tokens ({html.escape(used.method.value)})"
        else:
            self.meter_label.value = f"{used.tokens} tokens; window unknown"

    def _render(self) -> None:
        parts = []
        for m in self.messages:
            who = m["role"]
            text = html.escape(str(m.get("content") or "")).replace("\n", "<br>")
            mark = " <i>(stopped)</i>" if m.get("stopped") else " <i>(interrupted)</i>" if m.get("interrupted") else ""
            thought = _thinking_html(m.get("reasoning") or "")
            parts.append(f"<div class='nxs-msg nxs-{who}'><b>{who}</b>: {thought}{text}{mark}</div>")
        if self._partial or self._thinking:
            cursor = "▌" if self._partial else ""
            parts.append(
                f"<div class='nxs-msg nxs-assistant nxs-streaming'><b>assistant</b>: "
                f"{_thinking_html(self._thinking, live=not self._partial)}{html.escape(self._partial)}{cursor}</div>"
            )
        self.conversation.value = "".join(parts) or "<i>no messages yet</i>"


def _thinking_html(thinking: str, live: bool = False) -> str:
    """A reasoning model's thinking, collapsed under a summary that says how much there is (open it to read)."""
    if not thinking:
        return ""
    label = "thinking…" if live else "thought"
    return (
        f"<details class='nxs-thinking'><summary><i>{label} ({len(thinking.split())} words)</i></summary>"
        f"<div style='color:#666;white-space:pre-wrap'>{html.escape(thinking)}</div></details>"
    )
